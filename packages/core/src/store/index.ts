/**
 * The store contract: one interface over the vault's SQL API, implemented by the embedded
 * (PGlite), postgres (direct connection) and supabase (supabase-js `.rpc()`) stores. Stores do
 * no caching and no fallback; the client above them does. Each method is one SQL function call,
 * so the database audits the access in the same transaction.
 * @module
 */
import type { AuditEvent } from '../audit/index.ts'
import type { DashboardArguments, DashboardFunction } from './dashboard.ts'

/** Which implementation a store is. */
export type StoreKind = 'embedded' | 'postgres' | 'supabase'

/** What a secret is, which sets its default rotation interval. */
export type SecretType = 'github_token' | 'api_key' | 'service_key' | 'signing_key' | 'other'

/** The secret types, in the order documentation lists them. */
export const SECRET_TYPES: readonly SecretType[] = [
  'github_token',
  'api_key',
  'service_key',
  'signing_key',
  'other',
]

/** A value read from the vault. */
export interface StoredSecret {
  value: string
  version: number
}

/** Names and metadata of a secret; never its value. */
export interface SecretMetadata {
  name: string
  description: string | null
  type: SecretType
  version: number
  createdAt: Date
  updatedAt: Date
  lastRotatedAt: Date | null
  expiresAt: Date | null
  /** Days between rotations; null when it rotates by hand. */
  rotationIntervalDays: number | null
  rotationDueAt: Date | null
  /** While set, the value before the last rotation is still served on request. */
  previousValidUntil: Date | null
  /** Whether the user lets agents read the value (the MCP server's `reveal_secret`). */
  agentVisible: boolean
  /**
   * Hosts an agent may send the secret to (the MCP server's `http_request`): lower-case host
   * names, optionally `*.`-prefixed and with `:port`. Empty: nowhere.
   */
  allowedHosts: string[]
  /**
   * Executables an agent may inject the secret into (the MCP server's `run_command`): bare
   * names match the executable's file name, absolute paths match exactly. Empty: none.
   */
  allowedCommands: string[]
  /** The user's mark: no agent door may write, rotate, delete or reveal it. */
  protected: boolean
}

/** Metadata given when storing; what is left out keeps its current value. */
export interface StoreSecretInput {
  description?: string
  type?: SecretType
  expiresAt?: Date
  rotationIntervalDays?: number
  /** Whether agents may read the value; a new secret is hidden from them. */
  agentVisible?: boolean
  /** Replaces the hosts an agent may send the secret to (at most 32; `[]` clears them). */
  allowedHosts?: string[]
  /** Replaces the executables an agent may inject the secret into (at most 32; `[]` clears). */
  allowedCommands?: string[]
  /** Marks the secret as out of every agent door's reach for writes and reveals. */
  protected?: boolean
}

/** What a rotation did. */
export interface RotationResult {
  /** The vault id of the new value. */
  id: string
  version: number
  /** Until when the previous value is served; null when it was dropped at once. */
  previousValidUntil: Date | null
}

/** How bad a leak of a secret would be, from its type's rotation policy. */
export type RiskLevel = 'low' | 'medium' | 'high' | 'critical'

/** An alert's severity, on the same scale as {@link RiskLevel}. */
export type Severity = RiskLevel

/** A secret whose expiry or rotation falls within the window asked for. */
export interface ExpiringSecret {
  name: string
  type: SecretType
  reason: 'expires' | 'rotation_due'
  dueAt: Date
  expiresAt: Date | null
  rotationDueAt: Date | null
  overdue: boolean
  riskLevel: RiskLevel
  /**
   * The reminder window the secret is in (`<reason>:<due>:upcoming` or `…:overdue`): one
   * notification per secret per window. A new due date is a new window.
   */
  reminderWindow: string
}

/** Usage of one secret as of a point in time (`secret_metrics`); counts are events, not rows. */
export interface SecretMetric {
  name: string
  type: SecretType
  riskLevel: RiskLevel
  accesses24h: number
  accesses7d: number
  failed7d: number
  /** Failed share of the 7 days' accesses, 0 to 1. */
  failureRate: number
  /** The accessors (services) that used it in the last 7 days. */
  accessors7d: string[]
  lastAccessedAt: Date | null
  lastRotatedAt: Date | null
  /** Seconds since the last rotation, or since creation when never rotated. */
  secondsSinceRotation: number
  rotationDueAt: Date | null
  expiresAt: Date | null
  /** When a rotation was staged and awaits promotion; null when none is. */
  rotationStagedAt: Date | null
}

/** What an alert is about. */
export type AlertKind =
  | 'failed_access_burst'
  | 'new_accessor'
  | 'access_spike'
  | 'rotation_overdue'
  | 'secret_expired'

/** A suspicious pattern or an overdue secret (`secret_alerts`). */
export interface SecretAlert {
  /** Identifies the alert across calls: the key that "new alert" notifications claim. */
  key: string
  kind: AlertKind
  severity: Severity
  secretName: string | null
  accessedBy: string | null
  occurredAt: Date
  /** Counts and times behind the alert; never a value. */
  evidence: Record<string, unknown>
}

/** Which alerts to compute: from `since` (default 24 hours before `now`) to `now`. */
export interface AlertFilter {
  since?: Date
  /** The instant to evaluate at (tests, backfills). Default: the database's now(). */
  now?: Date
}

/** One notification's identity: at most one sender ever claims it. */
export interface NotificationClaim {
  kind: string
  secretName: string
  windowKey: string
}

/** A row of `public.secret_access_log`. */
export interface AuditRecord {
  id: number
  secretName: string
  accessedBy: string
  accessType: string
  success: boolean
  errorMessage: string | null
  createdAt: Date
  eventCount: number
  secretVersion: number | null
  source: string | null
}

/** Which audit rows to return, newest first. */
export interface AuditFilter {
  secretName?: string
  failedOnly?: boolean
  since?: Date
  /** At most this many rows (default 100). */
  limit?: number
}

/**
 * A point of the audit log's hash chain that the user keeps outside the database (e.g. the
 * file of `keywarden audit verify --anchor FILE`): a row id and its hash, 64 hex characters.
 */
export interface AuditAnchor {
  id: number
  hash: string
}

/** Why the chain broke (see `public.verify_secret_access_log` in docs/sql-api.md). */
export type AuditChainBreak =
  | 'hash_mismatch'
  | 'anchor_mismatch'
  | 'anchor_missing'
  | 'checkpoint_mismatch'
  | 'checkpoint_missing'

/** What a walk of the audit log's hash chain found. */
export interface AuditVerification {
  /** Whether every row chains to the one before it (and to the anchor, if one was given). */
  intact: boolean
  /** Rows that checked out before the walk stopped. */
  rowsChecked: number
  /** The first row where the chain breaks; null when intact, or when rows are gone at the end. */
  firstBrokenId: number | null
  reason: AuditChainBreak | null
  /** The last row that checked out, and its hash: the next anchor. Null for an empty log. */
  lastId: number | null
  lastHash: string | null
}

/**
 * A rule of the per-door policy (`keywarden.door_policies`): what doors matching
 * `doorPattern` may do with secrets matching `secretPattern` (`*` matches any run of
 * characters). See `../policy` for how rules are chosen.
 */
export interface DoorPolicyRule {
  doorPattern: string
  secretPattern: string
  canReadMetadata: boolean
  /** Use toward the secret's allowed hosts (`http_request`). */
  canUseHosts: boolean
  /** Use in the secret's allowed commands (`run_command`). */
  canUseCommands: boolean
  /** Reveal the value (still only when the secret is agent-visible). */
  canReveal: boolean
  /** Store over, rotate or delete an existing secret. */
  canWrite: boolean
  /** Create a secret that does not exist yet. */
  canCreate: boolean
}

/** A stored rule, with who changed it last and when. */
export interface StoredDoorPolicyRule extends DoorPolicyRule {
  updatedAt: Date
  updatedBy: string
}

/** One store over the SQL API. Every method may throw a KeywardenError. */
export interface SecretStore {
  readonly kind: StoreKind
  /** Where the store points, without credentials (for health reports and errors). */
  readonly target: string
  getSecret(
    name: string,
    accessedBy: string,
    version?: 'current' | 'previous',
  ): Promise<StoredSecret | null>
  /** One round trip; a name with no value maps to null. */
  getSecrets(
    names: readonly string[],
    accessedBy: string,
  ): Promise<Map<string, StoredSecret | null>>
  /** Creates or replaces; returns the vault id of the current value. */
  storeSecret(
    name: string,
    value: string,
    input: StoreSecretInput,
    accessedBy: string,
  ): Promise<string>
  rotateSecret(
    name: string,
    value: string,
    gracePeriodSeconds: number,
    accessedBy: string,
  ): Promise<RotationResult>
  /**
   * Changes metadata only (`update_secret_metadata`): what `input` leaves out keeps its value,
   * the value and version stay. Returns the version; SECRET_NOT_FOUND when there is no secret.
   */
  updateSecretMetadata(name: string, input: StoreSecretInput, accessedBy: string): Promise<number>
  /** False when there was nothing to delete. */
  deleteSecret(name: string, accessedBy: string): Promise<boolean>
  listSecrets(accessedBy: string): Promise<SecretMetadata[]>
  /** `now`: the instant to evaluate at (default: the database's now()). */
  checkExpiringSecrets(days: number, accessedBy: string, now?: Date): Promise<ExpiringSecret[]>
  /** Stores a pending value beside the current one; returns when it was staged. */
  stageRotation(name: string, value: string, accessedBy: string): Promise<Date>
  /** The staged value (for a verification check), or null when none is staged. */
  getStagedSecret(name: string, accessedBy: string): Promise<string | null>
  /** Makes the staged value current, as rotateSecret would. SECRET_NOT_FOUND when none is staged. */
  promoteRotation(
    name: string,
    gracePeriodSeconds: number,
    accessedBy: string,
  ): Promise<RotationResult>
  /** Drops the staged value; false when none was staged. */
  discardRotation(name: string, accessedBy: string): Promise<boolean>
  secretMetrics(now?: Date): Promise<SecretMetric[]>
  secretAlerts(filter: AlertFilter): Promise<SecretAlert[]>
  /** Claims notifications; returns those this call claimed (nobody had before). */
  claimNotifications(
    claims: readonly NotificationClaim[],
    accessedBy: string,
  ): Promise<NotificationClaim[]>
  /** Gives back claims whose delivery failed; returns how many. */
  releaseNotifications(claims: readonly NotificationClaim[]): Promise<number>
  /** Writes client-side audit events; returns how many rows were written. */
  logAccessBatch(events: readonly AuditEvent[]): Promise<number>
  queryAudit(filter: AuditFilter): Promise<AuditRecord[]>
  /** Walks the audit log's hash chain (`public.verify_secret_access_log`). */
  verifyAuditLog(anchor?: AuditAnchor): Promise<AuditVerification>
  /**
   * Calls one of the dashboard's aggregations (migration 15) and returns its JSON array as it
   * came; `./dashboard.ts` builds the arguments and maps the rows for every store.
   */
  dashboardQuery(
    fn: DashboardFunction,
    args: DashboardArguments,
  ): Promise<Record<string, unknown>[]>
  listDoorPolicies(): Promise<StoredDoorPolicyRule[]>
  setDoorPolicy(rule: DoorPolicyRule, accessedBy: string): Promise<void>
  /** False when there was no such rule. */
  deleteDoorPolicy(doorPattern: string, secretPattern: string, accessedBy: string): Promise<boolean>
  /**
   * Runs one operation of the OAuth authorization server's state (`public.oauth_call`): the
   * edge plugin's OAuth endpoints and the CLI's `connect`/`connections`. Refusals come back as
   * `{ error, error_description }` answers (already audited), not as exceptions. See
   * `src/oauth/` for the typed operations.
   */
  oauthCall(operation: string, args: Record<string, unknown>): Promise<unknown>
  /** Resolves when the database answers; throws VAULT_UNAVAILABLE otherwise. */
  ping(): Promise<void>
  /**
   * The latest migration applied to the database (`20261129000005`), null when none is
   * recorded (the supabase store asks `public.keywarden_schema_version()`, null before
   * migration 10). Stores that cannot tell leave this undefined.
   */
  schemaVersion?(): Promise<string | null>
  /**
   * Calls `listener` with a secret's name whenever any client changes it (NOTIFY
   * keywarden_secrets, or Supabase Realtime for the supabase store), and with `*` when it may
   * have missed changes. Stores that cannot hear changes leave this undefined.
   */
  subscribe?(listener: (name: string) => void): Promise<() => Promise<void>>
  close(): Promise<void>
}
