/** `keywarden set NAME`: stores a secret, its value from stdin or a hidden prompt. */
import { accessSync, constants } from 'node:fs'
import { delimiter, join } from 'node:path'
import {
  type Environment,
  SECRET_LIMITS,
  SECRET_TYPES,
  type SecretType,
  type StoreSecretInput,
  validateSecretMetadata,
  validateSecretName,
} from '@keywarden/core'
import { parseAllowedCommands, runsArbitraryCode } from '@keywarden/mcp-server'
import type { CommandModule } from '../context.ts'
import { UsageError } from '../errors.ts'
import { readSecretValue } from '../input.ts'
import { parseDuration } from '../time.ts'

export const options: CommandModule['options'] = {
  description: { type: 'string' },
  type: { type: 'string' },
  'expires-in': { type: 'string' },
  'expires-at': { type: 'string' },
  'agent-visible': { type: 'boolean' },
  'no-agent-visible': { type: 'boolean' },
  'allow-host': { type: 'string', multiple: true },
  'no-allowed-hosts': { type: 'boolean' },
  'allow-command': { type: 'string', multiple: true },
  'no-allowed-commands': { type: 'boolean' },
  'i-understand-this-reveals': { type: 'boolean' },
  protected: { type: 'boolean' },
  'no-protected': { type: 'boolean' },
}

const MAX_COMMANDS = SECRET_LIMITS.allowedCommands

/** As the SQL API checks it (keywarden.is_valid_host); checked here first so a typo costs nothing. */
const HOST =
  /^(\*\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.|)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*(:[1-9][0-9]{0,4})?$/
const MAX_HOSTS = SECRET_LIMITS.allowedHosts

export const help = `Usage: keywarden set NAME [--description TEXT] [--type TYPE] [--expires-in 90d | --expires-at ISO]
                     [--agent-visible | --no-agent-visible] [--allow-host HOST ... | --no-allowed-hosts]
                     [--allow-command CMD ... [--i-understand-this-reveals] | --no-allowed-commands]
                     [--protected | --no-protected]

Stores a secret. The value is read from stdin when it is piped, else from a hidden prompt;
never from the command line, where shell history and ps would keep it. Storing a name again
replaces its value as a new version (the same value again changes nothing).

Options:
  --description TEXT   what the secret is for
  --type TYPE          github_token, api_key, service_key, signing_key or other (default other);
                       sets the rotation reminder: 90 days for tokens and API keys, 180 for
                       service keys, none for signing keys
  --expires-in DUR     when it expires, from now: 90d, 12h, 30m
  --expires-at ISO     when it expires: 2027-03-01 or 2027-03-01T12:00:00Z (in the future)
  --agent-visible      let AI agents read the value (the MCP server's reveal_secret);
                       --no-agent-visible hides it again (new secrets are hidden)
  --allow-host HOST    a host agents may send the secret to (the MCP server's http_request):
                       api.github.com, *.example.com, localhost:8080; repeat for more (up to
                       32). Replaces the secret's list; --no-allowed-hosts empties it
  --allow-command CMD  an executable agents may inject the secret into (the MCP server's
                       run_command): a name such as terraform (matches that file name; a
                       warning when it is not on PATH here) or an absolute path (matches only
                       that path, which must exist); repeat or comma-separate (up to 32).
                       Replaces the list; --no-allowed-commands empties it (the default)
  --i-understand-this-reveals
                       needed to allow an executable that runs code from its arguments or
                       config (sh, bash, node, python, git, gh, env, find, xargs, make, npm,
                       ssh, awk, sed...): any agent that may run it can print the secret, so
                       this is the same as revealing it
  --protected          no agent door may write, rotate, delete or reveal it (only this CLI);
                       --no-protected lifts the mark
  --json               {"name", "id", "version", "outcome"}: outcome is created, replaced or
                       unchanged (the same value again makes no new version)

Examples:
  pbpaste | keywarden set github_token --type github_token --description "GitHub PAT"
  keywarden set openai_api_key --type api_key --expires-in 90d
  pbpaste | keywarden set github_token --allow-host api.github.com --allow-host uploads.github.com
  pbpaste | keywarden set github_token --no-allowed-hosts --no-agent-visible
  pbpaste | keywarden set do_token --allow-command doctl --protected

Options left out keep what the secret had. To change only metadata, without the value, use
keywarden edit NAME (same options).`

export const run: CommandModule['run'] = async (context, { positionals, values }) => {
  const [name, ...extra] = positionals
  if (name === undefined) throw new UsageError('set needs a secret name; see keywarden set --help')
  if (extra.length > 0) {
    throw new UsageError(
      'set takes no value on the command line (shell history and ps would keep it): pipe it in, e.g. `printf %s "$TOKEN" | keywarden set NAME`, or type it at the prompt',
    )
  }
  // Checked before reading a value or opening the vault: a usage mistake must cost nothing and
  // create nothing (not even a first embedded vault).
  validateSecretName(name)
  const metadata = metadataFrom(values, context.env, (text) => context.out.note(text))
  // The value first: a prompt should not wait for the vault to open.
  const value = await readSecretValue(context.io, `Value for ${name} (input hidden): `)
  const client = await context.client()
  const { id, outcome, version } = await client.storeSecretReporting(name, value, metadata)
  if (context.out.json) {
    context.out.printJson({ name, id, version, outcome })
  } else {
    const word = { created: 'Created', replaced: 'Replaced', unchanged: 'Unchanged' }[outcome]
    const detail =
      outcome === 'unchanged'
        ? ` (the same value: still version ${version})`
        : ` (version ${version})`
    context.out.line(`${word} ${context.out.paint.bold(name)}${detail}`)
  }
  return 0
}

/**
 * The metadata options of `set` and `edit`, checked (with core's limits) before the vault
 * opens. `warn` hears what is allowed but likely a mistake.
 */
export function metadataFrom(
  values: Record<string, unknown>,
  env: Environment,
  warn: (text: string) => void,
): StoreSecretInput {
  const metadata: StoreSecretInput = {}
  if (typeof values.description === 'string') metadata.description = values.description
  if (typeof values.type === 'string') {
    if (!SECRET_TYPES.includes(values.type as SecretType)) {
      throw new UsageError(`--type must be one of ${SECRET_TYPES.join(', ')}`)
    }
    metadata.type = values.type as SecretType
  }
  if (typeof values['expires-in'] === 'string' && typeof values['expires-at'] === 'string') {
    throw new UsageError('give --expires-in or --expires-at, not both')
  }
  if (typeof values['expires-in'] === 'string') {
    metadata.expiresAt = new Date(Date.now() + parseDuration(values['expires-in'], '--expires-in'))
  }
  if (typeof values['expires-at'] === 'string') {
    const expiresAt = new Date(values['expires-at'])
    if (Number.isNaN(expiresAt.getTime())) {
      throw new UsageError('--expires-at must be a date, e.g. 2027-03-01 or 2027-03-01T12:00:00Z')
    }
    if (expiresAt.getTime() <= Date.now()) {
      throw new UsageError(
        `--expires-at ${values['expires-at']} is in the past: give a future date`,
      )
    }
    metadata.expiresAt = expiresAt
  }
  if (values['agent-visible'] === true && values['no-agent-visible'] === true) {
    throw new UsageError('give --agent-visible or --no-agent-visible, not both')
  }
  if (values['agent-visible'] === true) metadata.agentVisible = true
  if (values['no-agent-visible'] === true) metadata.agentVisible = false
  const hosts = Array.isArray(values['allow-host']) ? values['allow-host'].map(String) : []
  if (hosts.length > 0 && values['no-allowed-hosts'] === true) {
    throw new UsageError('give --allow-host or --no-allowed-hosts, not both')
  }
  if (values['no-allowed-hosts'] === true) metadata.allowedHosts = []
  if (hosts.length > 0) metadata.allowedHosts = allowedHosts(hosts)
  const commands = Array.isArray(values['allow-command']) ? values['allow-command'].map(String) : []
  if (commands.length > 0 && values['no-allowed-commands'] === true) {
    throw new UsageError('give --allow-command or --no-allowed-commands, not both')
  }
  if (values['no-allowed-commands'] === true) metadata.allowedCommands = []
  if (commands.length > 0) {
    metadata.allowedCommands = allowedCommands(
      commands,
      values['i-understand-this-reveals'] === true,
    )
    checkOnPath(metadata.allowedCommands, env, warn)
  }
  if (values.protected === true && values['no-protected'] === true) {
    throw new UsageError('give --protected or --no-protected, not both')
  }
  if (values.protected === true) metadata.protected = true
  if (values['no-protected'] === true) metadata.protected = false
  try {
    validateSecretMetadata(metadata)
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error))
  }
  return metadata
}

/**
 * An absolute path that does not exist is refused (it can never run); a bare name not on
 * PATH is allowed with a warning, since the MCP server may run with another PATH.
 */
function checkOnPath(commands: readonly string[], env: Environment, warn: (text: string) => void) {
  const executable = (path: string) => {
    try {
      accessSync(path, constants.X_OK)
      return true
    } catch {
      return false
    }
  }
  const directories = (env.PATH ?? '').split(delimiter).filter((dir) => dir !== '')
  for (const command of commands) {
    if (command.startsWith('/')) {
      if (!executable(command)) {
        throw new UsageError(`--allow-command ${command}: no executable file is at that path`)
      }
    } else if (!directories.some((dir) => executable(join(dir, command)))) {
      warn(
        `keywarden: warning: --allow-command ${command} is not on this PATH; run_command finds it only if it is on the MCP server's PATH`,
      )
    }
  }
}

/**
 * Checked with keywarden-mcp's own parser; an executable that runs code from its arguments is
 * refused unless the user says they understand that this equals revealing the secret.
 */
function allowedCommands(entries: readonly string[], understood: boolean): string[] {
  let commands: string[]
  try {
    commands = parseAllowedCommands(entries.join(','))
  } catch (error) {
    throw new UsageError(
      `--allow-command: ${error instanceof Error ? error.message : String(error)}`,
    )
  }
  if (commands.length > MAX_COMMANDS) {
    throw new UsageError(`--allow-command: at most ${MAX_COMMANDS} commands`)
  }
  const unsafe = commands.filter(runsArbitraryCode)
  if (unsafe.length > 0 && !understood) {
    throw new UsageError(
      `--allow-command ${unsafe.join(', ')}: ${unsafe.length === 1 ? 'it runs' : 'they run'} code taken from arguments or configuration (e.g. git -c alias.x='!printenv NAME' x), so an agent allowed to run it can print the secret: that is the same as revealing it. Add --i-understand-this-reveals to allow it anyway`,
    )
  }
  return commands
}

/** Lower-cased, duplicates dropped, each checked; the entry is not echoed (it may be a value). */
function allowedHosts(hosts: readonly string[]): string[] {
  const unique = [...new Set(hosts.map((host) => host.toLowerCase()))]
  if (unique.length > MAX_HOSTS) throw new UsageError(`--allow-host: at most ${MAX_HOSTS} hosts`)
  unique.forEach((host, index) => {
    const port = /:(\d+)$/.exec(host)?.[1]
    if (!HOST.test(host) || (host.split(':')[0] ?? '').length > 253 || Number(port ?? 1) > 65_535) {
      throw new UsageError(
        `--allow-host number ${index + 1} (${host.length} characters) is not a host: use e.g. api.github.com, *.example.com or localhost:8080, without scheme or path`,
      )
    }
  })
  return unique
}
