/**
 * What every command receives: its parsed arguments, the process's streams, the output
 * helpers and a vault client opened on first use.
 */
import type { Environment, VaultClient } from '@keywarden/core'
import type { Output } from './output.ts'

/** An option as `node:util`'s parseArgs takes it. */
export interface OptionSpec {
  type: 'string' | 'boolean'
  short?: string
  multiple?: boolean
}

/** The parsed command line of one command. */
export interface CommandInput {
  positionals: string[]
  values: Record<string, string | boolean | Array<string | boolean> | undefined>
  /** What followed `--` (for `run`). */
  passthrough: string[]
}

/** The process the CLI runs in; tests give their own. */
export interface ProcessIO {
  stdin: NodeJS.ReadableStream & { isTTY?: boolean; setRawMode?: (mode: boolean) => unknown }
  stdout: NodeJS.WritableStream & { isTTY?: boolean }
  stderr: NodeJS.WritableStream & { isTTY?: boolean }
  env: Environment
}

/** Everything a command needs. */
export interface CommandContext {
  io: ProcessIO
  out: Output
  /** The environment with `--home` / `--database-url` applied: what configures the vault. */
  env: Environment
  /**
   * Opens the vault client (once: the first call's options hold); the CLI closes it after the
   * command, flushing the audit.
   */
  client(options?: { changeNotifications?: boolean }): Promise<VaultClient>
}

/** One command, in its own file under commands/. */
export interface CommandModule {
  /** Its options, beside the global ones (`--json`, `--home`, `--database-url`, `--help`). */
  options: Readonly<Record<string, OptionSpec>>
  /** The full `--help` text, with examples. */
  help: string
  run(context: CommandContext, input: CommandInput): Promise<number | undefined>
}
