/** `keywarden policy`: shows and edits the per-door policy kept in the vault. */
import {
  DOOR_RIGHTS,
  type DoorAction,
  type DoorPolicyRule,
  type DoorRights,
  defaultRights,
  isAgentDoor,
  isKeywardenCredential,
  ruleFor,
  validateSecretName,
} from '@keywarden/core'
import type { CommandContext, CommandModule } from '../context.ts'
import { UsageError } from '../errors.ts'

export const options: CommandModule['options'] = {
  allow: { type: 'string', multiple: true },
  deny: { type: 'string', multiple: true },
}

export const help = `Usage: keywarden policy [show] [--json]
       keywarden policy set DOOR SECRET [--allow RIGHTS] [--deny RIGHTS] [--json]
       keywarden policy rm DOOR SECRET [--json]
       keywarden policy check DOOR SECRET [--json]

The door policy says what each front door may do with each secret. It is kept in the vault,
so every machine's doors obey the same one, and each door enforces it through the core.

Doors:
  cli                 this CLI (full rights unless a rule says otherwise)
  edge                the ChatGPT edge plugin: its REST routes and its /mcp
  mcp:<client name>   keywarden-mcp, by the name the MCP client announces
                      (Claude Desktop: mcp:claude-desktop; see keywarden audit)
DOOR and SECRET may use * for any run of characters: mcp:*, github_*, *.

Rights (comma-separated or repeated, or all):
  read-metadata   list the secret and read its metadata, expiry, metrics and audit rows
  use-hosts       send it to its allowed hosts (http_request; keywarden set --allow-host)
  use-commands    inject it into its allowed commands (run_command; --allow-command)
  reveal          return the value (reveal_secret), still only if it is agent-visible
  write           store over, rotate or delete the existing secret
  create          create a secret of that name when none exists

Without a rule an agent door (every door but cli) may read metadata, use the secret as its
allowed hosts and commands say, reveal only agent-visible secrets and create new secrets,
but not change or delete existing ones. The most specific rule wins: an exact door over a
pattern, then an exact secret over a pattern. Whatever the rules say, no agent door may
write, create, rotate, delete or reveal Keywarden's own credentials (plugin_bearer_token,
cron_bearer_token, keywarden_*, the database URLs, the Supabase service role key) or a
secret marked protected (keywarden set NAME --protected). Refusals are audited as "denied".

Commands:
  show            every rule, then the defaults (the default command)
  set             creates or changes the rule for DOOR and SECRET: it starts from that rule,
                  or from the door's defaults, then applies --allow and --deny
  rm              removes the rule for DOOR and SECRET (the defaults apply again)
  check           the rights DOOR has over SECRET, and which rule gives them

Options:
  --allow RIGHTS  rights to grant, e.g. --allow write or --allow reveal,use-hosts
  --deny RIGHTS   rights to take away, e.g. --deny all
  --json          show: {"rules": [...], "defaults": {...}}; set: the rule; rm: {"removed"};
                  check: {"door", "secret", "rule", "rights", "floor"}

Examples:
  keywarden policy
  keywarden policy set mcp:claude-desktop github_token --allow write
  keywarden policy set 'mcp:*' '*' --deny use-commands
  keywarden policy set edge 'github_*' --deny all --allow read-metadata,use-hosts
  keywarden policy check mcp:claude-desktop github_token
  keywarden policy rm 'mcp:*' '*'`

const DOOR_PATTERN = /^[a-z0-9*][a-z0-9._:*-]{0,127}$/
const SECRET_PATTERN = /^[a-z0-9*][a-z0-9_.*-]{0,127}$/

/** The CLI spelling of an action: read_metadata -> read-metadata. */
const flagOf = (action: DoorAction) => action.replace('_', '-')

export const run: CommandModule['run'] = async (context, { positionals, values }) => {
  const [task = 'show', ...rest] = positionals
  switch (task) {
    case 'show':
      expectArguments('show', rest, 0)
      return show(context)
    case 'set': {
      const [door, secret] = patterns('set', rest)
      return set(context, door, secret, rightsFlags(values.allow), rightsFlags(values.deny))
    }
    case 'rm': {
      const [door, secret] = patterns('rm', rest)
      return remove(context, door, secret)
    }
    case 'check': {
      const [door, secret] = patterns('check', rest)
      if (door.includes('*')) throw new UsageError('check needs a door name, not a pattern')
      validateSecretName(secret)
      return check(context, door, secret)
    }
    default:
      throw new UsageError(`unknown policy command ${task}; use show, set, rm or check`)
  }
}

function expectArguments(task: string, rest: readonly string[], count: number) {
  if (rest.length !== count) {
    throw new UsageError(
      count === 0
        ? `policy ${task} takes no arguments; see keywarden policy --help`
        : `policy ${task} needs DOOR and SECRET, e.g. keywarden policy ${task} mcp:claude-desktop github_token`,
    )
  }
}

function patterns(task: string, rest: readonly string[]): [string, string] {
  expectArguments(task, rest, 2)
  const [door, secret] = rest as [string, string]
  if (!DOOR_PATTERN.test(door)) {
    throw new UsageError(
      'DOOR must be cli, edge, mcp:<client name> or a pattern with *, in lower case',
    )
  }
  if (!SECRET_PATTERN.test(secret)) {
    throw new UsageError('SECRET must be a secret name or a pattern with *, such as github_*')
  }
  return [door, secret]
}

/** `--allow`/`--deny` values as actions; `all` is every right. */
function rightsFlags(option: unknown): DoorAction[] {
  if (option === undefined) return []
  const words = (Array.isArray(option) ? option : [option])
    .flatMap((entry) => String(entry).split(','))
    .map((word) => word.trim())
    .filter((word) => word !== '')
  const actions: DoorAction[] = []
  for (const word of words) {
    if (word === 'all') {
      actions.push(...DOOR_RIGHTS.map((entry) => entry.action))
      continue
    }
    const found = DOOR_RIGHTS.find((entry) => flagOf(entry.action) === word)
    if (!found) {
      throw new UsageError(
        `unknown right ${JSON.stringify(word.slice(0, 32))}: use ${DOOR_RIGHTS.map((entry) => flagOf(entry.action)).join(', ')} or all`,
      )
    }
    actions.push(found.action)
  }
  return actions
}

function rightsJson(rights: DoorRights) {
  return Object.fromEntries(DOOR_RIGHTS.map(({ action, right }) => [action, rights[right]]))
}

function rightsText(rights: DoorRights): string {
  const granted = DOOR_RIGHTS.filter(({ right }) => rights[right]).map(({ action }) =>
    flagOf(action),
  )
  return granted.length === 0 ? 'nothing' : granted.join(', ')
}

async function show(context: CommandContext): Promise<number> {
  const client = await context.client()
  const rules = await client.listDoorPolicies()
  const { out } = context
  const defaults = { cli: defaultRights('cli'), agent: defaultRights('mcp:*') }
  if (out.json) {
    out.printJson({
      rules: rules.map((rule) => ({
        door: rule.doorPattern,
        secret: rule.secretPattern,
        rights: rightsJson(rule),
        updated_at: rule.updatedAt.toISOString(),
        updated_by: rule.updatedBy,
      })),
      defaults: { cli: rightsJson(defaults.cli), agent: rightsJson(defaults.agent) },
    })
    return 0
  }
  if (rules.length === 0) {
    out.line('No rules: every door has its defaults.')
  } else {
    out.table(
      [
        { key: 'door', header: 'DOOR' },
        { key: 'secret', header: 'SECRET' },
        { key: 'rights', header: 'MAY' },
      ],
      rules.map((rule) => ({
        door: rule.doorPattern,
        secret: rule.secretPattern,
        rights: rightsText(rule),
      })),
    )
  }
  out.line('')
  out.line(`Defaults: cli may ${rightsText(defaults.cli)}.`)
  out.line(
    `          agent doors (edge, mcp:*) may ${rightsText(defaults.agent)}; not write existing secrets.`,
  )
  out.line(
    "Never at an agent door: writing or revealing Keywarden's own credentials or a protected secret.",
  )
  return 0
}

async function set(
  context: CommandContext,
  door: string,
  secret: string,
  allow: readonly DoorAction[],
  deny: readonly DoorAction[],
): Promise<number> {
  if (allow.length === 0 && deny.length === 0) {
    throw new UsageError('policy set needs --allow or --deny, e.g. --allow write')
  }
  const client = await context.client()
  const existing = (await client.listDoorPolicies()).find(
    (rule) => rule.doorPattern === door && rule.secretPattern === secret,
  )
  const rights: DoorRights = existing ? { ...existing } : defaultRights(door)
  for (const action of allow) rights[rightOf(action)] = true
  for (const action of deny) rights[rightOf(action)] = false
  const rule: DoorPolicyRule = {
    doorPattern: door,
    secretPattern: secret,
    canReadMetadata: rights.canReadMetadata,
    canUseHosts: rights.canUseHosts,
    canUseCommands: rights.canUseCommands,
    canReveal: rights.canReveal,
    canWrite: rights.canWrite,
    canCreate: rights.canCreate,
  }
  await client.setDoorPolicy(rule)
  const { out } = context
  if (out.json) {
    out.printJson({ door, secret, rights: rightsJson(rule) })
  } else {
    out.line(`${existing ? 'Changed' : 'Added'}: ${door} may ${rightsText(rule)} for ${secret}`)
    if (isAgentDoor(door) && (rule.canWrite || rule.canReveal) && isKeywardenCredential(secret)) {
      out.note(
        `keywarden: ${secret} is one of Keywarden's own credentials: agent doors still may not write or reveal it`,
      )
    }
  }
  return 0
}

function rightOf(action: DoorAction): keyof DoorRights {
  return DOOR_RIGHTS.find((entry) => entry.action === action)?.right as keyof DoorRights
}

async function remove(context: CommandContext, door: string, secret: string): Promise<number> {
  const client = await context.client()
  const removed = await client.deleteDoorPolicy(door, secret)
  const { out } = context
  if (out.json) out.printJson({ door, secret, removed })
  else out.line(removed ? `Removed the rule for ${door} and ${secret}` : 'No such rule')
  return removed ? 0 : 1
}

async function check(context: CommandContext, door: string, secret: string): Promise<number> {
  const client = await context.client()
  const rules = await client.listDoorPolicies()
  const rule = ruleFor(rules, door, secret)
  const rights = rule ?? defaultRights(door)
  const marked = (await client.listSecrets()).find((entry) => entry.name === secret)?.protected
  const floor = !isAgentDoor(door)
    ? null
    : isKeywardenCredential(secret)
      ? "one of Keywarden's own credentials"
      : marked
        ? 'protected'
        : null
  const { out } = context
  if (out.json) {
    out.printJson({
      door,
      secret,
      rule: rule ? { door: rule.doorPattern, secret: rule.secretPattern } : null,
      rights: rightsJson(rights),
      floor,
    })
    return 0
  }
  out.line(
    `${door} may ${rightsText(rights)} for ${secret} (${rule ? `rule ${rule.doorPattern} ${rule.secretPattern}` : 'the defaults'})`,
  )
  if (floor) {
    out.line(`${secret} is ${floor}: ${door} may never write, create, rotate, delete or reveal it`)
  }
  return 0
}
