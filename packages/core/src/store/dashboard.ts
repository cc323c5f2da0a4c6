/**
 * The audit analytics behind the dashboard (`keywarden ui`) and the compliance report
 * (`keywarden report`): one SQL function per view (migration 15), each returning one JSON
 * array. Stores pass the arguments and the array through unchanged
 * ({@link SecretStore.dashboardQuery}); this module builds the arguments and maps the rows, once
 * for every store. Runtime-neutral.
 * @module
 */
import { KeywardenError } from '../errors/index.ts'

/** The SQL functions of migration 15, the only ones `dashboardQuery` calls. */
export const DASHBOARD_FUNCTIONS = [
  'audit_activity',
  'audit_accessors',
  'audit_failures',
  'audit_rotations',
  'audit_incidents',
] as const

/** One of {@link DASHBOARD_FUNCTIONS}. */
export type DashboardFunction = (typeof DASHBOARD_FUNCTIONS)[number]

/**
 * A dashboard function's arguments, named as the SQL names them and in their order (the
 * supabase store passes them by name, the SQL store by position). Times are ISO strings.
 */
export type DashboardArguments = Record<string, string | null>

type Row = Record<string, unknown>

/** A half-open period [from, to). */
export interface AuditRange {
  from: Date
  to: Date
}

/** Time buckets of the activity chart. */
export type ActivityBucket = 'hour' | 'day'

/** What the activity chart stacks: doors (`mcp`), accessors (`mcp:claude`) or secrets. */
export type ActivityGroup = 'door' | 'accessor' | 'secret'

/** Which activity to aggregate. */
export interface ActivityFilter extends AuditRange {
  /** Default `hour` (at most 92 days); `day` spans at most 400 days. */
  bucket?: ActivityBucket
  /** Default `door`. */
  groupBy?: ActivityGroup
  /** Only this secret's rows. */
  secretName?: string
}

/** Events (aggregated cache hits counted one by one) of one series in one bucket. */
export interface ActivityPoint {
  bucket: Date
  series: string
  events: number
  failures: number
}

/** A period, optionally one secret's. */
export interface SecretRangeFilter extends AuditRange {
  secretName?: string
}

/** One accessor of one secret within a period. */
export interface AccessorSummary {
  secretName: string
  accessedBy: string
  /** The accessor's door: `mcp` for `mcp:claude`. */
  door: string
  firstSeen: Date
  lastSeen: Date
  events: number
  failures: number
  /** Events refused by the door policy (`denied`). */
  refusals: number
}

/** Failed or refused accesses alike (same secret, accessor, type and error), within a period. */
export interface FailureGroup {
  secretName: string
  accessedBy: string
  accessType: string
  errorMessage: string | null
  events: number
  firstAt: Date
  lastAt: Date
}

/** A value change (store of a new version, or rotation) judged against the rotation policy. */
export interface ValueChange {
  secretName: string
  version: number | null
  /** A rotation (`rotate`), not a store over the value. */
  rotated: boolean
  changedAt: Date
  previousAt: Date
  /** The secret's rotation interval now; null when it rotates by hand. */
  intervalDays: number | null
  dueAt: Date | null
  /** How long past due the change came (0: on time); null without a policy. */
  lateSeconds: number | null
}

/** A run of the leaked-secret playbook (`keywarden incident`). */
export interface IncidentRun {
  id: number
  secretName: string
  accessedBy: string
  success: boolean
  errorMessage: string | null
  createdAt: Date
}

const DAY_MS = 86_400_000

/** A range's arguments; `longestDays` is what the SQL takes too, checked here to fail early. */
function rangeArguments({ from, to }: AuditRange, longestDays: number): DashboardArguments {
  if (
    !(from instanceof Date) ||
    !(to instanceof Date) ||
    Number.isNaN(from.getTime() + to.getTime())
  ) {
    throw new KeywardenError('INVALID_ARGUMENT', 'a range needs valid from and to times')
  }
  if (from.getTime() >= to.getTime() || to.getTime() - from.getTime() > longestDays * DAY_MS) {
    throw new KeywardenError(
      'INVALID_ARGUMENT',
      `a range runs forward and spans at most ${longestDays} days`,
    )
  }
  return { p_from: from.toISOString(), p_to: to.toISOString() }
}

/** `audit_activity`'s arguments. */
export function activityArguments(filter: ActivityFilter): DashboardArguments {
  const bucket = filter.bucket ?? 'hour'
  const groupBy = filter.groupBy ?? 'door'
  if (bucket !== 'hour' && bucket !== 'day') {
    throw new KeywardenError('INVALID_ARGUMENT', 'bucket is hour or day')
  }
  if (!['door', 'accessor', 'secret'].includes(groupBy)) {
    throw new KeywardenError('INVALID_ARGUMENT', 'groupBy is door, accessor or secret')
  }
  return {
    ...rangeArguments(filter, bucket === 'hour' ? 92 : 400),
    p_bucket: bucket,
    p_group: groupBy,
    p_secret: filter.secretName ?? null,
  }
}

/** `audit_accessors`' and `audit_failures`' arguments. */
export function secretRangeArguments(filter: SecretRangeFilter): DashboardArguments {
  return { ...rangeArguments(filter, 400), p_secret: filter.secretName ?? null }
}

/** `audit_rotations`' and `audit_incidents`' arguments. */
export function periodArguments(range: AuditRange): DashboardArguments {
  return rangeArguments(range, 400)
}

function date(value: unknown, field: string): Date {
  const parsed = value instanceof Date ? value : new Date(String(value))
  if (value === null || value === undefined || Number.isNaN(parsed.getTime())) {
    throw new TypeError(`${field} is not a time`)
  }
  return parsed
}

function optionalDate(value: unknown, field: string): Date | null {
  return value === null || value === undefined ? null : date(value, field)
}

function optionalNumber(value: unknown): number | null {
  return value === null || value === undefined ? null : Number(value)
}

function optionalText(value: unknown): string | null {
  return value === null || value === undefined ? null : String(value)
}

/** An element of `audit_activity`. */
export function activityFromRow(row: Row): ActivityPoint {
  return {
    bucket: date(row.bucket, 'bucket'),
    series: String(row.series),
    events: Number(row.events),
    failures: Number(row.failures),
  }
}

/** An element of `audit_accessors`. */
export function accessorFromRow(row: Row): AccessorSummary {
  return {
    secretName: String(row.secret_name),
    accessedBy: String(row.accessed_by),
    door: String(row.door),
    firstSeen: date(row.first_seen, 'first_seen'),
    lastSeen: date(row.last_seen, 'last_seen'),
    events: Number(row.events),
    failures: Number(row.failures),
    refusals: Number(row.refusals),
  }
}

/** An element of `audit_failures`. */
export function failureFromRow(row: Row): FailureGroup {
  return {
    secretName: String(row.secret_name),
    accessedBy: String(row.accessed_by),
    accessType: String(row.access_type),
    errorMessage: optionalText(row.error_message),
    events: Number(row.events),
    firstAt: date(row.first_at, 'first_at'),
    lastAt: date(row.last_at, 'last_at'),
  }
}

/** An element of `audit_rotations`. */
export function valueChangeFromRow(row: Row): ValueChange {
  return {
    secretName: String(row.secret_name),
    version: optionalNumber(row.version),
    rotated: row.rotated === true,
    changedAt: date(row.changed_at, 'changed_at'),
    previousAt: date(row.previous_at, 'previous_at'),
    intervalDays: optionalNumber(row.interval_days),
    dueAt: optionalDate(row.due_at, 'due_at'),
    lateSeconds: optionalNumber(row.late_seconds),
  }
}

/** An element of `audit_incidents`. */
export function incidentRunFromRow(row: Row): IncidentRun {
  return {
    id: Number(row.id),
    secretName: String(row.secret_name),
    accessedBy: String(row.accessed_by),
    success: row.success === true,
    errorMessage: optionalText(row.error_message),
    createdAt: date(row.created_at, 'created_at'),
  }
}
