/**
 * Row mapping shared by every store. The SQL functions return the same columns whether they
 * come through a driver (Dates, numbers, sometimes numeric strings) or through PostgREST's JSON
 * (ISO strings), so every field is normalised here, once.
 */
import type {
  AlertKind,
  AuditChainBreak,
  AuditRecord,
  AuditVerification,
  DoorPolicyRule,
  ExpiringSecret,
  NotificationClaim,
  RiskLevel,
  RotationResult,
  SecretAlert,
  SecretMetadata,
  SecretMetric,
  SecretType,
  Severity,
  StoredDoorPolicyRule,
  StoredSecret,
} from './index.ts'

type Row = Record<string, unknown>

function toDate(value: unknown): Date | null {
  if (value === null || value === undefined) return null
  return value instanceof Date ? value : new Date(String(value))
}

function toRequiredDate(value: unknown, column: string): Date {
  const date = toDate(value)
  if (!date) throw new TypeError(`column ${column} is unexpectedly null`)
  return date
}

function toNumber(value: unknown): number | null {
  if (value === null || value === undefined) return null
  return Number(value)
}

function toText(value: unknown): string | null {
  return value === null || value === undefined ? null : String(value)
}

/** A row of `public.list_secret_names()`. */
export function metadataFromRow(row: Row): SecretMetadata {
  return {
    name: String(row.name),
    description: toText(row.description),
    type: String(row.secret_type) as SecretType,
    version: Number(row.version),
    createdAt: toRequiredDate(row.created_at, 'created_at'),
    updatedAt: toRequiredDate(row.updated_at, 'updated_at'),
    lastRotatedAt: toDate(row.last_rotated_at),
    expiresAt: toDate(row.expires_at),
    rotationIntervalDays: toNumber(row.rotation_interval_days),
    rotationDueAt: toDate(row.rotation_due_at),
    previousValidUntil: toDate(row.previous_valid_until),
    agentVisible: row.agent_visible === true,
    allowedHosts: toTextArray(row.allowed_hosts),
    allowedCommands: toTextArray(row.allowed_commands),
    protected: row.protected === true,
  }
}

/** A row of `public.list_door_policies()`. */
export function doorPolicyFromRow(row: Row): StoredDoorPolicyRule {
  return {
    doorPattern: String(row.door_pattern),
    secretPattern: String(row.secret_pattern),
    canReadMetadata: row.can_read_metadata === true,
    canUseHosts: row.can_use_hosts === true,
    canUseCommands: row.can_use_commands === true,
    canReveal: row.can_reveal === true,
    canWrite: row.can_write === true,
    canCreate: row.can_create === true,
    updatedAt: toRequiredDate(row.updated_at, 'updated_at'),
    updatedBy: String(row.updated_by),
  }
}

/** `public.set_door_policy()`'s arguments by name (PostgREST) and in order (SQL). */
export function doorPolicyArguments(rule: DoorPolicyRule, accessedBy: string): Row {
  return {
    door_pattern: rule.doorPattern,
    secret_pattern: rule.secretPattern,
    can_read_metadata: rule.canReadMetadata,
    can_use_hosts: rule.canUseHosts,
    can_use_commands: rule.canUseCommands,
    can_reveal: rule.canReveal,
    can_write: rule.canWrite,
    can_create: rule.canCreate,
    accessed_by: accessedBy,
  }
}

/** A `text[]` column: an array from a driver or PostgREST; NULL reads as empty. */
function toTextArray(value: unknown): string[] {
  return Array.isArray(value) ? value.map(String) : []
}

/** A row of `public.get_secrets()`: the name and its value, or null. */
export function storedSecretFromRow(row: Row): [string, StoredSecret | null] {
  return [String(row.secret_name), secretFromRow(row)]
}

/** A value and its version (a row of `get_secret_row()` or `get_secrets()`); NULL for none. */
export function secretFromRow(row: Row | undefined): StoredSecret | null {
  if (row?.secret_value === null || row?.secret_value === undefined) return null
  return { value: String(row.secret_value), version: Number(row.secret_version ?? 1) }
}

/** The row of `public.rotate_secret()`. */
export function rotationFromRow(row: Row | undefined): RotationResult {
  if (!row) throw new TypeError('rotate_secret returned no row')
  return {
    id: String(row.secret_id),
    version: Number(row.secret_version),
    previousValidUntil: toDate(row.previous_valid_until),
  }
}

/** A row of `public.check_expiring_secrets()`. */
export function expiringFromRow(row: Row): ExpiringSecret {
  return {
    name: String(row.name),
    type: String(row.secret_type) as SecretType,
    reason: row.reason === 'expires' ? 'expires' : 'rotation_due',
    dueAt: toRequiredDate(row.due_at, 'due_at'),
    expiresAt: toDate(row.expires_at),
    rotationDueAt: toDate(row.rotation_due_at),
    overdue: row.overdue === true,
    riskLevel: String(row.risk_level) as RiskLevel,
    reminderWindow: String(row.reminder_window),
  }
}

/** The row of `public.stage_rotation()`: when the value was staged. */
export function stagedAtFromRow(row: Row | undefined): Date {
  return toRequiredDate(row?.staged_at, 'staged_at')
}

/** A row of `public.secret_metrics()`. */
export function metricFromRow(row: Row): SecretMetric {
  return {
    name: String(row.name),
    type: String(row.secret_type) as SecretType,
    riskLevel: String(row.risk_level) as RiskLevel,
    accesses24h: Number(row.accesses_24h),
    accesses7d: Number(row.accesses_7d),
    failed7d: Number(row.failed_7d),
    failureRate: Number(row.failure_rate),
    accessors7d: toTextArray(row.accessors_7d),
    lastAccessedAt: toDate(row.last_accessed_at),
    lastRotatedAt: toDate(row.last_rotated_at),
    secondsSinceRotation: Number(row.seconds_since_rotation),
    rotationDueAt: toDate(row.rotation_due_at),
    expiresAt: toDate(row.expires_at),
    rotationStagedAt: toDate(row.rotation_staged_at),
  }
}

/** A row of `public.secret_alerts()`. */
export function alertFromRow(row: Row): SecretAlert {
  return {
    key: String(row.alert_key),
    kind: String(row.kind) as AlertKind,
    severity: String(row.severity) as Severity,
    secretName: toText(row.secret_name),
    accessedBy: toText(row.accessed_by),
    occurredAt: toRequiredDate(row.occurred_at, 'occurred_at'),
    evidence: typeof row.evidence === 'string' ? JSON.parse(row.evidence) : (row.evidence ?? {}),
  }
}

/** A row of `public.claim_notifications()`. */
export function claimFromRow(row: Row): NotificationClaim {
  return {
    kind: String(row.kind),
    secretName: String(row.secret_name),
    windowKey: String(row.window_key),
  }
}

/** Claims in the JSON shape claim_notifications and release_notifications take. */
export function claimsArgument(claims: readonly NotificationClaim[]) {
  return claims.map((claim) => ({
    kind: claim.kind,
    secret_name: claim.secretName,
    window_key: claim.windowKey,
  }))
}

/** A row of `public.query_secret_access_log()`. */
/** A row of `verify_secret_access_log()` (bigints arrive as strings from `pg`). */
export function verificationFromRow(row: Row | undefined): AuditVerification {
  return {
    intact: row?.intact === true,
    rowsChecked: Number(row?.rows_checked ?? 0),
    firstBrokenId: toNumber(row?.first_broken_id),
    reason: (toText(row?.reason) as AuditChainBreak | null) ?? null,
    lastId: toNumber(row?.last_id),
    lastHash: toText(row?.last_hash),
  }
}

export function auditRecordFromRow(row: Row): AuditRecord {
  return {
    id: Number(row.id),
    secretName: String(row.secret_name),
    accessedBy: String(row.accessed_by),
    accessType: String(row.access_type),
    success: row.success === true,
    errorMessage: toText(row.error_message),
    createdAt: toRequiredDate(row.created_at, 'created_at'),
    eventCount: Number(row.event_count ?? 1),
    secretVersion: toNumber(row.secret_version),
    source: toText(row.source),
  }
}
