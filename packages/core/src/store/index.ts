/**
 * The store contract: one interface over the vault's SQL API, implemented by the embedded
 * (PGlite), postgres (direct connection) and supabase (supabase-js `.rpc()`) stores. Stores do
 * no caching and no fallback; the client above them does. Each method is one SQL function call,
 * so the database audits the access in the same transaction.
 * @module
 */
import type { AuditEvent } from '../audit/index.ts'

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
}

/** What a rotation did. */
export interface RotationResult {
  /** The vault id of the new value. */
  id: string
  version: number
  /** Until when the previous value is served; null when it was dropped at once. */
  previousValidUntil: Date | null
}

/** A secret whose expiry or rotation falls within the window asked for. */
export interface ExpiringSecret {
  name: string
  type: SecretType
  reason: 'expires' | 'rotation_due'
  dueAt: Date
  expiresAt: Date | null
  rotationDueAt: Date | null
  overdue: boolean
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
  /** False when there was nothing to delete. */
  deleteSecret(name: string, accessedBy: string): Promise<boolean>
  listSecrets(accessedBy: string): Promise<SecretMetadata[]>
  checkExpiringSecrets(days: number, accessedBy: string): Promise<ExpiringSecret[]>
  /** Writes client-side audit events; returns how many rows were written. */
  logAccessBatch(events: readonly AuditEvent[]): Promise<number>
  queryAudit(filter: AuditFilter): Promise<AuditRecord[]>
  /** Resolves when the database answers; throws VAULT_UNAVAILABLE otherwise. */
  ping(): Promise<void>
  /**
   * Calls `listener` with a secret's name whenever any client changes it (NOTIFY
   * keywarden_secrets). Stores that cannot hear changes leave this undefined.
   */
  subscribe?(listener: (name: string) => void): Promise<() => Promise<void>>
  close(): Promise<void>
}
