/**
 * `keywarden mcp-config`: Keywarden's own MCP server entry for any MCP client (Claude Desktop,
 * Claude Code, Cursor, VS Code, Windsurf, Codex CLI, Gemini CLI), printed or merged into the
 * client's config file; with `--wrap` the other servers' plaintext tokens moved out of the
 * file into the vault, their entries rewritten to run through `keywarden run`, and with
 * `--unwrap` that undone. The clients and the editing live in ../mcp-clients.
 */
import { homedir } from 'node:os'
import { resolve } from 'node:path'
import { stringify as stringifyToml } from '@decimalturn/toml-patch'
import { KeywardenError, type VaultClient } from '@keywarden/core'
import { parseAllowedCommands, runsArbitraryCode } from '@keywarden/mcp-server'
import type { CommandContext, CommandModule } from '../context.ts'
import { UsageError } from '../errors.ts'
import { tableCell } from '../format.ts'
import { confirm } from '../input.ts'
import type { JsonObject } from '../mcp-clients/document/index.ts'
import {
  CLIENT_IDS,
  type ConfigTarget,
  findConfigs,
  isClientId,
  MCP_CLIENTS,
  type McpClient,
  type Place,
  type Scope,
} from '../mcp-clients/index.ts'
import {
  type KeywardenEnvironment,
  keywardenEnvironment,
  mcpServerLauncher,
} from '../mcp-clients/keywarden-entry/index.ts'
import {
  applyPlans,
  checkPlans,
  type FilePlan,
  type FileResult,
  label,
  planFile,
  SERVER_NAME,
} from '../mcp-clients/wrap/index.ts'

/** Flags beside the global ones. */
export const options: CommandModule['options'] = {
  client: { type: 'string' },
  scope: { type: 'string' },
  write: { type: 'boolean' },
  wrap: { type: 'boolean' },
  unwrap: { type: 'boolean' },
  config: { type: 'string' },
  yes: { type: 'boolean', short: 'y' },
  'allow-command': { type: 'string', multiple: true },
  'i-understand-this-reveals': { type: 'boolean' },
}

/** The `--help` text. */
export const help = `Usage: keywarden mcp-config [--client NAME|all] [--scope user|project] [--config PATH]
                            [--write] [--wrap | --unwrap] [--yes]
                            [--allow-command CMD ... [--i-understand-this-reveals]] [--json]

Prints the entry for keywarden-mcp, the Keywarden MCP server, as the MCP client NAME spells
it (default claude-desktop), or merges it into that client's config file. The entry starts
keywarden-mcp with the node that runs this CLI (a client's PATH often lacks node) and carries
only Keywarden's non-secret configuration: KEYWARDEN_HOME, KEYWARDEN_STORE, a database URL
without a password, SUPABASE_URL. A client gives the server little but this entry, so the
secrets go into files instead: with --write, --wrap or --unwrap, KEYWARDEN_ROOT_KEY, the
database URL's password and SUPABASE_SERVICE_ROLE_KEY are each written to a 0600 file in the
vault home (mcp-root.key, mcp-database.password, mcp-supabase-service-role.key; reused when
unchanged), and the entry names the file: KEYWARDEN_ROOT_KEY_FILE,
KEYWARDEN_DATABASE_PASSWORD_FILE, SUPABASE_SERVICE_ROLE_KEY_FILE. Printed without --write,
the entry leaves them out and a note on stderr says which.

Clients and their files (--scope user, the default, or project: the current folder):
  claude-desktop  user: ~/Library/Application Support/Claude/claude_desktop_config.json (macOS),
                  %APPDATA%\\Claude\\claude_desktop_config.json (Windows),
                  $XDG_CONFIG_HOME/Claude/claude_desktop_config.json (Linux; ~/.config)
  claude-code     user: ~/.claude.json (its per-project "projects" servers too);
                  project: .mcp.json
  cursor          user: ~/.cursor/mcp.json; project: .cursor/mcp.json
  vscode          user: Code/User/mcp.json in the same folder as Claude Desktop's;
                  project: .vscode/mcp.json ("servers", not "mcpServers")
  windsurf        user: ~/.codeium/windsurf/mcp_config.json
  codex           user: $CODEX_HOME/config.toml (~/.codex); project: .codex/config.toml
                  ([mcp_servers.NAME] tables)
  gemini          user: ~/.gemini/settings.json; project: .gemini/settings.json
~ is the home folder (%USERPROFILE% on Windows). --client all works on every one of these
files that exists, user and project (or only --scope's), showing one plan for all first.

Every change is an edit, not a rewrite: comments (JSONC, TOML), key order and formatting
stay as they were, and so does every other key and server. Before a file is changed it is
copied to FILE.backup (FILE.backup.1, ... when one exists; mode 0600), and the new file
replaces it atomically; a file that changed meanwhile is left as it was.

--write adds (or updates) the keywarden server, creating the file if needed. --wrap moves
the plaintext tokens out of the other servers' "env" into the vault (names that look like
secrets, as keywarden import decides: GITHUB_PERSONAL_ACCESS_TOKEN ->
github_personal_access_token; a reference such as \${input:id}, \${env:NAME} or $NAME is no
plaintext and stays) and rewrites each such server to run through
keywarden run --only ... --env VAR=name -- <its command>, so the file holds no secret
afterwards. Values are read back from the vault before the file is rewritten. A secret the
vault already has with a different value is not overwritten: that server is left as it was
(exit 1) until you resolve it. Servers already wrapped are left alone, so --wrap can run
again. --wrap adds the keywarden server only with --write too. --unwrap restores what --wrap
changed: each wrapped server gets its command, its arguments and its variables back, the
values read from the vault (which keeps them), and the Keywarden configuration --wrap added
is removed. Values are never printed.

Options:
  --client NAME   claude-desktop (default), claude-code, cursor, vscode, windsurf, codex,
                  gemini, or all
  --scope SCOPE   user (default) or project (the file in the current folder)
  --config PATH   use this file (in NAME's format) instead of the client's own
  --write         merge the keywarden server into the file (a backup first)
  --wrap          move the other servers' tokens into the vault and wrap them with
                  keywarden run; asks first on a terminal
  --unwrap        put the wrapped servers back as they were, tokens from the vault; asks
                  first on a terminal
  -y, --yes       do not ask (needed with --wrap or --unwrap when stdin is not a terminal)
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
  --json          {"client", "scope", "file", "written", "backup", "keywarden", "omitted",
                  "wrapped", "unwrapped", "alreadyWrapped", "refused"} (printing, also
                  "mcpServers": the entry); with --client all, {"files": [...], "omitted"}

Examples:
  keywarden mcp-config
  keywarden mcp-config --write
  keywarden mcp-config --write --wrap
  keywarden mcp-config --client cursor --scope project --write
  keywarden mcp-config --client codex --wrap
  keywarden mcp-config --client all --wrap
  keywarden mcp-config --client vscode --unwrap --yes --config .vscode/mcp.json
  keywarden mcp-config --write --allow-command terraform,doctl
  keywarden mcp-config --write --allow-command git --i-understand-this-reveals`

/** Runs `keywarden mcp-config`; resolves with the exit code. */
export const run: CommandModule['run'] = async (context, { positionals, values }) => {
  if (positionals.length > 0) {
    throw new UsageError('mcp-config takes no arguments; see keywarden mcp-config --help')
  }
  const { io, out } = context
  const write = values.write === true
  const wrap = values.wrap === true
  const unwrap = values.unwrap === true
  const yes = values.yes === true
  if (wrap && unwrap) throw new UsageError('--wrap and --unwrap undo each other: pass one')
  const all = values.client === 'all'
  const client = all ? undefined : clientOption(values.client)
  const scope = scopeOption(values.scope)
  if (values.config === '') throw new UsageError('--config needs a file path')
  if (all && values.config !== undefined) {
    throw new UsageError('--client all finds the files itself; --config needs one --client')
  }
  if (all && !write && !wrap && !unwrap) {
    throw new UsageError('--client all needs --write, --wrap or --unwrap')
  }
  const place: Place = {
    platform: process.platform,
    env: context.env,
    home: context.env.HOME || homedir(),
    cwd: process.cwd(),
  }
  const targets = all
    ? (await findConfigs(place)).filter((t) => values.scope === undefined || t.scope === scope)
    : [targetOf(client ?? MCP_CLIENTS['claude-desktop'], scope, values.config, place)]
  if ((wrap || unwrap) && !yes && !io.stdin.isTTY) {
    // Nobody to ask: refusing beats moving secrets without consent or hanging on a pipe.
    const where = all ? 'the MCP client configs' : (targets[0]?.file ?? '')
    throw new UsageError(
      `--${wrap ? 'wrap' : 'unwrap'} asks before moving secrets ${wrap ? 'out of' : 'back into'} ${where} and stdin is not a terminal; pass --yes to go ahead without asking`,
    )
  }

  const configuration = await keywardenEnvironment(context.env, write || wrap || unwrap)
  const allowedCommands = allowedCommandsOption(values['allow-command'])
  const unsafeCommands = unsafeCommandsOf(
    allowedCommands,
    values['i-understand-this-reveals'] === true,
  )
  const launcher = await mcpServerLauncher()
  const entryEnv = {
    ...configuration.env,
    ...(allowedCommands === undefined
      ? {}
      : { KEYWARDEN_MCP_ALLOWED_COMMANDS: allowedCommands.join(',') }),
    ...(unsafeCommands.length === 0
      ? {}
      : { KEYWARDEN_MCP_UNSAFE_COMMANDS: unsafeCommands.join(',') }),
  }
  const entryFor = (of: McpClient) => of.keywardenEntry(launcher, entryEnv)

  if (!write && !wrap && !unwrap) {
    const target = targets[0]
    if (target === undefined) return 0
    printEntry(context, target, entryFor(target.client), configuration)
    noteOmitted(context, configuration)
    return 0
  }

  if (all && targets.length === 0) {
    if (out.json) out.printJson({ files: [], omitted: configuration.omitted })
    else out.line('No MCP client config was found on this machine.')
    return 0
  }
  const plans: FilePlan[] = []
  let failed = false
  for (const target of targets) {
    try {
      plans.push(
        await planFile(target.client, target.scope, target.file, {
          ...(write ? { keywardenEntry: entryFor(target.client) } : {}),
          wrap,
          unwrap,
        }),
      )
    } catch (error) {
      // One broken file of many does not stop the others; alone, it is the error.
      if (!all || !(error instanceof KeywardenError)) throw error
      out.note(`keywarden: ${error.message}`)
      failed = true
    }
  }

  let vault: VaultClient | undefined
  if (plans.some((plan) => plan.wrap.length > 0 || plan.unwrap.length > 0)) {
    vault = await context.client()
    await checkPlans(vault, plans)
  }
  const moving = plans.filter((plan) => plan.wrap.length > 0 || plan.unwrap.length > 0)
  if (moving.length > 0) {
    if (!out.json) showPlan(context, moving)
    if (!yes && !(await confirm(io, question(moving, wrap)))) {
      out.note('keywarden: nothing was changed')
      return 1
    }
  }
  const results = await applyPlans(plans, { vault, configuration: configuration.env })

  if (out.json) {
    const reports = results.map((result) => jsonReport(result, configuration))
    out.printJson(all ? { files: reports, omitted: configuration.omitted } : reports[0])
  } else {
    for (const [index, result] of results.entries()) {
      report(context, result, { wrap, unwrap, files: configuration.files, first: index === 0 })
    }
  }
  // Said only once the configuration went somewhere: an error stays one line.
  if (results.some((r) => r.keywarden !== null || r.wrapped.length > 0)) {
    noteOmitted(context, configuration)
  }
  const refused = results.flatMap((result) => result.refused)
  for (const refusal of refused) {
    out.note(
      `keywarden: left server ${label({ name: refusal.server, ...(refusal.where ? { where: refusal.where } : {}) })} as it was: ${refusal.reason}`,
    )
  }
  // Exit 0 means no file holds a secret-looking env value any more (as far as --wrap goes).
  return refused.length > 0 || failed ? 1 : 0
}

function clientOption(option: unknown): McpClient {
  if (option === undefined) return MCP_CLIENTS['claude-desktop']
  const id = String(option)
  if (!isClientId(id)) {
    throw new UsageError(
      `--client takes ${CLIENT_IDS.join(', ')} or all, not ${JSON.stringify(tableCell(id, 40))}`,
    )
  }
  return MCP_CLIENTS[id]
}

function scopeOption(option: unknown): Scope {
  if (option === undefined || option === 'user' || option === 'project') return option ?? 'user'
  throw new UsageError('--scope takes user or project')
}

function targetOf(client: McpClient, scope: Scope, config: unknown, place: Place): ConfigTarget {
  if (typeof config === 'string') return { client, scope, file: resolve(config) }
  const file = client.locate(scope, place)
  if (file === undefined) {
    throw new UsageError(`${client.name} has no ${scope} config file; use --scope user`)
  }
  return { client, scope, file: resolve(file) }
}

/** Keywarden's entry as the client's file would hold it, printed for the user to paste. */
function printEntry(
  { io, out }: CommandContext,
  target: ConfigTarget,
  entry: JsonObject,
  configuration: KeywardenEnvironment,
) {
  const { client, file } = target
  const servers = client.servers({})[0]?.path ?? ['mcpServers']
  const snippet = nest(servers, { [SERVER_NAME]: entry })
  if (out.json) {
    out.printJson({
      client: client.id,
      scope: target.scope,
      file,
      written: false,
      backup: null,
      mcpServers: { [SERVER_NAME]: entry },
      keywarden: 'printed',
      omitted: configuration.omitted,
      wrapped: [],
      unwrapped: [],
      alreadyWrapped: [],
      refused: [],
    })
    return
  }
  if (client.format === 'toml') out.line(stringifyToml(snippet, { inlineTableStart: 2 }).trimEnd())
  else out.printJson(snippet)
  // Only for a person: piped into a file or jq, stdout stays pure and stderr quiet.
  if (io.stdout.isTTY) {
    out.note(
      `Add it to ${file}, or run keywarden mcp-config${client.id === 'claude-desktop' ? '' : ` --client ${client.id}`} --write to do that.`,
    )
  }
}

function nest(path: readonly string[], value: JsonObject): JsonObject {
  return path.reduceRight<JsonObject>((inner, key) => ({ [key]: inner }), value)
}

function jsonReport(result: FileResult, configuration: KeywardenEnvironment) {
  const { client, scope, file, written, backup, keywarden, wrapped, unwrapped } = result
  return {
    client,
    scope,
    file,
    written,
    backup,
    keywarden,
    omitted: configuration.omitted,
    wrapped,
    unwrapped,
    alreadyWrapped: result.alreadyWrapped,
    refused: result.refused,
  }
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

// ---------------------------------------------------------------------------------------------
// Reporting
// ---------------------------------------------------------------------------------------------

function showPlan(context: CommandContext, plans: readonly FilePlan[]) {
  const { out } = context
  for (const plan of plans) {
    const where = `${plan.source.file}${plans.length > 1 ? ` (${plan.client.name})` : ''}`
    if (plan.wrap.length > 0) {
      out.line(`Wrapping ${count(plan.wrap.length, 'server')} in ${where}:`)
      out.table(
        [
          { key: 'server', header: 'SERVER' },
          { key: 'variable', header: 'VARIABLE' },
          { key: 'secret', header: 'SECRET' },
          { key: 'vault', header: 'VAULT' },
        ],
        plan.wrap.flatMap((candidate) =>
          candidate.moved.map((moved) => ({
            server: serverCell(candidate.ref),
            variable: moved.variable,
            secret: moved.secret,
            vault: moved.status === 'stored' ? 'new' : 'already there',
          })),
        ),
      )
    }
    if (plan.unwrap.length > 0) {
      out.line(`Unwrapping ${count(plan.unwrap.length, 'server')} in ${where}:`)
      out.table(
        [
          { key: 'server', header: 'SERVER' },
          { key: 'variable', header: 'VARIABLE' },
          { key: 'secret', header: 'FROM SECRET' },
        ],
        plan.unwrap.flatMap((candidate) =>
          candidate.variables.map(({ variable, secret }) => ({
            server: serverCell(candidate.ref),
            variable,
            secret,
          })),
        ),
      )
    }
  }
}

function serverCell(ref: { name: string; where?: string }): string {
  return tableCell(ref.where === undefined ? ref.name : `${ref.name} (${ref.where})`, 40)
}

function question(plans: readonly FilePlan[], wrap: boolean): string {
  const where = plans.length === 1 ? (plans[0]?.source.file ?? '') : count(plans.length, 'file')
  const backups = plans.length === 1 ? 'a backup is kept' : 'backups are kept'
  if (wrap) {
    const secrets = new Set(
      plans.flatMap((p) => p.wrap.flatMap((c) => c.moved.map((m) => m.secret))),
    )
    const servers = plans.reduce((n, p) => n + p.wrap.length, 0)
    return `Move ${count(secrets.size, 'secret')} into the vault and rewrite ${count(servers, 'server')} in ${where} (${backups})?`
  }
  const servers = plans.reduce((n, p) => n + p.unwrap.length, 0)
  return `Put the tokens of ${count(servers, 'server')} back into ${where} as plaintext (${backups})?`
}

function report(
  context: CommandContext,
  result: FileResult,
  options: { wrap: boolean; unwrap: boolean; files: KeywardenEnvironment['files']; first: boolean },
) {
  const { out } = context
  const { file, keywarden, wrapped, unwrapped } = result
  const client = MCP_CLIENTS[result.client]
  if (keywarden === 'added') out.line(`Added the keywarden server to ${file}.`)
  if (keywarden === 'updated') out.line(`Updated the keywarden server in ${file}.`)
  if (keywarden === 'unchanged') out.line(`The keywarden server in ${file} is already up to date.`)
  if (options.first && (keywarden !== null || wrapped.length > 0)) {
    for (const secret of options.files) {
      // Where the secret went, never what it is: the entry names this file instead.
      out.line(
        out.paint.dim(
          `${secret.source} is in ${secret.path} (mode 0600); the entry names the file.`,
        ),
      )
    }
  }
  if (wrapped.length > 0) {
    const stored = new Set(
      wrapped.flatMap((w) => w.variables.filter((v) => v.status === 'stored').map((v) => v.secret)),
    )
    const servers = wrapped.map((w) =>
      label({ name: w.server, ...(w.where ? { where: w.where } : {}) }),
    )
    out.line(
      `Moved ${count(stored.size, 'new secret')} into the vault; ${servers.join(', ')} now ${wrapped.length === 1 ? 'runs' : 'run'} through keywarden run.`,
    )
  } else if (options.wrap && result.refused.length === 0) {
    out.line(`No server in ${file} has secrets in its env; nothing to wrap.`)
  }
  if (unwrapped.length > 0) {
    const servers = unwrapped.map((w) =>
      label({ name: w.server, ...(w.where ? { where: w.where } : {}) }),
    )
    out.line(
      `Restored ${servers.join(', ')}: ${unwrapped.length === 1 ? 'it runs' : 'they run'} without keywarden run again, the tokens in plaintext in ${file} (the vault keeps its copies).`,
    )
  } else if (options.unwrap && result.refused.length === 0) {
    out.line(`No server in ${file} runs through keywarden run; nothing to unwrap.`)
  }
  if (result.alreadyWrapped.length > 0) {
    out.line(
      out.paint.dim(
        `Already wrapped: ${result.alreadyWrapped.map((server) => JSON.stringify(tableCell(server, 40))).join(', ')}.`,
      ),
    )
  }
  if (result.written) {
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
    out.line(out.paint.dim(`Restart ${client.name} to load the change.`))
  } else {
    out.line(`${file} was left as it was.`)
  }
}

function count(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`
}
