/**
 * `run_command`: runs an allowed executable with secrets in its environment. Offered only when
 * the host configured allowed commands; the implementation lives in ../../run-command.
 * @module
 */
import { registerRunCommandTool } from '../../run-command/index.ts'
import type { ToolEntry } from '../index.ts'

/** The `run_command` tool. */
export const runCommandTool: ToolEntry = {
  name: 'run_command',
  register({ server, client, log }, options) {
    if (!options.runCommand || options.runCommand.allowedCommands.length === 0) return
    registerRunCommandTool(server, client, log, options.runCommand)
  },
}
