/**
 * `keywarden run -- CMD`: runs a command with secrets in its environment and, by default, every
 * injected value masked in its output.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { constants } from 'node:os'
import type { Readable } from 'node:stream'
import { StringDecoder } from 'node:string_decoder'
import {
  createStreamRedactor,
  environmentVariableFor,
  KeywardenError,
  type NamedSecret,
  type VaultClient,
  withoutVaultAccess,
} from '@keywarden/core'
import type { CommandContext, CommandModule } from '../context.ts'
import { UsageError } from '../errors.ts'

/** Flags beside the global ones. */
export const options: CommandModule['options'] = {
  only: { type: 'string', multiple: true },
  env: { type: 'string', multiple: true },
  'no-mask': { type: 'boolean' },
}

/** The `--help` text. */
export const help = `Usage: keywarden run [--only NAME,...] [--env VAR=NAME ...] [--no-mask] -- CMD [ARGS...]

Runs CMD with secrets in its environment: every secret in the vault, or only those named,
each as its name in capitals (github_token -> GITHUB_TOKEN). Values are read from the vault
once, before CMD starts. stdin is passed through; SIGINT, SIGTERM and SIGHUP are forwarded;
keywarden exits with CMD's exit code, or 128 + the signal number when a signal killed it.

CMD does not inherit Keywarden's own configuration: every KEYWARDEN_* variable, the store's
credentials (SUPABASE_SERVICE_ROLE_KEY, SUPABASE_DB_URL, POSTGRES_URL, PGPASSWORD and
PGPASSFILE with a PostgreSQL vault, PGOPTIONS carrying the root key) and any variable holding
a copy of them (a DATABASE_URL that is the vault's) are removed. To give CMD one of those,
store it as a secret and inject it with --env.

By default every injected value is masked in CMD's stdout and stderr as [REDACTED:name], also
when it is split across writes and in its encoded forms (base64 at any alignment or wrapped,
percent-encoded in either case, JSON and HTML escapes, hex and hex dumps, UTF-16). Masking reads
CMD's output through a pipe, so programs that colour only for a terminal see none; use
--no-mask to give CMD the terminal itself.

Options:
  --only NAME,...   inject only these secrets (comma-separated or repeated); a name that is
                    not in the vault is an error (exit 3)
  --env VAR=NAME    also inject secret NAME as VAR (repeatable), e.g. --env GH_TOKEN=github_token
  --no-mask         pass CMD's output through untouched

Examples:
  keywarden run -- npm test
  keywarden run --only github_token -- gh repo list
  keywarden run --only openai_api_key --env OPENAI_KEY=openai_api_key -- python app.py
  keywarden run --no-mask -- vim .env.example`

/** Signals passed on to the child. SIGQUIT too: by default it would kill keywarden alone. */
const FORWARDED_SIGNALS: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT']

// After the child exits, how long its output may stay silent before keywarden stops waiting
// for it: a background process the child left behind can hold the pipes open for ever.
const DRAIN_IDLE_MS = 1_000

/** Runs `keywarden run`; resolves with the exit code. */
export const run: CommandModule['run'] = async (context, { positionals, values, passthrough }) => {
  const [command, ...args] = passthrough
  if (positionals.length > 0) {
    throw new UsageError(
      `run takes the command after --, e.g. keywarden run -- ${positionals.join(' ')}`,
    )
  }
  if (command === undefined || command === '') {
    throw new UsageError('run needs a command after --; see keywarden run --help')
  }
  const only = splitNames(values.only)
  const mappings = parseMappings(values.env)

  // It reads once, before the child starts: no cache for a change notification to evict, so
  // no LISTEN connection held open for the child's whole life.
  const client = await context.client({ changeNotifications: false })
  const secrets = await readSecrets(client, only, mappings)
  // CMD gets the secrets it asked for and nothing of Keywarden's own configuration: no
  // KEYWARDEN_* variable, no database URL, root key or service key that opens the vault.
  const env: NodeJS.ProcessEnv = withoutVaultAccess(context.env)
  for (const { name, value } of secrets.injected) env[environmentVariableFor(name)] = value
  // Explicit mappings last: they win over a default name that happens to be the same variable.
  for (const { variable, name } of mappings) env[variable] = secrets.values.get(name)

  const mask = values['no-mask'] !== true
  const child = spawn(command, args, {
    env,
    stdio: ['inherit', mask ? 'pipe' : 'inherit', mask ? 'pipe' : 'inherit'],
  })
  const exit = exited(child)
  const stopForwarding = forwardSignals(child, isInteractive(context))
  try {
    const output = mask ? pipeOutput(child, context, secrets.all) : undefined
    await started(child, command)
    // The values are in the child's environment now. Close the vault (flushing the audit)
    // while the child runs rather than after: a long-lived child (an MCP server) should not
    // hold a database connection, and main's own close afterwards is then a no-op.
    const closing = client.close().catch((error: unknown) => {
      context.out.note(`keywarden: ${error instanceof Error ? error.message : String(error)}`)
    })
    const status = await exit
    await output?.finished()
    await closing
    return exitCodeOf(status)
  } finally {
    stopForwarding()
  }
}

// ---------------------------------------------------------------------------------------------
// Selecting and reading the secrets
// ---------------------------------------------------------------------------------------------

interface Mapping {
  variable: string
  name: string
}

function splitNames(option: unknown): string[] | undefined {
  if (option === undefined) return undefined
  const list = Array.isArray(option) ? option : [option]
  const names = list
    .flatMap((item) => String(item).split(','))
    .map((name) => name.trim())
    .filter((name) => name.length > 0)
  if (names.length === 0) throw new UsageError('--only needs secret names, e.g. --only a,b')
  return [...new Set(names)]
}

const VARIABLE = /^[A-Za-z_][A-Za-z0-9_]*$/

function parseMappings(option: unknown): Mapping[] {
  if (option === undefined) return []
  const list = Array.isArray(option) ? option : [option]
  return list.map((item) => {
    const text = String(item)
    const equals = text.indexOf('=')
    const variable = text.slice(0, equals)
    const name = text.slice(equals + 1)
    if (equals === -1 || !VARIABLE.test(variable) || name === '') {
      throw new UsageError(
        '--env takes VAR=NAME: an environment variable and a secret name, e.g. --env GH_TOKEN=github_token',
      )
    }
    return { variable, name }
  })
}

interface ReadSecrets {
  /** Injected under their default variable names. */
  injected: NamedSecret[]
  /** Everything read, for masking. */
  all: NamedSecret[]
  values: Map<string, string>
}

/** One listSecrets (without --only) and one getSecrets batch, whatever the number of names. */
async function readSecrets(
  client: VaultClient,
  only: readonly string[] | undefined,
  mappings: readonly Mapping[],
): Promise<ReadSecrets> {
  const selected = only ?? (await client.listSecrets()).map((secret) => secret.name)
  const wanted = [...new Set([...selected, ...mappings.map((mapping) => mapping.name)])]
  const found = wanted.length === 0 ? new Map() : await client.getSecrets(wanted)
  // Names the user asked for must all be there; a secret deleted between the list and the
  // read simply drops out of "all of them".
  const asked = [...new Set([...(only ?? []), ...mappings.map((mapping) => mapping.name)])]
  // A value the client found only in this environment is not in the vault: --only promises
  // exit 3 for that, rather than quietly passing on whatever the shell happens to hold.
  const missing = asked.filter((name) => !found.has(name) || found.get(name)?.source === 'env')
  if (missing.length > 0) {
    throw new KeywardenError(
      'SECRET_NOT_FOUND',
      `${missing.length === 1 ? 'secret' : 'secrets'} not in the vault: ${missing.join(', ')}`,
      missing.length === 1 ? { secretName: missing[0] } : {},
    )
  }
  const values = new Map<string, string>()
  for (const [name, result] of found) values.set(name, result.value)
  const named = (name: string) => {
    const value = values.get(name)
    return value === undefined ? [] : [{ name, value }]
  }
  return {
    injected: selected.flatMap(named),
    all: wanted.flatMap(named),
    values,
  }
}

// ---------------------------------------------------------------------------------------------
// The child process
// ---------------------------------------------------------------------------------------------

/** Exit status for a command that could not be started: 127 not found, 126 not executable. */
class StartError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message)
    this.name = 'StartError'
  }
}

function started(child: ChildProcess, command: string): Promise<void> {
  return new Promise((resolve, reject) => {
    child.once('spawn', () => resolve())
    child.once('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') reject(new StartError(`command not found: ${command}`, 127))
      else if (error.code === 'EACCES') {
        reject(new StartError(`permission denied: ${command}`, 126))
      } else reject(new StartError(`cannot run ${command}: ${error.code ?? error.message}`, 126))
    })
  })
}

interface Exit {
  code: number | null
  signal: NodeJS.Signals | null
}

function exited(child: ChildProcess): Promise<Exit> {
  return new Promise((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }))
  })
}

function exitCodeOf({ code, signal }: Exit): number {
  if (signal !== null) return 128 + (constants.signals[signal] ?? 0)
  return code ?? 1
}

/** Whether a terminal is attached: then Ctrl-C and Ctrl-\ reach the child without our help. */
function isInteractive({ io }: CommandContext): boolean {
  return io.stdin.isTTY === true || io.stdout.isTTY === true || io.stderr.isTTY === true
}

/**
 * Passes signals sent to keywarden on to the child, and keeps them from killing keywarden
 * before the child has finished (its output would be cut off, its exit code lost).
 *
 * On a terminal, the keys' signals (SIGINT, SIGQUIT) go to the whole foreground process group,
 * which includes the child: forwarding them would deliver them twice, and a REPL or a server
 * that treats a second Ctrl-C as "force quit" would misbehave. There they are only swallowed.
 */
function forwardSignals(child: ChildProcess, interactive: boolean): () => void {
  const handlers = FORWARDED_SIGNALS.map((signal) => {
    const fromKeyboard = signal === 'SIGINT' || signal === 'SIGQUIT'
    const handler = () => {
      if (interactive && fromKeyboard) return
      if (child.exitCode === null && child.signalCode === null) child.kill(signal)
    }
    process.on(signal, handler)
    return () => process.removeListener(signal, handler)
  })
  return () => {
    for (const remove of handlers) remove()
  }
}

// ---------------------------------------------------------------------------------------------
// Masked output
// ---------------------------------------------------------------------------------------------

interface PipedOutput {
  /** Call once the child has exited; resolves when both streams are written out or abandoned. */
  finished(): Promise<void>
}

/**
 * Copies the child's stdout and stderr to keywarden's own, each through its own redactor, as
 * the data arrives: only a tail that could be the start of a secret is held back.
 */
function pipeOutput(
  child: ChildProcess,
  context: CommandContext,
  secrets: readonly NamedSecret[],
): PipedOutput {
  // Our reader went away (`keywarden run -- cmd | head`): end the child as a plain pipeline
  // would, with SIGPIPE, rather than with an error about a reset connection.
  const readerGone = () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGPIPE')
  }
  const pumps = [
    pump(child.stdout, context.io.stdout, secrets, readerGone),
    pump(child.stderr, context.io.stderr, secrets, readerGone),
  ]
  let childExited = false
  let timer: NodeJS.Timeout | undefined
  const armIdleTimer = () => {
    if (!childExited) return
    clearTimeout(timer)
    timer = setTimeout(() => {
      // A paused pump is waiting for our own reader (a slow pager), not for the child.
      if (pumps.some((p) => p.paused())) armIdleTimer()
      else for (const p of pumps) p.abandon()
    }, DRAIN_IDLE_MS)
  }
  for (const p of pumps) p.onActivity(armIdleTimer)
  return {
    async finished() {
      childExited = true
      armIdleTimer()
      await Promise.all(pumps.map((p) => p.done))
      clearTimeout(timer)
    },
  }
}

interface Pump {
  done: Promise<void>
  paused(): boolean
  abandon(): void
  onActivity(listener: () => void): void
}

function pump(
  source: Readable | null,
  target: NodeJS.WritableStream,
  secrets: readonly NamedSecret[],
  onReaderGone: () => void,
): Pump {
  if (source === null) {
    return { done: Promise.resolve(), paused: () => false, abandon() {}, onActivity() {} }
  }
  // A StringDecoder keeps a multi-byte character split between two chunks whole; the redactor
  // matches text, so it needs characters, not bytes.
  const decoder = new StringDecoder('utf8')
  const redactor = createStreamRedactor(secrets)
  let waiting = false
  let broken = false
  let activity: () => void = () => {}
  const onTargetError = () => {
    broken = true
    onReaderGone()
    // Stop reading too: a child that ignores SIGPIPE then fails its next write instead.
    source.destroy()
  }
  target.on('error', onTargetError)
  const write = (text: string) => {
    if (text === '' || broken) return
    if (!target.write(text) && !waiting) {
      // Backpressure: a slow reader slows the child instead of filling our memory.
      waiting = true
      source.pause()
      target.once('drain', () => {
        waiting = false
        source.resume()
      })
    }
  }
  source.on('data', (chunk: Buffer) => {
    write(redactor.push(decoder.write(chunk)))
    activity()
  })
  source.on('error', () => {})
  const done = new Promise<void>((resolve) => {
    source.once('close', () => {
      write(redactor.push(decoder.end()))
      write(redactor.flush())
      // The error listener stays: a write just above can still fail asynchronously.
      resolve()
    })
  })
  return {
    done,
    paused: () => waiting,
    abandon: () => source.destroy(),
    onActivity(listener) {
      activity = listener
    },
  }
}
