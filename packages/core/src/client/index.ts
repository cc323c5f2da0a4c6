/**
 * The vault client every front door uses: cache → vault → environment, with one audit trail.
 *
 * - Cache: values in memory for a TTL (5 minutes by default), bounded, one fetch shared by
 *   concurrent misses, evicted the moment any client changes the secret (NOTIFY), and served
 *   stale for a bounded window when the vault is unreachable.
 * - Vault: the configured store; the database audits each read in the same transaction.
 * - Environment: `github_token` ↔ `GITHUB_TOKEN` (Edge Function secrets are environment
 *   variables too), plus explicit mappings.
 * - Audit: what the database cannot see — cache hits (aggregated per minute), environment
 *   fallbacks, stale serves and errors the client met — is buffered and written in batches,
 *   off the hot path, and kept while the database is down.
 *
 * Runtime-neutral: stores are imported only when chosen (see {@link openStore}).
 * @module
 */
import {
  AuditBuffer,
  type AuditBufferOptions,
  type AuditBufferStats,
  type AuditEventInput,
} from '../audit/index.ts'
import { SecretCache, type SecretCacheOptions, type SecretCacheStats } from '../cache/index.ts'
import {
  type Environment,
  openStore,
  resolveStoreConfig,
  type StoreConfig,
} from '../config/index.ts'
import {
  isKeywardenError,
  KeywardenError,
  type KeywardenErrorCode,
  validateSecretMetadata,
  validateSecretName,
  validateSecretValue,
} from '../errors/index.ts'
import { LATEST_SCHEMA_VERSION } from '../migrate/index.ts'
import {
  type AccessorSummary,
  type ActivityFilter,
  type ActivityPoint,
  type AuditRange,
  accessorFromRow,
  activityArguments,
  activityFromRow,
  type FailureGroup,
  failureFromRow,
  type IncidentRun,
  incidentRunFromRow,
  periodArguments,
  type SecretRangeFilter,
  secretRangeArguments,
  type ValueChange,
  valueChangeFromRow,
} from '../store/dashboard.ts'
import type {
  AlertFilter,
  AuditAnchor,
  AuditFilter,
  AuditRecord,
  AuditVerification,
  DoorPolicyRule,
  ExpiringSecret,
  NotificationClaim,
  RotationResult,
  SecretAlert,
  SecretMetadata,
  SecretMetric,
  SecretStore,
  StoredDoorPolicyRule,
  StoredSecret,
  StoreKind,
  StoreSecretInput,
} from '../store/index.ts'

/** Which tier served a value. */
export type SecretSource = 'cache' | 'vault' | 'env'

/** A secret's value and where it came from. */
export interface SecretResult {
  name: string
  value: string
  source: SecretSource
  /** True when the vault was unreachable and an expired cache entry was served. */
  stale: boolean
  /** The vault version, or null for a value from the environment. */
  version: number | null
}

/** Options for {@link createVaultClient}. */
export interface VaultClientOptions {
  /** A store, or its configuration. Default: {@link resolveStoreConfig} of `env`. */
  store?: SecretStore | StoreConfig
  /** The environment for configuration and the env tier. Default: the runtime's. */
  env?: Environment
  /**
   * Who is asking, as written to the audit log: `cli`, `mcp:claude-desktop`, … Default
   * `keywarden`. A function is asked at each access, for a front door that learns who it
   * serves after the client exists (an MCP server hears the client's name at `initialize`).
   */
  accessedBy?: string | (() => string)
  /** Cache settings: `ttlMs` (default 5 min), `maxEntries`, `staleIfErrorMs`. */
  cache?: Omit<SecretCacheOptions, 'now'>
  /** Fall back to environment variables when the vault has no value or is down. Default true. */
  envFallback?: boolean
  /** Explicit secret name → environment variable mappings, beside `name` → `NAME`. */
  envNames?: Readonly<Record<string, string>>
  /** Names to load in one round trip as soon as the store opens. */
  preload?: readonly string[]
  /**
   * Subscribe to the store's change notifications, so that a change made anywhere evicts the
   * cache entry at once (default true). A process that reads its secrets once and keeps no
   * cache worth evicting (`keywarden run`) turns it off: on the postgres store the
   * subscription is a connection of its own, LISTENing.
   */
  changeNotifications?: boolean
  /** Audit buffer settings. */
  audit?: Omit<AuditBufferOptions, 'write' | 'now'>
  /** The clock, in ms (tests). Default `Date.now`. */
  now?: () => number
}

/** What {@link VaultClient.health} reports. */
export interface VaultHealth {
  /** The tier the client serves from now: the vault, the environment only, or nothing. */
  secret_source: 'vault' | 'env' | 'none'
  backend: { kind: StoreKind | 'unconfigured'; target: string; reachable: boolean; error?: string }
  accessed_by: string
  /** The cache's counters, snake_case like every machine-readable answer. */
  cache: {
    hits: number
    misses: number
    stale_served: number
    loads: number
    evictions: number
    invalidations: number
    size: number
    ttl_ms: number
  }
  /** The audit buffer's counters. */
  audit: {
    buffered: number
    written: number
    dropped: number
    failed_writes: number
    last_error_code: KeywardenErrorCode | null
  }
  /** Whether the client hears changes made elsewhere (NOTIFY) and evicts at once. */
  change_notifications: boolean
  /**
   * The latest migration applied to the vault's database (`20261129000005`); null when none
   * is, when the store cannot tell (Supabase's Data API) or the vault is unreachable.
   */
  schema_version: string | null
}

/** The vault client. Create one per process and share it. */
export interface VaultClient {
  readonly accessedBy: string
  /** cache → vault → environment. Throws SECRET_NOT_FOUND when no tier has it. */
  getSecret(name: string, options?: { version?: 'current' | 'previous' }): Promise<SecretResult>
  /** Many names, one vault round trip for the uncached ones. Names found nowhere are absent. */
  getSecrets(names: readonly string[]): Promise<Map<string, SecretResult>>
  /** Creates, or replaces as a new version. Returns the vault id. */
  storeSecret(name: string, value: string, metadata?: StoreSecretInput): Promise<string>
  /**
   * Changes metadata only, keeping the value and its version: what `metadata` leaves out keeps
   * its value. Returns the version. SECRET_NOT_FOUND when there is no such secret.
   */
  updateSecretMetadata(name: string, metadata: StoreSecretInput): Promise<number>
  /**
   * Stores and says what happened: `created`, `replaced` (a new version) or `unchanged` (the
   * same value again, which makes no new version).
   */
  storeSecretReporting(
    name: string,
    value: string,
    metadata?: StoreSecretInput,
  ): Promise<{ id: string; outcome: StoreOutcome; version: number }>
  /** Replaces the value; the previous one is served on request for the grace period (default 24 h). */
  rotateSecret(
    name: string,
    value: string,
    options?: { gracePeriodSeconds?: number },
  ): Promise<RotationResult>
  /**
   * Stores `value` as the secret's pending value; the current one keeps serving until
   * {@link VaultClient.promoteRotation}. Returns when it was staged.
   */
  stageRotation(name: string, value: string): Promise<Date>
  /**
   * Makes the staged value current (the previous one served for the grace period, default
   * 24 h). With `verify`, the staged value is checked first; a failed check throws
   * `VERIFICATION_FAILED` and changes nothing: the current value keeps serving.
   */
  promoteRotation(
    name: string,
    options?: { gracePeriodSeconds?: number; verify?: SecretVerifier },
  ): Promise<RotationResult>
  /** Drops the staged value; false when none was staged. */
  discardRotation(name: string): Promise<boolean>
  deleteSecret(name: string): Promise<boolean>
  listSecrets(): Promise<SecretMetadata[]>
  /** `now` evaluates the windows at another instant (tests, backfills). */
  checkExpiringSecrets(days?: number, options?: { now?: Date }): Promise<ExpiringSecret[]>
  /** Per-secret usage: accesses in 24 h and 7 days, failure rate, accessors, rotation state. */
  secretMetrics(options?: { now?: Date }): Promise<SecretMetric[]>
  /** Suspicious access patterns and overdue secrets between `since` and `now`. */
  secretAlerts(filter?: AlertFilter): Promise<SecretAlert[]>
  /**
   * Claims notifications so that each is sent once, whoever else claims it; returns those this
   * call claimed. A sender that could not deliver gives them back with `releaseNotifications`.
   */
  claimNotifications(claims: readonly NotificationClaim[]): Promise<NotificationClaim[]>
  releaseNotifications(claims: readonly NotificationClaim[]): Promise<number>
  queryAudit(filter?: AuditFilter): Promise<AuditRecord[]>
  /**
   * Walks the audit log's hash chain and reports the first row where it breaks. With `anchor`
   * (the last row of an earlier verification, kept outside the database) a cut-off tail is
   * caught too.
   */
  verifyAuditLog(options?: { anchor?: AuditAnchor }): Promise<AuditVerification>
  /** Audit events per time bucket and door, accessor or secret (the dashboard's chart). */
  auditActivity(filter: ActivityFilter): Promise<ActivityPoint[]>
  /** Every accessor of every secret (or of one) in a period, with first and last seen. */
  auditAccessors(filter: SecretRangeFilter): Promise<AccessorSummary[]>
  /** Failed and refused accesses in a period, grouped (the 1000 largest groups). */
  auditFailures(filter: SecretRangeFilter): Promise<FailureGroup[]>
  /** Value changes in a period, each against the secret's rotation policy. */
  auditRotations(range: AuditRange): Promise<ValueChange[]>
  /** Runs of the leaked-secret playbook in a period. */
  auditIncidents(range: AuditRange): Promise<IncidentRun[]>
  /** The per-door policy's rules (see `../policy`). */
  listDoorPolicies(): Promise<StoredDoorPolicyRule[]>
  /** Creates or replaces the rule for its door and secret patterns. */
  setDoorPolicy(rule: DoorPolicyRule): Promise<void>
  /** Drops one rule; false when there was none. */
  deleteDoorPolicy(doorPattern: string, secretPattern: string): Promise<boolean>
  /**
   * One operation of the OAuth authorization server's state (`SecretStore.oauthCall`); use the
   * typed operations of `createOAuthVault` (`src/oauth/`) rather than this.
   */
  oauthCall(operation: string, args: Record<string, unknown>): Promise<unknown>
  /**
   * The same client (store, cache, audit buffer) acting under another accessor: what a door
   * that serves many callers (the edge plugin's OAuth connections) audits each one as. Closing
   * a view closes the client.
   */
  withAccessor(accessedBy: string): VaultClient
  /** Drops one name, or everything, from the cache. */
  clearSecretCache(name?: string): void
  /**
   * Records an access the database did not see — a front door's refusal, say — in the audit
   * log under this client's accessor, through the same buffer as cache hits. Never a value.
   */
  recordAccess(event: {
    secretName: string
    accessType: string
    success: boolean
    errorMessage?: string
  }): void
  /**
   * Records an access at once and resolves only when the audit log has it: the door's call
   * for a `use`, a `reveal` or a refusal, made *before* the value leaves the process (or the
   * refusal is answered), so that a process killed a moment later still left its row. Same
   * fields as {@link VaultClient.recordAccess}; one event or several (one write).
   *
   * Fails closed: when the row cannot be written it rejects (typically `VAULT_UNAVAILABLE`),
   * and the door must then not release the value — it answers that error instead.
   */
  commitAccess(events: AccessEvent | readonly AccessEvent[]): Promise<void>
  health(): Promise<VaultHealth>
  /**
   * Flushes the audit buffer and closes the store. `timeoutMs` (default 5 s) bounds how long
   * it keeps trying to write buffered audit events to an unreachable vault; what is left is
   * counted as dropped. A short-lived CLI passes a short one.
   */
  close(options?: { timeoutMs?: number }): Promise<void>
}

/** What storing a value did: see {@link VaultClient.storeSecretReporting}. */
export type StoreOutcome = 'created' | 'replaced' | 'unchanged'

/** An access a front door records: see {@link VaultClient.commitAccess}. Never a value. */
export interface AccessEvent {
  secretName: string
  accessType: string
  success: boolean
  errorMessage?: string
}

const DEFAULT_GRACE_PERIOD_SECONDS = 24 * 60 * 60

/** What a verification check of a staged value found. `detail` never holds the value. */
export interface VerificationResult {
  ok: boolean
  detail: string
}

/** Checks a candidate value before it becomes current (e.g. a GitHub token against the API). */
export type SecretVerifier = (candidate: {
  name: string
  value: string
}) => Promise<VerificationResult>

/** The environment variable a secret falls back to: `github_token` → `GITHUB_TOKEN`. */
export function environmentVariableFor(name: string): string {
  return name.toUpperCase().replace(/[^A-Z0-9]/g, '_')
}

/** The runtime's environment: Deno's, else Node's, else empty. */
export function runtimeEnvironment(): Environment {
  const runtime = globalThis as {
    Deno?: { env: { toObject(): Record<string, string> } }
    process?: { env?: Environment }
  }
  if (runtime.Deno) {
    try {
      return runtime.Deno.env.toObject()
    } catch {
      return {} // no --allow-env
    }
  }
  return runtime.process?.env ?? {}
}

/** Creates a client. Configuration errors are thrown here; the store opens on first use. */
export function createVaultClient(options: VaultClientOptions = {}): VaultClient {
  const env = options.env ?? runtimeEnvironment()
  const { accessedBy: accessorOption = 'keywarden' } = options
  const defaultAccessor =
    typeof accessorOption === 'function' ? accessorOption : () => accessorOption
  const now = options.now ?? Date.now
  const envFallback = options.envFallback ?? true
  const envNames = options.envNames ?? {}
  const storeOption = options.store ?? resolveStoreConfig(env)

  const cache = new SecretCache<StoredSecret>({ ...options.cache, now })
  let opening: Promise<SecretStore> | undefined
  let unsubscribe: (() => Promise<void>) | undefined
  let closed = false
  // Names the environment has served, so health() knows that tier can answer for them.
  const servedFromEnv = new Set<string>()
  // One set per getSecrets batch in flight, collecting the names evicted meanwhile: the batch
  // may have read them before the change, so its answer for them must not be cached.
  const batchesInFlight = new Set<Set<string>>()

  // Drops one name, or everything (`*`), after a change here or elsewhere (NOTIFY).
  const evict = (name: string) => {
    if (name === '*') cache.clear()
    else cache.delete(name)
    for (const evicted of batchesInFlight) evicted.add(name)
  }

  // The store as opened, before the schema check: what health() reports on.
  const openedStore = (): Promise<SecretStore> => {
    if (closed) return Promise.reject(new KeywardenError('INTERNAL', 'the vault client is closed'))
    opening ??= (async () => {
      const opened = isStore(storeOption) ? storeOption : await openStore(storeOption)
      if (opened.subscribe && options.changeNotifications !== false) {
        unsubscribe = await opened.subscribe(evict)
      }
      return opened
    })()
    // A store that failed to open is retried on the next call, not remembered as failed.
    opening.catch(() => {
      opening = undefined
    })
    return opening
  }

  // The store every call uses: opened, and its schema checked once (again after a failure).
  let checking: Promise<SecretStore> | undefined
  const store = (): Promise<SecretStore> => {
    checking ??= openedStore().then(async (opened) => {
      await refuseNewerSchema(opened)
      return opened
    })
    checking.catch(() => {
      checking = undefined
    })
    return checking
  }

  const audit = new AuditBuffer({
    ...options.audit,
    now,
    write: async (events) => (await store()).logAccessBatch(events),
  })
  // Everything that names who asks, built once per accessor: `withAccessor` gives a door's
  // request a view under its own name that shares this client's store, cache and audit buffer.
  const build = (accessor: () => string): VaultClient => {
    const record = (event: Omit<AuditEventInput, 'accessed_by'> & { accessed_by?: string }) => {
      // Set on the caller's fresh literal rather than spread into a copy: this runs on every hit.
      event.accessed_by = accessor()
      audit.record(event as AuditEventInput)
    }
    const recordFailure = (name: string, accessType: string, error: unknown) =>
      record({
        secret_name: name,
        access_type: accessType,
        success: false,
        error_message: isKeywardenError(error) ? `${error.code}: ${error.message}` : 'INTERNAL',
      })

    const fromEnvironment = (name: string): string | undefined => {
      if (!envFallback) return undefined
      const variable = envNames[name] ?? environmentVariableFor(name)
      const value = env[variable]
      return value === undefined || value === '' ? undefined : value
    }

    const loadFromVault = async (name: string): Promise<StoredSecret> => {
      const secret = await (await store()).getSecret(name, accessor())
      if (!secret) throw notFound(name)
      return secret
    }

    // The vault had no value, or could not be asked: try the environment, else rethrow.
    const fallBack = (name: string, error: unknown): SecretResult => {
      const unavailable = isKeywardenError(error, 'VAULT_UNAVAILABLE')
      const notInVault = isKeywardenError(error, 'SECRET_NOT_FOUND')
      const value = unavailable || notInVault ? fromEnvironment(name) : undefined
      if (value !== undefined) {
        servedFromEnv.add(name)
        record({
          secret_name: name,
          access_type: 'env_fallback',
          success: true,
          source: 'env',
          ...(unavailable ? { error_message: 'VAULT_UNAVAILABLE' } : {}),
        })
        return { name, value, source: 'env', stale: false, version: null }
      }
      // The database already audited a vault read that found nothing.
      if (!notInVault) recordFailure(name, 'read', error)
      if (notInVault) {
        throw new KeywardenError(
          'SECRET_NOT_FOUND',
          `secret ${name} is in neither the vault nor the environment (${envNames[name] ?? environmentVariableFor(name)})`,
          { secretName: name },
        )
      }
      throw error
    }

    const resultFrom = (name: string, secret: StoredSecret, source: 'hit' | 'loaded' | 'stale') => {
      if (source === 'hit') {
        record({ secret_name: name, access_type: 'cache_hit', success: true, source: 'cache' })
      } else if (source === 'stale') {
        record({
          secret_name: name,
          access_type: 'read',
          success: true,
          source: 'stale',
          secret_version: secret.version,
          error_message: 'VAULT_UNAVAILABLE: served a stale cached value',
        })
      }
      return {
        name,
        value: secret.value,
        source: source === 'loaded' ? 'vault' : 'cache',
        stale: source === 'stale',
        version: secret.version,
      } satisfies SecretResult
    }

    // Writes audit themselves in SQL, but a write that raises rolls its audit row back with it.
    const audited = async <T>(name: string, accessType: string, work: () => Promise<T>) => {
      try {
        return await work()
      } catch (error) {
        recordFailure(name, accessType, error)
        throw error
      }
    }

    const client: VaultClient = {
      get accessedBy() {
        return accessor()
      },

      withAccessor: (accessedBy) => build(() => accessedBy),

      async getSecret(name, { version = 'current' } = {}) {
        validateSecretName(name)
        if (version === 'previous') {
          const previous = await audited(name, 'read', async () =>
            (await store()).getSecret(name, accessor(), 'previous'),
          )
          if (!previous) {
            throw new KeywardenError(
              'SECRET_NOT_FOUND',
              `secret ${name} has no previous value in its grace period`,
              { secretName: name },
            )
          }
          return {
            name,
            value: previous.value,
            source: 'vault',
            stale: false,
            version: previous.version,
          }
        }
        const cached = cache.getFresh(name)
        if (cached) return resultFrom(name, cached, 'hit')
        try {
          const loaded = await cache.load(name, loadFromVault)
          return resultFrom(name, loaded.value, loaded.source)
        } catch (error) {
          return fallBack(name, error)
        }
      },

      async getSecrets(names) {
        const unique = [...new Set(names)]
        for (const name of unique) validateSecretName(name)
        const results = new Map<string, SecretResult>()
        const missing: string[] = []
        for (const name of unique) {
          const cached = cache.getFresh(name)
          if (cached) results.set(name, resultFrom(name, cached, 'hit'))
          else missing.push(name)
        }
        if (missing.length === 0) return results

        let fetched: Map<string, StoredSecret | null> | undefined
        let failure: unknown
        const evicted = new Set<string>()
        batchesInFlight.add(evicted)
        try {
          fetched = await (await store()).getSecrets(missing, accessor())
        } catch (error) {
          failure = error
        } finally {
          batchesInFlight.delete(evicted)
        }
        for (const name of missing) {
          const secret = fetched?.get(name)
          if (secret) {
            // Changed while the batch was in flight: serve what was read, but do not keep it.
            if (!evicted.has(name) && !evicted.has('*')) cache.set(name, secret)
            results.set(name, resultFrom(name, secret, 'loaded'))
            continue
          }
          try {
            // Reuses the cache's stale-if-error rule: a recent entry is served if the vault is down.
            const error = failure ?? notFound(name)
            const stale = await cache.load(name, () => Promise.reject(error))
            results.set(name, resultFrom(name, stale.value, stale.source))
          } catch (error) {
            try {
              results.set(name, fallBack(name, error))
            } catch (fallbackError) {
              if (!isKeywardenError(fallbackError, 'SECRET_NOT_FOUND')) throw fallbackError
            }
          }
        }
        return results
      },

      async storeSecret(name, value, metadata = {}) {
        validateSecretName(name)
        validateSecretValue(value, name)
        validateSecretMetadata(metadata, now())
        return audited(name, 'store', async () => {
          const id = await (await store()).storeSecret(name, value, metadata, accessor())
          evict(name)
          return id
        })
      },

      async storeSecretReporting(name, value, metadata = {}) {
        validateSecretName(name)
        const versionOf = async () =>
          (await client.listSecrets()).find((secret) => secret.name === name)?.version
        const before = await versionOf()
        const id = await client.storeSecret(name, value, metadata)
        const after = (await versionOf()) ?? 1
        const outcome: StoreOutcome =
          before === undefined ? 'created' : after === before ? 'unchanged' : 'replaced'
        return { id, outcome, version: after }
      },

      async updateSecretMetadata(name, metadata) {
        validateSecretName(name)
        validateSecretMetadata(metadata, now())
        return audited(name, 'update_metadata', async () =>
          (await store()).updateSecretMetadata(name, metadata, accessor()),
        )
      },

      async rotateSecret(name, value, { gracePeriodSeconds = DEFAULT_GRACE_PERIOD_SECONDS } = {}) {
        validateSecretName(name)
        validateSecretValue(value, name)
        validateGracePeriod(gracePeriodSeconds)
        return audited(name, 'rotate', async () => {
          const result = await (await store()).rotateSecret(
            name,
            value,
            gracePeriodSeconds,
            accessor(),
          )
          evict(name)
          return result
        })
      },

      async stageRotation(name, value) {
        validateSecretName(name)
        validateSecretValue(value, name)
        return audited(name, 'stage_rotation', async () =>
          (await store()).stageRotation(name, value, accessor()),
        )
      },

      async promoteRotation(
        name,
        { gracePeriodSeconds = DEFAULT_GRACE_PERIOD_SECONDS, verify } = {},
      ) {
        validateSecretName(name)
        validateGracePeriod(gracePeriodSeconds)
        if (verify) await verifyStaged(name, verify)
        return audited(name, 'rotate', async () => {
          const result = await (await store()).promoteRotation(name, gracePeriodSeconds, accessor())
          evict(name)
          return result
        })
      },

      async discardRotation(name) {
        validateSecretName(name)
        return audited(name, 'discard_rotation', async () =>
          (await store()).discardRotation(name, accessor()),
        )
      },

      async deleteSecret(name) {
        validateSecretName(name)
        return audited(name, 'delete', async () => {
          const deleted = await (await store()).deleteSecret(name, accessor())
          evict(name)
          return deleted
        })
      },

      async listSecrets() {
        return audited('*', 'list', async () => (await store()).listSecrets(accessor()))
      },

      async checkExpiringSecrets(days = 7, { now: at } = {}) {
        if (!Number.isInteger(days) || days < 0 || days > 3650) {
          throw new KeywardenError('INVALID_ARGUMENT', 'days must be a whole number from 0 to 3650')
        }
        return audited('*', 'check_expiring', async () =>
          (await store()).checkExpiringSecrets(days, accessor(), at),
        )
      },

      async secretMetrics({ now: at } = {}) {
        return (await store()).secretMetrics(at)
      },

      async secretAlerts(filter = {}) {
        return (await store()).secretAlerts(filter)
      },

      async claimNotifications(claims) {
        if (claims.length === 0) return []
        return (await store()).claimNotifications(claims, accessor())
      },

      async releaseNotifications(claims) {
        if (claims.length === 0) return 0
        return (await store()).releaseNotifications(claims)
      },

      async queryAudit(filter = {}) {
        if (filter.secretName !== undefined) validateSecretName(filter.secretName)
        return (await store()).queryAudit(filter)
      },

      async verifyAuditLog({ anchor } = {}) {
        if (
          anchor !== undefined &&
          !(Number.isSafeInteger(anchor.id) && anchor.id > 0 && /^[0-9a-f]{64}$/.test(anchor.hash))
        ) {
          throw new KeywardenError(
            'INVALID_ARGUMENT',
            'an audit anchor is a row id and its hash (64 lower-case hex characters)',
          )
        }
        return (await store()).verifyAuditLog(anchor)
      },

      async auditActivity(filter) {
        if (filter.secretName !== undefined) validateSecretName(filter.secretName)
        const rows = await (await store()).dashboardQuery(
          'audit_activity',
          activityArguments(filter),
        )
        return rows.map(activityFromRow)
      },

      async auditAccessors(filter) {
        if (filter.secretName !== undefined) validateSecretName(filter.secretName)
        const args = secretRangeArguments(filter)
        return (await (await store()).dashboardQuery('audit_accessors', args)).map(accessorFromRow)
      },

      async auditFailures(filter) {
        if (filter.secretName !== undefined) validateSecretName(filter.secretName)
        const args = secretRangeArguments(filter)
        return (await (await store()).dashboardQuery('audit_failures', args)).map(failureFromRow)
      },

      async auditRotations(range) {
        const rows = await (await store()).dashboardQuery('audit_rotations', periodArguments(range))
        return rows.map(valueChangeFromRow)
      },

      async auditIncidents(range) {
        const rows = await (await store()).dashboardQuery('audit_incidents', periodArguments(range))
        return rows.map(incidentRunFromRow)
      },

      async listDoorPolicies() {
        return (await store()).listDoorPolicies()
      },

      async setDoorPolicy(rule) {
        await (await store()).setDoorPolicy(rule, accessor())
      },

      async deleteDoorPolicy(doorPattern, secretPattern) {
        return (await store()).deleteDoorPolicy(doorPattern, secretPattern, accessor())
      },

      async oauthCall(operation, args) {
        return (await store()).oauthCall(operation, args)
      },

      recordAccess({ secretName, accessType, success, errorMessage }) {
        validateSecretName(secretName)
        record({
          secret_name: secretName,
          access_type: accessType,
          success,
          ...(errorMessage === undefined ? {} : { error_message: errorMessage }),
        })
      },

      async commitAccess(events) {
        const list: readonly AccessEvent[] = Array.isArray(events)
          ? events
          : [events as AccessEvent]
        for (const { secretName } of list) validateSecretName(secretName)
        const by = accessor()
        await audit.commit(
          list.map(({ secretName, accessType, success, errorMessage }) => ({
            secret_name: secretName,
            accessed_by: by,
            access_type: accessType,
            success,
            ...(errorMessage === undefined ? {} : { error_message: errorMessage }),
          })),
        )
      },

      clearSecretCache(name) {
        evict(name ?? '*')
      },

      async health() {
        const configured = isStore(storeOption) ? storeOption : undefined
        let backend: VaultHealth['backend'] = {
          kind: configured?.kind ?? storeOption.kind,
          target: configured?.target ?? describeConfig(storeOption as StoreConfig),
          reachable: false,
        }
        let schemaVersion: string | null = null
        try {
          // Not store(): health reports a vault whose schema is too new (its version shows it).
          const opened = await openedStore()
          await opened.ping()
          backend = { kind: opened.kind, target: opened.target, reachable: true }
          // An agent from an older release does not know the request: the version is unknown.
          schemaVersion = (await opened.schemaVersion?.().catch(() => null)) ?? null
        } catch (error) {
          backend.error = isKeywardenError(error) ? error.code : 'INTERNAL'
        }
        const envServes = envFallback && knownNames().some((name) => fromEnvironment(name))
        return {
          secret_source: backend.reachable ? 'vault' : envServes ? 'env' : 'none',
          backend,
          accessed_by: accessor(),
          cache: cacheHealth(cache.stats(), options.cache?.ttlMs ?? 5 * 60_000),
          audit: auditHealth(audit.stats()),
          change_notifications: unsubscribe !== undefined,
          schema_version: schemaVersion,
        }
      },

      async close(closeOptions = {}) {
        if (closed) return
        try {
          await audit.close(closeOptions)
        } finally {
          closed = true
          const opened = await opening?.catch(() => undefined)
          await unsubscribe?.()
          await opened?.close()
        }
      },
    }

    // Reads the staged value and runs the check; the value goes to the verifier only.
    const verifyStaged = async (name: string, verify: SecretVerifier) => {
      const staged = await audited(name, 'read_pending', async () =>
        (await store()).getStagedSecret(name, accessor()),
      )
      if (staged === null) {
        throw new KeywardenError('SECRET_NOT_FOUND', `secret ${name} has no staged rotation`, {
          secretName: name,
        })
      }
      const result = await verify({ name, value: staged })
      if (!result.ok) {
        recordFailure(
          name,
          'verify_rotation',
          new KeywardenError('VERIFICATION_FAILED', result.detail),
        )
        throw new KeywardenError(
          'VERIFICATION_FAILED',
          `the staged value of ${name} failed its check (${result.detail}); the current value is still served`,
          { secretName: name },
        )
      }
    }
    return client
  }

  const client = build(defaultAccessor)

  const knownNames = () => [
    ...new Set([
      ...(options.preload ?? []),
      ...Object.keys(envNames),
      ...servedFromEnv,
      ...cache.keys(),
    ]),
  ]

  if (options.preload && options.preload.length > 0) {
    const preload = options.preload
    // Warm the cache in one round trip; a failure here surfaces on the first real read.
    void store()
      .then(() => client.getSecrets(preload))
      .catch(() => {})
  }
  return client
}

/**
 * Checked once, when the client first reaches the store: a vault migrated by a newer
 * Keywarden may have functions this client would call wrongly, so every door refuses it with
 * one clear error rather than failing call by call. A store that cannot tell (an older agent,
 * a failed query) is not refused here; its calls fail on their own.
 */
async function refuseNewerSchema(store: SecretStore): Promise<void> {
  const version = await store.schemaVersion?.().catch(() => null)
  if (typeof version === 'string' && version > LATEST_SCHEMA_VERSION) {
    throw new KeywardenError(
      'SCHEMA_TOO_NEW',
      `the vault's schema (${version}) is newer than this Keywarden knows (${LATEST_SCHEMA_VERSION}): upgrade Keywarden, e.g. npm install -g @keywarden/cli @keywarden/mcp-server`,
    )
  }
}

function cacheHealth(stats: SecretCacheStats, ttlMs: number): VaultHealth['cache'] {
  return {
    hits: stats.hits,
    misses: stats.misses,
    stale_served: stats.staleServed,
    loads: stats.loads,
    evictions: stats.evictions,
    invalidations: stats.invalidations,
    size: stats.size,
    ttl_ms: ttlMs,
  }
}

function auditHealth(stats: AuditBufferStats): VaultHealth['audit'] {
  return {
    buffered: stats.buffered,
    written: stats.written,
    dropped: stats.dropped,
    failed_writes: stats.failedWrites,
    last_error_code: stats.lastErrorCode ?? null,
  }
}

function validateGracePeriod(seconds: number): void {
  if (!Number.isFinite(seconds) || seconds < 0) {
    throw new KeywardenError('INVALID_ARGUMENT', 'gracePeriodSeconds must be 0 or more')
  }
}

function isStore(option: SecretStore | StoreConfig): option is SecretStore {
  return typeof (option as SecretStore).getSecret === 'function'
}

function describeConfig(config: StoreConfig): string {
  switch (config.kind) {
    case 'embedded':
      return config.home ?? 'KEYWARDEN_HOME'
    case 'postgres':
      return config.variable
    case 'supabase':
      return new URL(config.url).origin
  }
}

function notFound(name: string): KeywardenError {
  return new KeywardenError('SECRET_NOT_FOUND', `secret ${name} is not in the vault`, {
    secretName: name,
  })
}
