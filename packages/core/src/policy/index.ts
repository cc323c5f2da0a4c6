/**
 * Least privilege per door: what each front door may do with each secret, decided here once
 * for every door.
 *
 * A door is who asks: `cli` (the developer's own CLI, full rights by default), `edge` (the
 * edge plugin), `mcp:<client name>` (the MCP server, by the name the client announced). Every
 * door but `cli` is an agent door. The vault's `keywarden.door_policies` rules refine the
 * defaults; {@link restrictToDoor} wraps a {@link VaultClient} so that a door's writes,
 * listings and reveals go through {@link decideAccess}, and every refusal is audited
 * (`access_type` `denied`, with the reason, never a value) and thrown as `ACCESS_DENIED` with
 * the `keywarden policy` command that would allow it.
 *
 * Two floors no rule lifts at an agent door: Keywarden's own credentials
 * ({@link isKeywardenCredential}) and secrets the user marked `protected` are never written,
 * created, rotated, deleted or revealed there.
 * @module
 */
import type { SecretResult, VaultClient } from '../client/index.ts'
import { KeywardenError, validateSecretName } from '../errors/index.ts'
import type {
  DoorPolicyRule,
  SecretMetadata,
  StoredDoorPolicyRule,
  StoreSecretInput,
} from '../store/index.ts'

/** The developer's own door: full rights unless a rule says otherwise. */
export const CLI_DOOR = 'cli'

/** The edge plugin's door (its REST routes and its `/mcp`). */
export const EDGE_DOOR = 'edge'

/** The local dashboard's door (`keywarden ui`, `keywarden report`): it only reads metadata. */
export const UI_DOOR = 'ui'

/** What a door asks to do with a secret. */
export type DoorAction =
  | 'read_metadata'
  | 'use_hosts'
  | 'use_commands'
  | 'reveal'
  | 'write'
  | 'create'

/** The rights a rule (or a default) grants; the fields of {@link DoorPolicyRule}. */
export type DoorRights = Omit<DoorPolicyRule, 'doorPattern' | 'secretPattern'>

/** The names `keywarden policy` uses for each right, in the order it lists them. */
export const DOOR_RIGHTS: ReadonlyArray<{ action: DoorAction; right: keyof DoorRights }> = [
  { action: 'read_metadata', right: 'canReadMetadata' },
  { action: 'use_hosts', right: 'canUseHosts' },
  { action: 'use_commands', right: 'canUseCommands' },
  { action: 'reveal', right: 'canReveal' },
  { action: 'write', right: 'canWrite' },
  { action: 'create', right: 'canCreate' },
]

/**
 * The vault names of Keywarden's own credentials: the edge plugin's bearer tokens, and the
 * names the environment tier maps onto Keywarden's configuration (`keywarden_root_key` ↔
 * `KEYWARDEN_ROOT_KEY`, `keywarden_webhook_url`, the database URLs and the Supabase service
 * role key).
 */
export const KEYWARDEN_CREDENTIALS: readonly string[] = [
  'plugin_bearer_token',
  'cron_bearer_token',
  'supabase_service_role_key',
  'supabase_db_url',
  'postgres_url',
  'database_url',
]

/** Whether `name` is one of Keywarden's own credentials (see {@link KEYWARDEN_CREDENTIALS}). */
export function isKeywardenCredential(name: string): boolean {
  return name.startsWith('keywarden_') || KEYWARDEN_CREDENTIALS.includes(name)
}

/** Every door but {@link CLI_DOOR} is an agent's. */
export function isAgentDoor(door: string): boolean {
  return door !== CLI_DOOR
}

/**
 * The rights of a door no rule covers. The CLI: everything. An agent door: list and inspect
 * metadata, use as the secret's `allowed_hosts` / `allowed_commands` say, reveal only what is
 * agent-visible, create new secrets, but not change or delete existing ones.
 */
export function defaultRights(door: string): DoorRights {
  const agent = isAgentDoor(door)
  return {
    canReadMetadata: true,
    canUseHosts: true,
    canUseCommands: true,
    canReveal: true,
    canWrite: !agent,
    canCreate: true,
  }
}

/** Whether `text` matches `pattern`, where `*` stands for any run of characters. */
export function matchesPattern(pattern: string, text: string): boolean {
  const parts = pattern.split('*').map((part) => part.replace(/[.+?^${}()|[\]\\-]/g, '\\$&'))
  return new RegExp(`^${parts.join('.*')}$`).test(text)
}

/** How specific a pattern is: its literal characters (an exact name beats any pattern). */
function specificity(pattern: string): number {
  return pattern.includes('*') ? pattern.replaceAll('*', '').length : 1_000
}

/**
 * The rule that decides for `door` and `name`: among those whose patterns match, the one with
 * the most specific door pattern, then the most specific secret pattern.
 */
export function ruleFor<Rule extends DoorPolicyRule>(
  rules: readonly Rule[],
  door: string,
  name: string,
): Rule | undefined {
  let best: Rule | undefined
  let bestScore: [number, number] = [-1, -1]
  for (const rule of rules) {
    if (!matchesPattern(rule.doorPattern, door) || !matchesPattern(rule.secretPattern, name)) {
      continue
    }
    const score: [number, number] = [specificity(rule.doorPattern), specificity(rule.secretPattern)]
    if (score[0] > bestScore[0] || (score[0] === bestScore[0] && score[1] > bestScore[1])) {
      best = rule
      bestScore = score
    }
  }
  return best
}

/** The rights `door` has over `name`: its rule's, else {@link defaultRights}. */
export function rightsFor(
  rules: readonly DoorPolicyRule[],
  door: string,
  name: string,
): DoorRights {
  const rule = ruleFor(rules, door, name)
  if (!rule) return defaultRights(door)
  const { doorPattern: _door, secretPattern: _secret, ...rights } = rule
  return rights
}

/**
 * `rights` limited to `ceiling` (each right only where both grant it): what an OAuth
 * connection's scopes leave of its door's rights. Without a ceiling, `rights` as they are.
 */
export function capRights(rights: DoorRights, ceiling: DoorRights | undefined): DoorRights {
  if (!ceiling) return rights
  return {
    canReadMetadata: rights.canReadMetadata && ceiling.canReadMetadata,
    canUseHosts: rights.canUseHosts && ceiling.canUseHosts,
    canUseCommands: rights.canUseCommands && ceiling.canUseCommands,
    canReveal: rights.canReveal && ceiling.canReveal,
    canWrite: rights.canWrite && ceiling.canWrite,
    canCreate: rights.canCreate && ceiling.canCreate,
  }
}

/** The {@link DoorRights} field of `action`. */
function rightOf(action: DoorAction): keyof DoorRights {
  return DOOR_RIGHTS.find((entry) => entry.action === action)?.right as keyof DoorRights
}

/** What {@link decideAccess} found. `reason` and `fix` hold names, never values. */
export type AccessDecision =
  | { allowed: true }
  | { allowed: false; reason: string; fix: string; floor: boolean }

const ACTION_WORDS: Record<DoorAction, string> = {
  read_metadata: 'read the metadata of',
  use_hosts: 'send toward its allowed hosts',
  use_commands: 'inject into its allowed commands',
  reveal: 'reveal',
  write: 'change or delete',
  create: 'create',
}

/** A shell-safe rendering of a door or pattern in a suggested command. */
function quoted(text: string): string {
  return /^[a-z0-9._:-]+$/.test(text) ? text : `'${text}'`
}

/** The `keywarden policy` command that grants `action` to `door` for `name`. */
export function allowCommand(door: string, name: string, action: DoorAction): string {
  return `keywarden policy set ${quoted(door)} ${quoted(name)} --allow ${action.replace('_', '-')}`
}

/**
 * Whether `door` may do `action` with `name` (`secret`: its metadata, null when it does not
 * exist). Per-secret conditions (agent-visible, allowed hosts and commands) stay the tools'
 * to check; this decides what the door itself may do.
 */
export function decideAccess(input: {
  door: string
  action: DoorAction
  name: string
  secret: SecretMetadata | null
  rules: readonly DoorPolicyRule[]
  /** Names this door itself reads as credentials (see {@link DoorOptions.ownCredentials}). */
  ownCredentials?: readonly string[]
  /** The most this door may do whatever the rules say (see {@link DoorOptions.ceiling}). */
  ceiling?: DoorRights
}): AccessDecision {
  const { door, action, name, secret, rules } = input
  const sensitive = action === 'write' || action === 'create' || action === 'reveal'
  if (isAgentDoor(door) && sensitive) {
    if (input.ownCredentials?.includes(name)) {
      return {
        allowed: false,
        floor: true,
        reason: `${name} is a credential the ${door} door itself uses: it may not write, create, rotate, delete or reveal it`,
        fix: `change it from a terminal with \`keywarden set ${name}\``,
      }
    }
    if (isKeywardenCredential(name)) {
      return {
        allowed: false,
        floor: true,
        reason: `${name} is one of Keywarden's own credentials: no agent door may write, rotate, delete or reveal it`,
        fix: `change it from a terminal with \`keywarden set ${name}\``,
      }
    }
    if (secret?.protected) {
      return {
        allowed: false,
        floor: true,
        reason: `${name} is protected: no agent door may write, rotate, delete or reveal it`,
        fix: `change it from a terminal (keywarden set ${name}), or lift the mark with \`keywarden edit ${name} --no-protected\``,
      }
    }
  }
  // Writing a secret that does not exist changes nothing: the store answers SECRET_NOT_FOUND.
  if (action === 'write' && secret === null) return { allowed: true }
  const ruled = rightsFor(rules, door, name)
  if (capRights(ruled, input.ceiling)[rightOf(action)]) return { allowed: true }
  if (ruled[rightOf(action)]) {
    return {
      allowed: false,
      floor: false,
      reason: `the ${door} connection was not granted the scope to ${ACTION_WORDS[action]} ${name}`,
      fix: `the user can connect again and approve ${scopeFor(action)}`,
    }
  }
  return {
    allowed: false,
    floor: false,
    reason: `the door policy does not let ${door} ${ACTION_WORDS[action]} ${name}`,
    fix: `the user can allow it with \`${allowCommand(door, name, action)}\``,
  }
}

/** The OAuth scope that carries `action` (see `src/oauth/`'s `rightsForScopes`). */
function scopeFor(action: DoorAction): string {
  if (action === 'read_metadata') return 'secrets:metadata'
  if (action === 'write' || action === 'create') return 'secrets:write'
  return 'secrets:use'
}

/** Options for {@link restrictToDoor}. */
export interface DoorOptions {
  /** The door's name, or a function asked at each access (an MCP client names itself late). */
  door: string | (() => string)
  /**
   * How long the policy's rules are reused before they are read again, in ms. Default 5 000:
   * a policy change reaches running doors within that time.
   */
  policyTtlMs?: number
  /** The clock, in ms (tests). Default `Date.now`. */
  now?: () => number
  /**
   * Names the door reads as its own credentials beside Keywarden's (the edge plugin's
   * `github_token`, which its GitHub routes use): at this door they are floors too. Without
   * it a model could create one in the vault where the door so far read it from the
   * environment, and so choose the door's identity.
   */
  ownCredentials?: readonly string[]
  /**
   * The most the door may do, whatever the rules grant: an OAuth connection's scopes
   * (`rightsForScopes`). Refusals it causes name the missing scope.
   */
  ceiling?: DoorRights
}

/** A {@link VaultClient} restricted to one door's rights; see {@link restrictToDoor}. */
export interface DoorClient extends VaultClient {
  /** The door's name now. */
  readonly door: string
  /**
   * Resolves with the secret's metadata (null when it does not exist, and at the CLI door,
   * which needs no metadata when a right is granted) when the door may do `action` with
   * `name`; otherwise audits the refusal and throws ACCESS_DENIED with the fix.
   */
  authorize(action: DoorAction, name: string): Promise<SecretMetadata | null>
  /** The rights the door has over `name` (what `keywarden policy check` shows). */
  rights(name: string): Promise<DoorRights>
}

const DEFAULT_POLICY_TTL_MS = 5_000

// Agent doors cannot grant themselves more than a new secret gets: who may read it, where it
// may go and whether it is protected are the user's to set.
const ACCESS_FIELDS = ['agentVisible', 'allowedHosts', 'allowedCommands', 'protected'] as const

/**
 * Wraps `client` so that everything `door` does passes the per-door policy:
 * - writes (store over, rotate, stage/promote/discard a rotation, delete) need `write`, a new
 *   secret needs `create`, and an agent door may not set a secret's access fields;
 * - listings (`listSecrets`, expiring, metrics, alerts, the audit log) keep only secrets the
 *   door may `read_metadata`, and `listSecrets` reports each secret as this door may use it:
 *   no allowed hosts without `use_hosts`, no allowed commands without `use_commands`, not
 *   agent-visible without `reveal` (nor ever for a protected secret or an own credential).
 * `getSecret`/`getSecrets` are left to the door's tools, which first call
 * {@link DoorClient.authorize} or check the effective metadata above: a door also reads its
 * own credentials (the edge plugin its bearer token) through the same client.
 */
export function restrictToDoor(client: VaultClient, options: DoorOptions): DoorClient {
  const doorName = typeof options.door === 'function' ? options.door : () => options.door as string
  const ttl = options.policyTtlMs ?? DEFAULT_POLICY_TTL_MS
  const now = options.now ?? Date.now
  let cached: { rules: StoredDoorPolicyRule[]; at: number } | undefined

  const rules = async (): Promise<readonly DoorPolicyRule[]> => {
    if (cached && now() - cached.at < ttl) return cached.rules
    const loaded = await client.listDoorPolicies()
    cached = { rules: loaded, at: now() }
    return loaded
  }

  const rightsOf = (loaded: readonly DoorPolicyRule[], door: string, name: string) =>
    capRights(rightsFor(loaded, door, name), options.ceiling)

  const find = async (name: string) =>
    (await client.listSecrets()).find((secret) => secret.name === name) ?? null

  // Audit first: the refusal is committed before it is answered.
  const refuse = async (
    name: string,
    action: DoorAction,
    reason: string,
    fix: string,
  ): Promise<never> => {
    await client.commitAccess({
      secretName: name,
      accessType: 'denied',
      success: false,
      errorMessage: `door policy: ${action} refused: ${reason}`.slice(0, 500),
    })
    throw new KeywardenError('ACCESS_DENIED', `${reason}; ${fix}`, { secretName: name })
  }

  const authorize = async (action: DoorAction, name: string, known?: SecretMetadata | null) => {
    validateSecretName(name)
    const door = doorName()
    const loaded = await rules()
    // The floors are for agent doors only, so the CLI needs the secret's metadata only when a
    // rule takes the right away: an import of many secrets does not list the vault each time.
    if (
      known === undefined &&
      !isAgentDoor(door) &&
      rightsOf(loaded, door, name)[rightOf(action)]
    ) {
      return null
    }
    const secret = known === undefined ? await find(name) : known
    const decision = decideAccess({
      door,
      action,
      name,
      secret,
      rules: loaded,
      ...(options.ownCredentials ? { ownCredentials: options.ownCredentials } : {}),
      ...(options.ceiling ? { ceiling: options.ceiling } : {}),
    })
    if (!decision.allowed) await refuse(name, action, decision.reason, decision.fix)
    return secret
  }

  // Agent doors may not set the access fields, whether storing a value or only metadata.
  const refuseAccessFields = async (name: string, metadata: StoreSecretInput) => {
    if (isAgentDoor(doorName())) {
      const field = ACCESS_FIELDS.find((key) => metadata[key] !== undefined)
      if (field) {
        await refuse(
          name,
          'write',
          `an agent door cannot set ${field} (who may read a secret and where it may go are the user's to decide)`,
          `the user sets it with \`keywarden edit ${name}\``,
        )
      }
    }
  }

  const authorizeStore = async (name: string, metadata: StoreSecretInput) => {
    validateSecretName(name)
    await refuseAccessFields(name, metadata)
    const rights = rightsOf(await rules(), doorName(), name)
    if (!isAgentDoor(doorName()) && rights.canWrite && rights.canCreate) return
    const secret = await find(name)
    await authorize(secret === null ? 'create' : 'write', name, secret)
  }

  const readable = async <T>(items: T[], nameOf: (item: T) => string | null): Promise<T[]> => {
    const loaded = await rules()
    const door = doorName()
    return items.filter((item) => {
      const name = nameOf(item)
      return name === null || name === '*' || rightsOf(loaded, door, name).canReadMetadata
    })
  }

  /** Refuses (audited) a door that may not read `name`'s metadata. */
  const authorizeMetadata = async (name: string): Promise<void> => {
    if (!rightsOf(await rules(), doorName(), name).canReadMetadata) {
      await authorize('read_metadata', name, null)
    }
  }

  const effective = (secret: SecretMetadata, loaded: readonly DoorPolicyRule[]): SecretMetadata => {
    const door = doorName()
    const rights = rightsOf(loaded, door, secret.name)
    const own =
      isAgentDoor(door) &&
      (secret.protected ||
        isKeywardenCredential(secret.name) ||
        (options.ownCredentials?.includes(secret.name) ?? false))
    return {
      ...secret,
      agentVisible: secret.agentVisible && rights.canReveal && !own,
      allowedHosts: rights.canUseHosts ? secret.allowedHosts : [],
      allowedCommands: rights.canUseCommands ? secret.allowedCommands : [],
    }
  }

  return {
    get accessedBy() {
      return client.accessedBy
    },
    get door() {
      return doorName()
    },
    authorize: (action, name) => authorize(action, name),
    async rights(name) {
      validateSecretName(name)
      return rightsOf(await rules(), doorName(), name)
    },
    getSecret: (name, getOptions) => client.getSecret(name, getOptions),
    getSecrets: (names): Promise<Map<string, SecretResult>> => client.getSecrets(names),
    async storeSecret(name, value, metadata = {}) {
      await authorizeStore(name, metadata)
      return client.storeSecret(name, value, metadata)
    },
    async storeSecretReporting(name, value, metadata = {}) {
      await authorizeStore(name, metadata)
      return client.storeSecretReporting(name, value, metadata)
    },
    async updateSecretMetadata(name, metadata) {
      validateSecretName(name)
      await refuseAccessFields(name, metadata)
      await authorize('write', name)
      return client.updateSecretMetadata(name, metadata)
    },
    async rotateSecret(name, value, rotateOptions) {
      await authorize('write', name)
      return client.rotateSecret(name, value, rotateOptions)
    },
    async stageRotation(name, value) {
      await authorize('write', name)
      return client.stageRotation(name, value)
    },
    async promoteRotation(name, promoteOptions) {
      await authorize('write', name)
      return client.promoteRotation(name, promoteOptions)
    },
    async discardRotation(name) {
      await authorize('write', name)
      return client.discardRotation(name)
    },
    async deleteSecret(name) {
      await authorize('write', name)
      return client.deleteSecret(name)
    },
    async listSecrets() {
      const [secrets, loaded] = await Promise.all([client.listSecrets(), rules()])
      const door = doorName()
      return secrets
        .filter((secret) => rightsOf(loaded, door, secret.name).canReadMetadata)
        .map((secret) => effective(secret, loaded))
    },
    async checkExpiringSecrets(days, expiringOptions) {
      return readable(await client.checkExpiringSecrets(days, expiringOptions), (s) => s.name)
    },
    async secretMetrics(metricOptions) {
      return readable(await client.secretMetrics(metricOptions), (metric) => metric.name)
    },
    async secretAlerts(filter) {
      return readable(await client.secretAlerts(filter), (alert) => alert.secretName)
    },
    claimNotifications: (claims) => client.claimNotifications(claims),
    releaseNotifications: (claims) => client.releaseNotifications(claims),
    async queryAudit(filter) {
      if (filter?.secretName !== undefined) await authorizeMetadata(filter.secretName)
      return readable(await client.queryAudit(filter), (record) => record.secretName)
    },
    auditActivity: async (filter) => {
      if (filter.secretName !== undefined) await authorizeMetadata(filter.secretName)
      if (filter.groupBy !== 'secret') return client.auditActivity(filter)
      return readable(await client.auditActivity(filter), (point) => point.series)
    },
    auditAccessors: async (filter) => {
      if (filter.secretName !== undefined) await authorizeMetadata(filter.secretName)
      return readable(await client.auditAccessors(filter), (row) => row.secretName)
    },
    auditFailures: async (filter) => {
      if (filter.secretName !== undefined) await authorizeMetadata(filter.secretName)
      return readable(await client.auditFailures(filter), (row) => row.secretName)
    },
    auditRotations: async (range) =>
      readable(await client.auditRotations(range), (row) => row.secretName),
    auditIncidents: async (range) =>
      readable(await client.auditIncidents(range), (row) => row.secretName),
    listDoorPolicies: () => client.listDoorPolicies(),
    async setDoorPolicy(rule) {
      if (isAgentDoor(doorName())) {
        throw new KeywardenError(
          'ACCESS_DENIED',
          'only the CLI changes the door policy (keywarden policy set)',
        )
      }
      cached = undefined
      await client.setDoorPolicy(rule)
    },
    async deleteDoorPolicy(doorPattern, secretPattern) {
      if (isAgentDoor(doorName())) {
        throw new KeywardenError(
          'ACCESS_DENIED',
          'only the CLI changes the door policy (keywarden policy rm)',
        )
      }
      cached = undefined
      return client.deleteDoorPolicy(doorPattern, secretPattern)
    },
    // The OAuth server's state belongs to the edge plugin's own endpoints and the CLI, never to
    // what an agent asks for.
    async oauthCall(operation, args) {
      if (isAgentDoor(doorName())) {
        throw new KeywardenError('ACCESS_DENIED', 'no agent door manages OAuth connections')
      }
      return client.oauthCall(operation, args)
    },
    withAccessor: (accessedBy) => restrictToDoor(client.withAccessor(accessedBy), options),
    clearSecretCache: (name) => client.clearSecretCache(name),
    recordAccess: (event) => client.recordAccess(event),
    commitAccess: (events) => client.commitAccess(events),
    verifyAuditLog: (verifyOptions) => client.verifyAuditLog(verifyOptions),
    health: () => client.health(),
    close: (closeOptions) => client.close(closeOptions),
  }
}
