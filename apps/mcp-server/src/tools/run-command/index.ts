/**
 * `run_command`: runs an allowed executable with secrets in its environment, masked in its
 * output. Offered only when the host configured allowed commands; the checks and the process
 * handling live in ../../run-command.
 * @module
 */
import { OPEN_WORLD_ACTION } from '../../results/index.ts'
import {
  runCommand,
  runCommandInput,
  runCommandLimits,
  runCommandOutput,
} from '../../run-command/index.ts'
import { defineTool, type ToolEntry } from '../index.ts'

/** The `run_command` tool. */
export const runCommandTool: ToolEntry = {
  name: 'run_command',
  register(context, options) {
    if (!options.runCommand || options.runCommand.allowedCommands.length === 0) return
    const limits = runCommandLimits(options.runCommand)
    defineTool({
      name: 'run_command',
      title: 'Run a command with secrets',
      description: `Runs one of the executables the user allowed (${limits.allowedCommands.join(', ')}) without a shell, with the named secrets in its environment. A secret is injected only into executables its allowed_commands list (see get_secret_metadata; the user sets them with keywarden edit NAME --allow-command CMD). Executables that run code from their arguments (shells, interpreters, git, env, find...) are refused unless the user allowed them as unsafe. Every injected value is masked as [REDACTED:NAME] in stdout and stderr. Ends the process after ${limits.timeoutMs} ms.`,
      inputSchema: runCommandInput,
      outputSchema: runCommandOutput,
      annotations: OPEN_WORLD_ACTION,
      handler: ({ client, log }, input) => runCommand(client, log, limits, input),
    }).register(context, options)
  },
}
