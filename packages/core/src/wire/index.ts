/**
 * The JSON shapes the front doors answer with: snake_case keys and ISO dates, as the SQL API
 * names its columns. The MCP tools' `structuredContent` and the edge plugin's responses both
 * use these, so a secret looks the same whichever door an agent asks. Never a value.
 * @module
 */
import type {
  AlertKind,
  AuditRecord,
  ExpiringSecret,
  RiskLevel,
  SecretAlert,
  SecretMetadata,
  SecretMetric,
  SecretType,
  Severity,
  StoreSecretInput,
} from '../store/index.ts'

const iso = (date: Date | null): string | null => (date === null ? null : date.toISOString())

/**
 * The longest a piece of text that users or agents wrote (a description, an accessor name, an
 * audit error message) may be when it goes back to a model. Such text is data, never
 * instructions; keeping it short limits what a planted prompt can say.
 */
export const UNTRUSTED_TEXT_MAX = 200

/**
 * `text` cut to `max` characters (an ellipsis marks the cut), never splitting a surrogate pair,
 * with control characters other than newline and tab replaced by spaces so a rendering cannot
 * be rewritten by carriage returns or escape sequences.
 */
export function boundedUntrustedText(text: string, max: number = UNTRUSTED_TEXT_MAX): string {
  const cleaned = text.replace(UNSAFE_CHARACTERS, ' ')
  const characters = Array.from(cleaned)
  return characters.length <= max ? cleaned : `${characters.slice(0, max - 1).join('')}…`
}

// C0 controls but tab and newline, DEL, C1 controls, and the line and paragraph separators.
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
const UNSAFE_CHARACTERS = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u2028\u2029]/g

const bounded = (text: string | null): string | null =>
  text === null ? null : boundedUntrustedText(text)

/** A secret's metadata as JSON. */
export type SecretMetadataJson = {
  name: string
  description: string | null
  type: SecretType
  version: number
  created_at: string
  updated_at: string
  last_rotated_at: string | null
  expires_at: string | null
  rotation_interval_days: number | null
  rotation_due_at: string | null
  previous_valid_until: string | null
  agent_visible: boolean
  allowed_hosts: string[]
  allowed_commands: string[]
  protected: boolean
}

/** {@link SecretMetadata} as {@link SecretMetadataJson}. */
export function secretMetadataJson(secret: SecretMetadata): SecretMetadataJson {
  return {
    name: secret.name,
    description: bounded(secret.description),
    type: secret.type,
    version: secret.version,
    created_at: secret.createdAt.toISOString(),
    updated_at: secret.updatedAt.toISOString(),
    last_rotated_at: iso(secret.lastRotatedAt),
    expires_at: iso(secret.expiresAt),
    rotation_interval_days: secret.rotationIntervalDays,
    rotation_due_at: iso(secret.rotationDueAt),
    previous_valid_until: iso(secret.previousValidUntil),
    agent_visible: secret.agentVisible,
    allowed_hosts: [...secret.allowedHosts],
    allowed_commands: [...secret.allowedCommands],
    protected: secret.protected,
  }
}

/** A secret whose expiry or rotation falls due, as JSON. */
export type ExpiringSecretJson = {
  name: string
  type: SecretType
  reason: ExpiringSecret['reason']
  due_at: string
  expires_at: string | null
  rotation_due_at: string | null
  overdue: boolean
}

/** {@link ExpiringSecret} as {@link ExpiringSecretJson}. */
export function expiringSecretJson(secret: ExpiringSecret): ExpiringSecretJson {
  return {
    name: secret.name,
    type: secret.type,
    reason: secret.reason,
    due_at: secret.dueAt.toISOString(),
    expires_at: iso(secret.expiresAt),
    rotation_due_at: iso(secret.rotationDueAt),
    overdue: secret.overdue,
  }
}

/** An audit row as JSON. */
export type AuditRecordJson = {
  id: number
  secret_name: string
  accessed_by: string
  access_type: string
  success: boolean
  error_message: string | null
  created_at: string
  event_count: number
  secret_version: number | null
  source: string | null
}

/** {@link AuditRecord} as {@link AuditRecordJson}. */
export function auditRecordJson(record: AuditRecord): AuditRecordJson {
  return {
    id: record.id,
    secret_name: record.secretName,
    accessed_by: boundedUntrustedText(record.accessedBy),
    access_type: record.accessType,
    success: record.success,
    error_message: bounded(record.errorMessage),
    created_at: record.createdAt.toISOString(),
    event_count: record.eventCount,
    secret_version: record.secretVersion,
    source: record.source,
  }
}

/** A secret's usage metrics as JSON. */
export type SecretMetricJson = {
  name: string
  type: SecretType
  risk_level: RiskLevel
  accesses_24h: number
  accesses_7d: number
  failed_7d: number
  failure_rate: number
  accessors_7d: string[]
  last_accessed_at: string | null
  last_rotated_at: string | null
  seconds_since_rotation: number
  rotation_due_at: string | null
  expires_at: string | null
  rotation_staged_at: string | null
}

/** {@link SecretMetric} as {@link SecretMetricJson}. */
export function secretMetricJson(metric: SecretMetric): SecretMetricJson {
  return {
    name: metric.name,
    type: metric.type,
    risk_level: metric.riskLevel,
    accesses_24h: metric.accesses24h,
    accesses_7d: metric.accesses7d,
    failed_7d: metric.failed7d,
    failure_rate: metric.failureRate,
    accessors_7d: metric.accessors7d.map((accessor) => boundedUntrustedText(accessor)),
    last_accessed_at: iso(metric.lastAccessedAt),
    last_rotated_at: iso(metric.lastRotatedAt),
    seconds_since_rotation: metric.secondsSinceRotation,
    rotation_due_at: iso(metric.rotationDueAt),
    expires_at: iso(metric.expiresAt),
    rotation_staged_at: iso(metric.rotationStagedAt),
  }
}

/** An alert as JSON. */
export type SecretAlertJson = {
  key: string
  kind: AlertKind
  severity: Severity
  secret_name: string | null
  accessed_by: string | null
  occurred_at: string
  evidence: Record<string, unknown>
}

/** {@link SecretAlert} as {@link SecretAlertJson}. */
export function secretAlertJson(alert: SecretAlert): SecretAlertJson {
  return {
    key: alert.key,
    kind: alert.kind,
    severity: alert.severity,
    secret_name: alert.secretName,
    accessed_by: bounded(alert.accessedBy),
    occurred_at: alert.occurredAt.toISOString(),
    evidence: alert.evidence,
  }
}

/** A metadata change as the doors take it (MCP `update_secret_metadata`, edge `PATCH`). */
export type SecretMetadataPatchJson = {
  description?: string | undefined
  type?: SecretType | undefined
  expires_at?: string | undefined
  rotation_interval_days?: number | undefined
}

/** A {@link SecretMetadataPatchJson} as the client's input: fields left out stay as they are. */
export function metadataPatchInput(patch: SecretMetadataPatchJson): StoreSecretInput {
  return {
    ...(patch.description === undefined ? {} : { description: patch.description }),
    ...(patch.type === undefined ? {} : { type: patch.type }),
    ...(patch.expires_at === undefined ? {} : { expiresAt: new Date(patch.expires_at) }),
    ...(patch.rotation_interval_days === undefined
      ? {}
      : { rotationIntervalDays: patch.rotation_interval_days }),
  }
}
