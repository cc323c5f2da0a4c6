/**
 * `keywarden mcp-config`: the Claude Desktop entry for `keywarden-mcp`, printed or merged into
 * `claude_desktop_config.json`, and with `--wrap` the other servers' plaintext tokens moved out
 * of that file into the vault, their entries rewritten to run through `keywarden run`.
 */
import { access, mkdir, readFile, realpath, stat } from 'node:fs/promises'
import { homedir } from 'node:os'
import { basename, dirname, join, posix, resolve, win32 } from 'node:path'
import { fileURLToPath } from 'node:url'
import {
  type Environment,
  KeywardenError,
  resolveStoreConfig,
  SECRET_NAME_PATTERN,
  type SecretType,
  type VaultClient,
  validateSecretValue,
} from '@keywarden/core'
import { parseAllowedCommands, runsArbitraryCode } from '@keywarden/mcp-server'
import type { CommandContext, CommandModule } from '../context.ts'
import { UsageError } from '../errors.ts'
import { replaceAtomically, writeBackup } from '../files.ts'
import { tableCell } from '../format.ts'
import { guessSecretType, looksLikeSecret, secretNameFor } from '../import/parse.ts'
import { confirm } from '../input.ts'

/** Flags beside the global ones. */
export const options: CommandModule['options'] = {
  write: { type: 'boolean' },
  wrap: { type: 'boolean' },
  config: { type: 'string' },
  yes: { type: 'boolean', short: 'y' },
  'allow-command': { type: 'string', multiple: true },
  'i-understand-this-reveals': { type: 'boolean' },
}

/** The `--help` text. */
export const help = `Usage: keywarden mcp-config [--write] [--wrap [--yes]] [--allow-command CMD ... [--i-understand-this-reveals]]
                            [--config PATH] [--json]

Prints the Claude Desktop "mcpServers" entry for keywarden-mcp, the Keywarden MCP server.
The entry starts keywarden-mcp with the node that runs this CLI (Claude Desktop's PATH often
lacks node) and carries only Keywarden's non-secret configuration: KEYWARDEN_HOME,
KEYWARDEN_STORE, a database URL without a password, SUPABASE_URL. Claude Desktop gives the
server nothing but this entry, so the secrets go into files instead: with --write (or
--wrap), KEYWARDEN_ROOT_KEY, the database URL's password and SUPABASE_SERVICE_ROLE_KEY are
each written to a 0600 file in the vault home (mcp-root.key, mcp-database.password,
mcp-supabase-service-role.key; reused when unchanged), and the entry names the file:
KEYWARDEN_ROOT_KEY_FILE, KEYWARDEN_DATABASE_PASSWORD_FILE, SUPABASE_SERVICE_ROLE_KEY_FILE.
Printed without --write, the entry leaves them out and a note on stderr says which.

--write merges the entry into claude_desktop_config.json, creating the file if needed; every
other key and server stays as it was. --wrap moves the plaintext tokens out of the other
servers' "env" into the vault (names that look like secrets, as keywarden import decides:
GITHUB_PERSONAL_ACCESS_TOKEN -> github_personal_access_token) and rewrites each such server to
run through keywarden run --only ... --env VAR=name -- <its command>, so the file holds no
secret afterwards. Values are read back from the vault before the file is rewritten. A secret
the vault already has with a different value is not overwritten: that server is left as it
was (exit 1) until you resolve it. Servers already wrapped are left alone, so --wrap can run
again. --wrap rewrites the file itself; it adds the keywarden server only with --write too.
Before a rewrite the original is copied to FILE.backup (FILE.backup.1, ... when one exists),
and the new file replaces it atomically. Values are never printed.

The file: ~/Library/Application Support/Claude/claude_desktop_config.json on macOS,
%APPDATA%\\Claude\\claude_desktop_config.json on Windows, ~/.config/Claude/... on Linux.

Options:
  --write         merge the keywarden server into the file (a backup first)
  --wrap          move the other servers' tokens into the vault and wrap them with
                  keywarden run; asks first on a terminal
  -y, --yes       do not ask (needed with --wrap when stdin is not a terminal)
  --allow-command CMD
                  let the model run CMD through keywarden-mcp's run_command (repeatable or
                  comma-separated: a bare name found on PATH, or an absolute path); written
                  to the entry as KEYWARDEN_MCP_ALLOWED_COMMANDS. A secret still goes only
                  into executables its own allowed_commands lists (keywarden set NAME
                  --allow-command CMD)
  --i-understand-this-reveals
                  needed for an executable that runs code from its arguments or config
                  (sh, bash, node, python, git, gh, env, find, xargs, make, npm, ssh, awk,
                  sed...): the model can make it print any secret given to it, so this is
                  the same as revealing those secrets. Written as KEYWARDEN_MCP_UNSAFE_COMMANDS
  --config PATH   use this file instead of Claude Desktop's
  --json          {"file", "written", "backup", "mcpServers", "keywarden", "omitted",
                  "wrapped", "alreadyWrapped", "refused"}

Examples:
  keywarden mcp-config
  keywarden mcp-config --write
  keywarden mcp-config --write --wrap
  keywarden mcp-config --write --allow-command terraform,doctl
  keywarden mcp-config --write --allow-command git --i-understand-this-reveals
  keywarden mcp-config --wrap --yes --config ./claude_desktop_config.json`

/** The key of Keywarden's own server in `mcpServers`. */
const SERVER_NAME = 'keywarden'

type Json = null | boolean | number | string | Json[] | JsonObject
type JsonObject = { [key: string]: Json }

/** A launcher: the command and the arguments that come before anything of its own. */
interface Launcher {
  command: string
  args: string[]
}

/** Runs `keywarden mcp-config`; resolves with the exit code. */
export const run: CommandModule['run'] = async (context, { positionals, values }) => {
  if (positionals.length > 0) {
    throw new UsageError('mcp-config takes no arguments; see keywarden mcp-config --help')
  }
  const { io, out } = context
  const write = values.write === true
  const wrap = values.wrap === true
  const yes = values.yes === true
  if (values.config === '') throw new UsageError('--config needs a file path')
  const file = resolve(
    typeof values.config === 'string'
      ? values.config
      : claudeConfigPath(process.platform, context.env, context.env.HOME || homedir()),
  )
  if (wrap && !yes && !io.stdin.isTTY) {
    // Nobody to ask: refusing beats moving secrets without consent or hanging on a pipe.
    throw new UsageError(
      `--wrap asks before moving secrets out of ${file} and stdin is not a terminal; pass --yes to go ahead without asking`,
    )
  }

  const configuration = await keywardenEnvironment(context.env, write || wrap)
  const allowedCommands = allowedCommandsOption(values['allow-command'])
  const unsafeCommands = unsafeCommandsOf(
    allowedCommands,
    values['i-understand-this-reveals'] === true,
  )
  const entry: JsonObject = {
    ...(await mcpServerLauncher()),
    env: {
      ...configuration.env,
      ...(allowedCommands === undefined
        ? {}
        : { KEYWARDEN_MCP_ALLOWED_COMMANDS: allowedCommands.join(',') }),
      ...(unsafeCommands.length === 0
        ? {}
        : { KEYWARDEN_MCP_UNSAFE_COMMANDS: unsafeCommands.join(',') }),
    },
  }
  const snippet = { mcpServers: { [SERVER_NAME]: entry } }

  if (!write && !wrap) {
    if (out.json) {
      out.printJson({
        file,
        written: false,
        backup: null,
        ...snippet,
        keywarden: 'printed',
        omitted: configuration.omitted,
        wrapped: [],
        alreadyWrapped: [],
        refused: [],
      })
    } else {
      out.printJson(snippet)
      // Only for a person: piped into a file or jq, stdout stays pure JSON and stderr quiet.
      if (io.stdout.isTTY) {
        out.note(`Add it to ${file}, or run keywarden mcp-config --write to do that.`)
      }
    }
    noteOmitted(context, configuration)
    return 0
  }

  const source = await readConfig(file, wrap && !write)
  const config = source.config
  const servers = serversOf(config, file)
  const before = JSON.stringify(config)

  let keywarden: 'added' | 'updated' | 'unchanged' | null = null
  if (write) {
    const existing = servers[SERVER_NAME]
    keywarden =
      existing === undefined
        ? 'added'
        : JSON.stringify(existing) === JSON.stringify(entry)
          ? 'unchanged'
          : 'updated'
    servers[SERVER_NAME] = entry
  }

  let wrapped: Wrapped[] = []
  let plan: WrapPlan = { candidates: [], alreadyWrapped: [], refused: [] }
  if (wrap) {
    plan = planWrap(servers)
    if (plan.candidates.length > 0) {
      const client = await context.client()
      await compareWithVault(client, plan)
      if (plan.candidates.length > 0) {
        if (!out.json) showPlan(context, file, plan.candidates)
        if (!yes) {
          const secrets = new Set(plan.candidates.flatMap((c) => c.moved.map((m) => m.secret)))
          const question = `Move ${count(secrets.size, 'secret')} into the vault and rewrite ${count(plan.candidates.length, 'server')} in ${file} (a backup is kept)?`
          if (!(await confirm(io, question))) {
            out.note('keywarden: nothing was changed')
            return 1
          }
        }
        await storeSecrets(client, plan.candidates, file)
        await verifyStored(client, plan.candidates, file)
        const launcher = cliLauncher()
        wrapped = plan.candidates.map((candidate) => {
          servers[candidate.server] = wrapEntry(candidate, launcher, configuration.env)
          return {
            server: candidate.server,
            variables: candidate.moved.map(({ variable, secret, status }) => ({
              variable,
              secret,
              status,
            })),
          }
        })
      }
    }
  }

  const changed = JSON.stringify(config) !== before || !source.existed
  const backup = changed ? await writeConfig(file, source, config) : null

  if (out.json) {
    out.printJson({
      file,
      written: changed,
      backup,
      ...snippet,
      keywarden,
      omitted: configuration.omitted,
      wrapped,
      alreadyWrapped: plan.alreadyWrapped,
      refused: plan.refused,
    })
  } else {
    report(context, file, {
      changed,
      backup,
      keywarden,
      wrap,
      wrapped,
      plan,
      created: !source.existed,
      files: configuration.files,
    })
  }
  // Said only once the configuration went somewhere: an error stays one line.
  if (keywarden !== null || wrapped.length > 0) noteOmitted(context, configuration)
  for (const refusal of plan.refused) {
    out.note(`keywarden: left server ${quoteName(refusal.server)} as it was: ${refusal.reason}`)
  }
  // Exit 0 means the file holds no secret-looking env value any more (as far as --wrap goes).
  return plan.refused.length > 0 ? 1 : 0
}

// ---------------------------------------------------------------------------------------------
// Where the file is, and what Keywarden's entry holds
// ---------------------------------------------------------------------------------------------

/**
 * Claude Desktop's config file on `platform`: under Application Support on macOS, `%APPDATA%`
 * on Windows, and `$XDG_CONFIG_HOME` (default `~/.config`) elsewhere, as Electron places it.
 */
export function claudeConfigPath(
  platform: NodeJS.Platform,
  env: Environment,
  home: string,
): string {
  if (platform === 'win32') {
    const appData = env.APPDATA || win32.join(home, 'AppData', 'Roaming')
    return win32.join(appData, 'Claude', 'claude_desktop_config.json')
  }
  if (platform === 'darwin') {
    return posix.join(
      home,
      'Library',
      'Application Support',
      'Claude',
      'claude_desktop_config.json',
    )
  }
  const configHome = env.XDG_CONFIG_HOME || posix.join(home, '.config')
  return posix.join(configHome, 'Claude', 'claude_desktop_config.json')
}

/** The Keywarden configuration a server entry may carry, and the variables left out. */
interface KeywardenEnvironment {
  env: Record<string, string>
  /** Set here but secret, so not written: the server must get them from its environment. */
  omitted: string[]
  /** Some of `omitted` would go into 0600 files with --write. */
  storable: boolean
  /** The secrets placed in 0600 files, by where they were set. */
  files: { source: string; path: string }[]
}

/** A secret of the configuration that the entry names by a 0600 file instead. */
interface SecretForFile {
  /** The entry's variable naming the file, e.g. `KEYWARDEN_ROOT_KEY_FILE`. */
  variable: string
  /** Where the secret was set, e.g. `KEYWARDEN_ROOT_KEY`. */
  source: string
  value: string
  /** The file's name in the vault home. */
  file: string
}

/**
 * The store configuration in `env` (with `--home` / `--database-url` applied), as environment
 * variables for a server that Claude Desktop starts — with a different working directory and
 * none of the shell's environment, only the entry's. Secrets never go into the entry: with
 * `store` (for --write and --wrap) each goes into a 0600 file in the vault home and the entry
 * names the file (`*_FILE`); without it they are left out, and said so.
 */
async function keywardenEnvironment(
  env: Environment,
  store: boolean,
): Promise<KeywardenEnvironment> {
  const config = resolveStoreConfig(env)
  const result: Record<string, string> = {}
  const omitted: string[] = []
  const secrets: SecretForFile[] = []
  // Named whenever it is not the default: with a database URL left out for its password, the
  // server then fails saying what it misses instead of quietly opening an empty embedded vault.
  if (config.kind !== 'embedded' || setting(env, 'KEYWARDEN_STORE') !== undefined) {
    result.KEYWARDEN_STORE = config.kind
  }
  switch (config.kind) {
    case 'embedded':
      // Absolute: Claude Desktop starts servers in a folder of its own choosing.
      if (config.home !== undefined) result.KEYWARDEN_HOME = resolve(config.home)
      if (config.agent === false) result.KEYWARDEN_AGENT = '0'
      break
    case 'postgres': {
      const url = new URL(config.connectionString)
      if (hasQueryCredentials(url)) {
        // Parameters such as sslpassword= have no file variable: the whole URL stays out.
        omitted.push(config.variable)
        break
      }
      if (url.password !== '') {
        secrets.push({
          variable: 'KEYWARDEN_DATABASE_PASSWORD_FILE',
          source: config.variable,
          value: decodeURIComponent(url.password),
          file: 'mcp-database.password',
        })
        url.password = ''
        result[config.variable] = url.toString()
      } else {
        result[config.variable] = config.connectionString
        if (config.passwordFile !== undefined) {
          result.KEYWARDEN_DATABASE_PASSWORD_FILE = resolve(config.passwordFile)
        }
      }
      break
    }
    case 'supabase':
      result.SUPABASE_URL = config.url
      if (config.serviceRoleKeyFile !== undefined) {
        result.SUPABASE_SERVICE_ROLE_KEY_FILE = resolve(config.serviceRoleKeyFile)
      } else {
        secrets.push({
          variable: 'SUPABASE_SERVICE_ROLE_KEY_FILE',
          source: 'SUPABASE_SERVICE_ROLE_KEY',
          value: config.serviceRoleKey ?? '',
          file: 'mcp-supabase-service-role.key',
        })
      }
      break
  }
  if (config.kind !== 'supabase') {
    if (config.rootKeyFile !== undefined) {
      result.KEYWARDEN_ROOT_KEY_FILE = resolve(config.rootKeyFile)
    } else if (config.rootKey !== undefined) {
      secrets.push({
        variable: 'KEYWARDEN_ROOT_KEY_FILE',
        source: 'KEYWARDEN_ROOT_KEY',
        value: config.rootKey,
        file: 'mcp-root.key',
      })
    }
  } else if (setting(env, 'KEYWARDEN_ROOT_KEY') !== undefined) {
    omitted.push('KEYWARDEN_ROOT_KEY')
  }
  if (!store) {
    for (const secret of secrets) {
      // A URL whose password is left out would only fail to log in: the server says more
      // clearly what it misses without any URL.
      if (secret.variable === 'KEYWARDEN_DATABASE_PASSWORD_FILE') delete result[secret.source]
      omitted.push(secret.source)
    }
    return { env: result, omitted, storable: secrets.length > 0, files: [] }
  }
  if (secrets.length > 0) {
    const home = resolve(
      setting(env, 'KEYWARDEN_HOME') ?? join(env.HOME || homedir(), '.keywarden'),
    )
    for (const secret of secrets) result[secret.variable] = await secretFile(home, secret)
  }
  const files = secrets.map((secret) => ({
    source:
      secret.variable === 'KEYWARDEN_DATABASE_PASSWORD_FILE'
        ? `The password of ${secret.source}`
        : secret.source,
    path: result[secret.variable] ?? '',
  }))
  return { env: result, omitted, storable: false, files }
}

/**
 * Puts `secret` in its 0600 file in `home` (created 0700 and trust-checked like the vault),
 * reusing the file when it already holds the value and passes the same check. Returns the path.
 */
async function secretFile(home: string, secret: SecretForFile): Promise<string> {
  // Node-only and heavy (PGlite comes along): loaded only when there is a secret to place.
  const { checkPrivateFile, checkVaultHome } = await import('@keywarden/core/node')
  await checkVaultHome(home, { create: true })
  const path = join(home, secret.file)
  const content = Buffer.from(`${secret.value}\n`)
  const current = await readFile(path).catch(() => undefined)
  const trusted =
    current !== undefined &&
    (await checkPrivateFile(path, secret.variable).then(
      () => true,
      () => false,
    ))
  if (!trusted || !current.equals(content)) await replaceAtomically(path, content, 0o600)
  return path
}

function noteOmitted({ out }: CommandContext, { omitted, storable }: KeywardenEnvironment) {
  if (omitted.length === 0) return
  const one = omitted.length === 1
  const fix = storable
    ? `; keywarden mcp-config --write puts ${one ? 'it' : 'them'} in 0600 files in the vault home and the entry names the files`
    : `; the server reads ${one ? 'it' : 'them'} from its environment`
  out.note(
    `keywarden: ${omitted.join(', ')} ${one ? 'holds a secret' : 'hold secrets'} and ${one ? 'is' : 'are'} not written to the config${fix}`,
  )
}

/** `--allow-command` values, checked by keywarden-mcp's own parser so both agree. */
function allowedCommandsOption(option: unknown): string[] | undefined {
  if (option === undefined) return undefined
  const list = (Array.isArray(option) ? option : [option]).map(String)
  let commands: string[]
  try {
    commands = parseAllowedCommands(list.join(','))
  } catch (error) {
    throw new UsageError(
      error instanceof Error ? `--allow-command: ${error.message}` : String(error),
    )
  }
  if (commands.length === 0) throw new UsageError('--allow-command needs a command, e.g. gh')
  return commands
}

/**
 * The allowed commands that run code from their arguments: refused unless the user said they
 * understand that this equals revealing, and then written out as such.
 */
function unsafeCommandsOf(commands: readonly string[] | undefined, understood: boolean): string[] {
  const unsafe = (commands ?? []).filter(runsArbitraryCode)
  if (unsafe.length > 0 && !understood) {
    throw new UsageError(
      `--allow-command ${unsafe.join(', ')}: ${unsafe.length === 1 ? 'it runs' : 'they run'} code taken from its arguments or configuration (e.g. git -c alias.x='!printenv NAME' x), so the model could print any secret injected into it: that is the same as revealing it. keywarden-mcp refuses it unless you add --i-understand-this-reveals`,
    )
  }
  return unsafe
}

function setting(env: Environment, name: string): string | undefined {
  const value = env[name]?.trim()
  return value === undefined || value === '' ? undefined : value
}

// Query parameters that can carry a secret (`password=`, `sslpassword=`).
function hasQueryCredentials(url: URL): boolean {
  return [...url.searchParams.keys()].some((key) => /pass|secret|token/i.test(key))
}

/**
 * `keywarden-mcp` as node and the absolute path of its bin, from `@keywarden/mcp-server`, a
 * dependency of this CLI: Claude Desktop's PATH often holds neither node (the bin's
 * `#!/usr/bin/env node` would fail) nor the bin, and Windows cannot start a `.js` file. A
 * broken installation is an error rather than an entry that would not start.
 */
async function mcpServerLauncher(): Promise<Launcher> {
  let script: string | undefined
  try {
    const packageJson = fileURLToPath(import.meta.resolve('@keywarden/mcp-server/package.json'))
    const { bin } = JSON.parse(await readFile(packageJson, 'utf8')) as {
      bin?: string | Record<string, string>
    }
    const relative = typeof bin === 'string' ? bin : bin?.['keywarden-mcp']
    if (relative !== undefined) script = resolve(dirname(packageJson), relative)
    if (script !== undefined) await access(script)
  } catch {
    script = undefined
  }
  if (script === undefined) {
    throw new KeywardenError(
      'CONFIGURATION_ERROR',
      'cannot find keywarden-mcp: @keywarden/mcp-server, installed with this CLI, is missing or not built; reinstall @keywarden/cli',
    )
  }
  return { command: process.execPath, args: [script] }
}

/** This CLI as node and its bin, for the same reasons as {@link mcpServerLauncher}. */
function cliLauncher(): Launcher {
  // dist/commands/mcp-config.js → dist/bin.js.
  const script = fileURLToPath(new URL('../bin.js', import.meta.url))
  return { command: process.execPath, args: [script] }
}

// ---------------------------------------------------------------------------------------------
// Reading the file
// ---------------------------------------------------------------------------------------------

interface ConfigSource {
  existed: boolean
  /** The bytes read, to back up and to check nobody changed the file meanwhile. */
  original: Buffer
  config: JsonObject
  /** How to write it back as it was written: indentation, line ending, BOM, final newline. */
  style: { indent: string; newline: string; bom: boolean; finalNewline: boolean }
}

async function readConfig(file: string, mustExist: boolean): Promise<ConfigSource> {
  let original: Buffer
  try {
    original = await readFile(file)
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    if (code === 'ENOENT' && !mustExist) {
      return {
        existed: false,
        original: Buffer.alloc(0),
        config: {},
        style: { indent: '  ', newline: '\n', bom: false, finalNewline: true },
      }
    }
    const why =
      code === 'ENOENT'
        ? 'no such file, so nothing to wrap'
        : code === 'EACCES'
          ? 'permission denied'
          : code === 'EISDIR'
            ? 'it is a directory'
            : (code ?? 'unreadable')
    throw new KeywardenError('INTERNAL', `cannot read ${file}: ${why}`)
  }
  let text = original.toString('utf8')
  const bom = text.startsWith('\uFEFF')
  if (bom) text = text.slice(1)
  let parsed: unknown = {}
  // An empty file (touched, or truncated by an editor) holds no configuration yet.
  if (text.trim() !== '') {
    try {
      parsed = JSON.parse(text)
    } catch {
      // JSON.parse's own message quotes the text around the error, which can be a token.
      throw new KeywardenError(
        'INTERNAL',
        `${file} is not valid JSON (${describeSyntaxError(text)}); nothing was written`,
      )
    }
  }
  if (!isObject(parsed)) {
    throw new KeywardenError('INTERNAL', `${file} does not hold a JSON object; nothing was written`)
  }
  return {
    existed: true,
    original,
    config: parsed,
    style: {
      indent: /\n([ \t]+)"/.exec(text)?.[1] ?? '  ',
      newline: text.includes('\r\n') ? '\r\n' : '\n',
      bom,
      finalNewline: text === '' || text.endsWith('\n'),
    },
  }
}

/** `mcpServers`, created when missing; anything but an object there is not ours to replace. */
function serversOf(config: JsonObject, file: string): JsonObject {
  const servers = config.mcpServers
  if (servers === undefined) {
    const created: JsonObject = {}
    config.mcpServers = created
    return created
  }
  if (!isObject(servers)) {
    throw new KeywardenError(
      'INTERNAL',
      `"mcpServers" in ${file} is not an object; nothing was written`,
    )
  }
  return servers
}

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/** Where the JSON goes wrong, as `line L, column C`, found without quoting the text. */
function describeSyntaxError(text: string): string {
  const offset = syntaxErrorOffset(text)
  if (offset === undefined) return 'a syntax error'
  const before = text.slice(0, offset)
  const line = before.split('\n').length
  const column = offset - (before.lastIndexOf('\n') + 1) + 1
  return offset >= text.length ? `it ends early, at line ${line}` : `line ${line}, column ${column}`
}

class JsonSyntaxError {
  constructor(readonly offset: number) {}
}

/** The offset of the first JSON syntax error in `text` (RFC 8259), or undefined if none. */
function syntaxErrorOffset(text: string): number | undefined {
  let at = 0
  const fail = (): never => {
    throw new JsonSyntaxError(at)
  }
  const space = () => {
    while (/[ \t\n\r]/.test(text.charAt(at))) at++
  }
  const expect = (char: string) => {
    if (text.charAt(at) !== char) fail()
    at++
  }
  const number = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y
  const string = () => {
    expect('"')
    for (;;) {
      const char = text.charAt(at)
      if (char === '"') {
        at++
        return
      }
      if (char === '' || char < ' ') fail()
      if (char === '\\') {
        at++
        const escaped = text.charAt(at)
        if (escaped === 'u' && /^[0-9a-fA-F]{4}$/.test(text.slice(at + 1, at + 5))) at += 5
        else if (escaped !== '' && '"\\/bfnrt'.includes(escaped)) at++
        else fail()
      } else at++
    }
  }
  const value = (): void => {
    space()
    const char = text.charAt(at)
    if (char === '{' || char === '[') {
      const close = char === '{' ? '}' : ']'
      at++
      space()
      if (text.charAt(at) === close) {
        at++
        return
      }
      for (;;) {
        if (char === '{') {
          space()
          string()
          space()
          expect(':')
        }
        value()
        space()
        if (text.charAt(at) === close) {
          at++
          return
        }
        expect(',')
      }
    }
    if (char === '"') {
      string()
      return
    }
    for (const word of ['true', 'false', 'null']) {
      if (text.startsWith(word, at)) {
        at += word.length
        return
      }
    }
    number.lastIndex = at
    if (!number.test(text)) fail()
    at = number.lastIndex
  }
  try {
    value()
    space()
    if (at < text.length) fail()
    return undefined
  } catch (error) {
    if (error instanceof JsonSyntaxError) return error.offset
    // Nesting deep enough to exhaust the stack: no position, still no quote.
    return undefined
  }
}

// ---------------------------------------------------------------------------------------------
// Planning the wrap
// ---------------------------------------------------------------------------------------------

type MoveStatus = 'stored' | 'already in vault'

interface MovedVariable {
  variable: string
  secret: string
  value: string
  type: SecretType
  status: MoveStatus
}

interface Candidate {
  server: string
  entry: JsonObject
  command: string
  args: string[]
  /** The env variables that are not secrets, kept in the entry. */
  kept: JsonObject
  moved: MovedVariable[]
}

interface Refusal {
  server: string
  variables: string[]
  reason: string
}

interface WrapPlan {
  candidates: Candidate[]
  alreadyWrapped: string[]
  refused: Refusal[]
}

interface Wrapped {
  server: string
  variables: Array<{ variable: string; secret: string; status: MoveStatus }>
}

/**
 * Which servers to wrap: those whose `env` holds non-empty values under names that look like
 * secrets (the rule `keywarden import` uses for shell files). What cannot be wrapped safely is
 * refused, with why; nothing is decided from a value except that it is a valid secret value.
 */
function planWrap(servers: JsonObject): WrapPlan {
  const plan: WrapPlan = { candidates: [], alreadyWrapped: [], refused: [] }
  for (const [server, entry] of Object.entries(servers)) {
    if (server === SERVER_NAME || !isObject(entry)) continue
    const env = isObject(entry.env) ? entry.env : {}
    const secrets = Object.entries(env).flatMap(([variable, value]) =>
      looksLikeSecret(variable) && typeof value === 'string' && value !== ''
        ? [{ variable, value }]
        : [],
    )
    const variables = secrets.map(({ variable }) => variable)
    if (isWrapped(entry)) {
      if (secrets.length === 0) plan.alreadyWrapped.push(server)
      else {
        plan.refused.push({
          server,
          variables,
          reason: `it already runs through keywarden run, yet its env holds ${variables.join(', ')}; store ${variables.length === 1 ? 'it' : 'them'} with keywarden set and add ${variables.length === 1 ? 'it' : 'them'} to its --only by hand`,
        })
      }
      continue
    }
    if (secrets.length === 0) continue
    const refuse = (reason: string) => plan.refused.push({ server, variables, reason })
    const { command, args } = entry
    if (typeof command !== 'string' || command === '') {
      refuse('it has no command to wrap (a remote server?); its env was left in place')
      continue
    }
    if (args !== undefined && !(Array.isArray(args) && args.every((a) => typeof a === 'string'))) {
      refuse('its "args" is not a list of strings')
      continue
    }
    const moved: MovedVariable[] = []
    let problem: string | undefined
    for (const { variable, value } of secrets) {
      const secret = secretNameFor(variable)
      const twin = moved.find((m) => m.secret === secret)
      if (!SECRET_NAME_PATTERN.test(secret)) {
        problem = `${variable} does not make a valid secret name (a-z, 0-9, "_", "." and "-", starting with a letter or digit)`
      } else if (twin && twin.value !== value) {
        problem = `${twin.variable} and ${variable} both become ${secret} but hold different values`
      } else {
        problem = valueProblem(variable, value)
      }
      if (problem !== undefined) break
      if (!twin) {
        moved.push({
          variable,
          secret,
          value,
          type: guessSecretType(variable, value),
          status: 'stored',
        })
      } else moved.push({ ...twin, variable })
    }
    if (problem !== undefined) {
      refuse(problem)
      continue
    }
    const kept: JsonObject = {}
    for (const [variable, value] of Object.entries(env)) {
      if (!secrets.some((s) => s.variable === variable)) kept[variable] = value
    }
    plan.candidates.push({ server, entry, command, args: (args ?? []) as string[], kept, moved })
  }
  return plan
}

// The vault's own rules, checked before anything is stored. Their messages describe a value,
// never quote it.
function valueProblem(variable: string, value: string): string | undefined {
  try {
    validateSecretValue(value)
    return undefined
  } catch (error) {
    const message = error instanceof Error ? error.message : 'invalid value'
    return `${variable}: ${message.replace(/^invalid secret value: /, 'the value ')}`
  }
}

/**
 * An entry that already runs through `keywarden run`: `keywarden run ...`, or node with a
 * keywarden bin and `run` (the form --wrap writes).
 */
function isWrapped(entry: JsonObject): boolean {
  const { command, args } = entry
  if (typeof command !== 'string' || !Array.isArray(args)) return false
  if (isKeywardenBin(command) && args[0] === 'run') return true
  const [script, subcommand] = args
  return typeof script === 'string' && isKeywardenBin(script) && subcommand === 'run'
}

function isKeywardenBin(path: string): boolean {
  const own = cliLauncher().args[0]
  return (
    path === own ||
    /(^|[\\/])keywarden(\.cmd|\.exe|\.js)?$/i.test(path) ||
    /[\\/](@keywarden[\\/]cli|apps[\\/]cli)[\\/]dist[\\/]bin\.js$/.test(path)
  )
}

/**
 * Checks the plan against the vault: a name the vault already holds with the same value is
 * reused, a different value refuses that server (overwriting could break whatever else uses
 * the secret), and two servers in the file that disagree on a name refuse the later one.
 */
async function compareWithVault(client: VaultClient, plan: WrapPlan): Promise<void> {
  const names = [...new Set(plan.candidates.flatMap((c) => c.moved.map((m) => m.secret)))]
  const listed = new Set((await client.listSecrets()).map((secret) => secret.name))
  const known = names.filter((name) => listed.has(name))
  const current = known.length > 0 ? await client.getSecrets(known) : new Map()
  const planned = new Map<string, { server: string; value: string }>()
  const accepted: Candidate[] = []
  for (const candidate of plan.candidates) {
    let reason: string | undefined
    for (const moved of candidate.moved) {
      const stored = current.get(moved.secret)
      // A value from the environment fallback is not in the vault.
      const inVault = listed.has(moved.secret) && stored?.source !== 'env'
      const earlier = planned.get(moved.secret)
      if (listed.has(moved.secret) && (!inVault || stored?.value !== moved.value)) {
        reason = `the vault's ${moved.secret} holds a different value than ${moved.variable}; make them agree (keywarden rotate ${moved.secret}, or keywarden rm ${moved.secret}) and run --wrap again`
      } else if (earlier && earlier.value !== moved.value) {
        reason = `server ${quoteName(earlier.server)} sets ${moved.secret} to a different value than ${moved.variable}; make them agree and run --wrap again`
      }
      if (reason !== undefined) break
    }
    if (reason !== undefined) {
      plan.refused.push({
        server: candidate.server,
        variables: candidate.moved.map((m) => m.variable),
        reason,
      })
      continue
    }
    for (const moved of candidate.moved) {
      if (listed.has(moved.secret) || planned.has(moved.secret)) moved.status = 'already in vault'
      planned.set(moved.secret, { server: candidate.server, value: moved.value })
    }
    accepted.push(candidate)
  }
  plan.candidates = accepted
}

/** Stores each new secret once, with the guessed type and where it came from. */
async function storeSecrets(client: VaultClient, candidates: readonly Candidate[], file: string) {
  for (const candidate of candidates) {
    for (const moved of candidate.moved) {
      if (moved.status !== 'stored') continue
      await client.storeSecret(moved.secret, moved.value, {
        type: moved.type,
        description: `moved from ${basename(file)} (server ${candidate.server})`,
      })
    }
  }
}

/** Reads every value back from the vault before the file's copy goes: it may be the last. */
async function verifyStored(client: VaultClient, candidates: readonly Candidate[], file: string) {
  const expected = new Map(candidates.flatMap((c) => c.moved.map((m) => [m.secret, m.value])))
  client.clearSecretCache()
  const stored = await client.getSecrets([...expected.keys()])
  const different = [...expected].filter(([name, value]) => {
    const result = stored.get(name)
    return result?.source !== 'vault' || result.value !== value
  })
  if (different.length > 0) {
    throw new KeywardenError(
      'INTERNAL',
      `the vault did not return the stored value of ${different.map(([name]) => name).join(', ')}; ${file} was left as it was`,
    )
  }
}

/**
 * The entry, run through `keywarden run`: the secrets by name with `--only`, each under its
 * original variable with `--env` (a name's default variable is its upper case, which need not
 * be the original's spelling), then `--` and the original command. The entry's other keys stay;
 * its env keeps the non-secret variables, plus the Keywarden configuration `keywarden run`
 * needs to find the vault when Claude Desktop starts it.
 */
function wrapEntry(
  candidate: Candidate,
  launcher: Launcher,
  configuration: Record<string, string>,
): JsonObject {
  const names = [...new Set(candidate.moved.map((moved) => moved.secret))]
  const env: JsonObject = { ...candidate.kept }
  for (const [variable, value] of Object.entries(configuration)) {
    if (!(variable in env)) env[variable] = value
  }
  return {
    ...candidate.entry,
    command: launcher.command,
    args: [
      ...launcher.args,
      'run',
      '--only',
      names.join(','),
      ...candidate.moved.flatMap(({ variable, secret }) => ['--env', `${variable}=${secret}`]),
      '--',
      candidate.command,
      ...candidate.args,
    ],
    env,
  }
}

// ---------------------------------------------------------------------------------------------
// Writing the file
// ---------------------------------------------------------------------------------------------

/**
 * Writes `config` in the file's own style. An existing file is first copied to a backup (byte
 * for byte, same mode); the new content goes to a temporary file beside it that is renamed
 * over it, so a crash leaves the old file or the new one, never half of one. Returns the
 * backup's path, or null for a new file.
 */
async function writeConfig(
  file: string,
  source: ConfigSource,
  config: JsonObject,
): Promise<string | null> {
  const { indent, newline, bom, finalNewline } = source.style
  let text = JSON.stringify(config, null, indent)
  if (newline !== '\n') text = text.replaceAll('\n', newline)
  const content = Buffer.from(`${bom ? '\uFEFF' : ''}${text}${finalNewline ? newline : ''}`)

  if (!source.existed) {
    await mkdir(dirname(file), { recursive: true })
    // Owner-only: Claude Desktop config files tend to collect tokens.
    await replaceAtomically(file, content, 0o600, async () => {
      if (await exists(file)) throw changedMeanwhile(file)
    })
    return null
  }
  const mode = (await stat(file)).mode & 0o7777
  // An edit made meanwhile (by Claude Desktop, or a person) would be lost by the rewrite.
  if (!(await readFile(file)).equals(source.original)) throw changedMeanwhile(file)
  const backup = await writeBackup(file, source.original, mode)
  // Through symlinks: a config kept in a dotfiles repository stays a link.
  await replaceAtomically(await realpath(file), content, mode, async () => {
    if (!(await readFile(file)).equals(source.original)) throw changedMeanwhile(file)
  })
  return backup
}

function changedMeanwhile(file: string): KeywardenError {
  return new KeywardenError(
    'INTERNAL',
    `${file} changed while keywarden was working; it was left as it was`,
  )
}

function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  )
}

// ---------------------------------------------------------------------------------------------
// Reporting
// ---------------------------------------------------------------------------------------------

function showPlan(context: CommandContext, file: string, candidates: readonly Candidate[]) {
  const { out } = context
  out.line(`Wrapping ${count(candidates.length, 'server')} in ${file}:`)
  out.table(
    [
      { key: 'server', header: 'SERVER' },
      { key: 'variable', header: 'VARIABLE' },
      { key: 'secret', header: 'SECRET' },
      { key: 'vault', header: 'VAULT' },
    ],
    candidates.flatMap((candidate) =>
      candidate.moved.map((moved) => ({
        server: tableCell(candidate.server, 40),
        variable: moved.variable,
        secret: moved.secret,
        vault: moved.status === 'stored' ? 'new' : 'already there',
      })),
    ),
  )
}

function report(
  context: CommandContext,
  file: string,
  result: {
    changed: boolean
    backup: string | null
    keywarden: 'added' | 'updated' | 'unchanged' | null
    wrap: boolean
    wrapped: readonly Wrapped[]
    plan: WrapPlan
    created: boolean
    files: KeywardenEnvironment['files']
  },
) {
  const { out } = context
  const { keywarden, wrapped, plan } = result
  if (keywarden === 'added') out.line(`Added the keywarden server to ${file}.`)
  if (keywarden === 'updated') out.line(`Updated the keywarden server in ${file}.`)
  if (keywarden === 'unchanged') out.line(`The keywarden server in ${file} is already up to date.`)
  for (const secret of result.files) {
    // Where the secret went, never what it is: the entry names this file instead.
    out.line(
      out.paint.dim(`${secret.source} is in ${secret.path} (mode 0600); the entry names the file.`),
    )
  }
  if (wrapped.length > 0) {
    const stored = new Set(
      wrapped.flatMap((w) => w.variables.filter((v) => v.status === 'stored').map((v) => v.secret)),
    )
    const servers = wrapped.map((w) => quoteName(w.server)).join(', ')
    out.line(
      `Moved ${count(stored.size, 'new secret')} into the vault; ${servers} now ${wrapped.length === 1 ? 'runs' : 'run'} through keywarden run.`,
    )
  } else if (result.wrap && plan.refused.length === 0) {
    out.line(`No server in ${file} has secrets in its env; nothing to wrap.`)
  }
  if (plan.alreadyWrapped.length > 0) {
    out.line(
      out.paint.dim(
        `Already wrapped: ${plan.alreadyWrapped.map((server) => quoteName(server)).join(', ')}.`,
      ),
    )
  }
  if (result.changed) {
    out.line(
      result.created
        ? `Created ${file}.`
        : `Wrote ${file}; the original is in ${result.backup ?? 'no backup'}.`,
    )
    if (wrapped.length > 0 && result.backup !== null) {
      // The backup is byte for byte the old file, tokens included: it is the user's to delete.
      out.line(
        out.paint.yellow(
          `${result.backup} still holds the tokens: delete it once the servers work.`,
        ),
      )
    }
    out.line(out.paint.dim('Restart Claude Desktop to load the change.'))
  } else {
    out.line(`${file} was left as it was.`)
  }
}

function quoteName(server: string): string {
  return JSON.stringify(tableCell(server, 40))
}

function count(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`
}
