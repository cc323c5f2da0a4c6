/**
 * The CLI's top: finds the command, parses its flags, runs it, and turns every error into one
 * line on stderr and its exit code — handled here, once.
 *
 * Exit codes: 0 success, 1 failure, 2 usage error, 3 secret not found, 4 vault unreachable.
 */
import { parseArgs } from 'node:util'
import type { CommandContext, CommandInput, OptionSpec, ProcessIO } from './context.ts'
import { UsageError } from './errors.ts'
import { createOutput } from './output.ts'
import { COMMANDS } from './registry.ts'

const GLOBAL_OPTIONS: Readonly<Record<string, OptionSpec>> = {
  json: { type: 'boolean' },
  home: { type: 'string' },
  'database-url': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean', short: 'v' },
}

const GLOBAL_HELP = `Usage: keywarden <command> [options]

Keeps your secrets in one encrypted vault and hands them to your tools and agents.
With no configuration it uses the embedded vault in ~/.keywarden.

Global options:
  --json               machine-readable output
  --home DIR           the embedded vault's folder (default: $KEYWARDEN_HOME or ~/.keywarden)
  --database-url URL   use this PostgreSQL instead (default: $KEYWARDEN_DATABASE_URL)
  -h, --help           help for keywarden or a command
  -v, --version        print the version

Exit codes: 0 success, 1 failure, 2 usage error, 3 secret not found, 4 vault unreachable.
Set KEYWARDEN_DEBUG=1 for stack traces.`

/** Runs the CLI with `argv` (without `node` and the script); resolves with the exit code. */
export async function main(argv: readonly string[], io: ProcessIO): Promise<number> {
  const dash = argv.indexOf('--')
  const args = dash === -1 ? [...argv] : argv.slice(0, dash)
  const passthrough = dash === -1 ? [] : argv.slice(dash + 1)
  const commandIndex = findCommand(args)
  const name = commandIndex === -1 ? undefined : args[commandIndex]
  const rest = commandIndex === -1 ? args : args.filter((_, index) => index !== commandIndex)
  const json = rest.includes('--json')
  const out = createOutput(io, { json })
  const code = await execute(name, rest, passthrough, io, out)
  return code === 0 && out.failed ? 1 : code
}

/** Runs the command `name` (or the global help and version); resolves with the exit code. */
async function execute(
  name: string | undefined,
  rest: string[],
  passthrough: string[],
  io: ProcessIO,
  out: CommandContext['out'],
): Promise<number> {
  let close: (() => Promise<void>) | undefined
  try {
    if (name === undefined || name === 'help') {
      const topic = name === 'help' ? rest.find((arg) => !arg.startsWith('-')) : undefined
      if (topic !== undefined) return await printCommandHelp(topic, out.line)
      if (rest.includes('--version') || rest.includes('-v')) {
        out.line(await readVersion())
        return 0
      }
      if (
        name === undefined &&
        !rest.includes('--help') &&
        !rest.includes('-h') &&
        rest.length > 0
      ) {
        const first = rest[0] ?? ''
        if (first === '--home' || first === '--database-url') {
          throw new UsageError(
            rest.length === 1
              ? `${first} needs a value: ${first} <value> <command>; see keywarden --help`
              : `no command after ${first} <value>; see keywarden --help`,
          )
        }
        throw new UsageError(`unknown option ${shown(first)}; see keywarden --help`)
      }
      out.line(globalHelp())
      return 0
    }
    const entry = COMMANDS[name]
    if (!entry) throw new UsageError(`unknown command ${shown(name)}; see keywarden --help`)
    const command = await entry.load()
    const input = parseCommandLine(
      name,
      rest,
      { ...GLOBAL_OPTIONS, ...command.options },
      passthrough,
    )
    if (input.values.help === true) {
      out.line(command.help)
      return 0
    }
    const context = createContext(io, out, input)
    close = context.close
    return (await command.run(context.context, input)) ?? 0
  } catch (error) {
    return report(error, io)
  } finally {
    if (close) {
      try {
        await close()
      } catch (error) {
        report(error, io)
      }
    }
  }
}

/** The first argument that is neither a flag nor the value of a global string flag. */
function findCommand(args: readonly string[]): number {
  for (let index = 0; index < args.length; index++) {
    const arg = args[index] ?? ''
    if (arg === '--home' || arg === '--database-url') {
      index++
    } else if (!arg.startsWith('-')) {
      return index
    }
  }
  return -1
}

function parseCommandLine(
  name: string,
  args: string[],
  options: Record<string, OptionSpec>,
  passthrough: string[],
): CommandInput {
  try {
    const { values, positionals } = parseArgs({
      args,
      options,
      strict: true,
      allowPositionals: true,
    })
    return { values, positionals, passthrough }
  } catch (error) {
    throw new UsageError(`${usageMessage(error)}; see keywarden ${name} --help`)
  }
}

/**
 * parseArgs' error as one line saying what to type. Its own text runs to three lines, and
 * suggests `--days=-1` for a value that starts with a dash by quoting the user's argument.
 */
function usageMessage(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error)
  const option = /'(?:-[A-Za-z], )?(--?[A-Za-z][A-Za-z0-9-]*)/.exec(text)?.[1]
  if (option !== undefined && text.includes('argument missing')) {
    return `${shown(option)} needs a value: ${shown(option)} <value>`
  }
  if (option !== undefined && text.includes('argument is ambiguous')) {
    return `${shown(option)} needs a value; for one that starts with "-", write ${shown(option)}=<value>`
  }
  // Otherwise the first sentence of the first line is the useful part.
  const first = (text.split('\n')[0] ?? '').split('. ')[0] ?? ''
  const quiet = first.replace(/'(-[^']*)'/g, (_, flag: string) => `'${shown(flag)}'`)
  return `${quiet.charAt(0).toLowerCase()}${quiet.slice(1)}`
}

function createContext(io: ProcessIO, out: CommandContext['out'], input: CommandInput) {
  const env = { ...io.env }
  if (typeof input.values.home === 'string') {
    env.KEYWARDEN_HOME = input.values.home
    // An explicit home means the embedded vault, whatever else the environment says.
    env.KEYWARDEN_STORE = 'embedded'
  }
  if (typeof input.values['database-url'] === 'string') {
    env.KEYWARDEN_DATABASE_URL = input.values['database-url']
    env.KEYWARDEN_STORE = 'postgres'
  }
  let opened: Promise<import('@keywarden/core').VaultClient> | undefined
  const context: CommandContext = {
    io,
    out,
    env,
    client(options) {
      opened ??= import('./vault.ts').then(({ openVaultClient }) =>
        openVaultClient(env, out, options),
      )
      return opened
    },
  }
  return {
    context,
    async close() {
      const client = await opened?.catch(() => undefined)
      // Audit events wait for a vault that is down; a command line should not wait long for
      // them. What cannot be written in a second is counted as dropped by the client.
      await client?.close({ timeoutMs: 1_000 })
    },
  }
}

async function printCommandHelp(topic: string, line: (text: string) => void): Promise<number> {
  const entry = COMMANDS[topic]
  if (!entry) throw new UsageError(`unknown command ${shown(topic)}; see keywarden --help`)
  line((await entry.load()).help)
  return 0
}

function globalHelp(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((name) => name.length))
  const commands = Object.entries(COMMANDS)
    .map(([name, entry]) => `  ${name.padEnd(width)}  ${entry.summary}`)
    .join('\n')
  return GLOBAL_HELP.replace('\n\nGlobal options:', `\n\nCommands:\n${commands}\n\nGlobal options:`)
}

async function readVersion(): Promise<string> {
  const { readFile } = await import('node:fs/promises')
  const packageJson = JSON.parse(
    await readFile(new URL('../package.json', import.meta.url), 'utf8'),
  ) as { version: string }
  return packageJson.version
}

/**
 * An unknown command or option as the error shows it. Mistyped words are echoed; anything
 * longer or stranger is described by its length, because a token pasted into the wrong place
 * (`keywarden ghp_...`) must not be copied into a terminal log or CI output.
 */
function shown(token: string): string {
  return /^-{0,2}[A-Za-z][A-Za-z0-9_-]{0,31}( <value>)?$/.test(token)
    ? token
    : `(${token.length} characters, not shown)`
}

/** One line on stderr; the stack only with KEYWARDEN_DEBUG=1. Returns the exit code. */
function report(error: unknown, io: ProcessIO): number {
  const exitCode =
    typeof error === 'object' &&
    error !== null &&
    'exitCode' in error &&
    typeof error.exitCode === 'number'
      ? error.exitCode
      : 1
  const message = error instanceof Error ? error.message : String(error)
  // The database's wording names its setting; say which variable of ours provides it (the
  // embedded vault's own message already says how to restore its key).
  const hint =
    typeof error === 'object' &&
    error !== null &&
    'code' in error &&
    error.code === 'ROOT_KEY_MISSING' &&
    !message.includes('KEYWARDEN_ROOT_KEY')
      ? ' (set KEYWARDEN_ROOT_KEY to the vault root key, 64 hex characters, or KEYWARDEN_ROOT_KEY_FILE to a 0600 file holding it)'
      : ''
  io.stderr.write(`keywarden: ${message}${hint}\n`)
  if (io.env.KEYWARDEN_DEBUG === '1' && error instanceof Error && error.stack) {
    io.stderr.write(`${error.stack}\n`)
  }
  return exitCode
}
