/**
 * What the dashboard and the compliance report show, computed once for both: every number
 * comes from the core's SQL (the listing, `secret_metrics`, `secret_alerts`, the audit
 * aggregations of migration 15 and the hash chain's verification), so the page and the report
 * can never disagree. The JSON shapes are snake_case, as every machine-readable answer of the
 * CLI.
 *
 * No value can come out of here: a {@link DashboardSource} has no method that reads one, and
 * {@link dashboardSource} copies only those methods off the client, so not even a stray call
 * at run time could reach `getSecret`.
 * @module
 */
import {
  boundedUntrustedText,
  KeywardenError,
  type VaultClient,
  validateSecretName,
} from '@keywarden/core'

/** The read-only, value-free part of the vault client that the dashboard uses. */
export type DashboardSource = Pick<
  VaultClient,
  | 'listSecrets'
  | 'secretMetrics'
  | 'secretAlerts'
  | 'checkExpiringSecrets'
  | 'queryAudit'
  | 'verifyAuditLog'
  | 'auditActivity'
  | 'auditAccessors'
  | 'auditFailures'
  | 'auditRotations'
  | 'auditIncidents'
>

/** Copies only the value-free methods off `client` (bound), so nothing else is reachable. */
export function dashboardSource(client: VaultClient): DashboardSource {
  return {
    listSecrets: () => client.listSecrets(),
    secretMetrics: (options) => client.secretMetrics(options),
    secretAlerts: (filter) => client.secretAlerts(filter),
    checkExpiringSecrets: (days, options) => client.checkExpiringSecrets(days, options),
    queryAudit: (filter) => client.queryAudit(filter),
    verifyAuditLog: (options) => client.verifyAuditLog(options),
    auditActivity: (filter) => client.auditActivity(filter),
    auditAccessors: (filter) => client.auditAccessors(filter),
    auditFailures: (filter) => client.auditFailures(filter),
    auditRotations: (range) => client.auditRotations(range),
    auditIncidents: (range) => client.auditIncidents(range),
  }
}

const HOUR_MS = 3_600_000
const DAY_MS = 24 * HOUR_MS
/** A rotation due within this many days is "due soon". */
const DUE_SOON_DAYS = 14

const iso = (date: Date | null): string | null => date?.toISOString() ?? null
const text = (value: string | null): string | null =>
  value === null ? null : boundedUntrustedText(value)

/** Where a secret stands on rotation at `now`. */
export type RotationState = 'overdue' | 'due_soon' | 'on_schedule' | 'manual'

function rotationState(dueAt: Date | null, now: Date): RotationState {
  if (dueAt === null) return 'manual'
  const left = dueAt.getTime() - now.getTime()
  if (left <= 0) return 'overdue'
  return left <= DUE_SOON_DAYS * DAY_MS ? 'due_soon' : 'on_schedule'
}

/** One secret of the inventory. */
export interface InventoryRow {
  name: string
  description: string | null
  type: string
  risk_level: string
  version: number
  last_rotated_at: string | null
  rotation_due_at: string | null
  rotation_state: RotationState
  /** Seconds past due (0 when not overdue). */
  overdue_seconds: number
  expires_at: string | null
  expired: boolean
  agent_visible: boolean
  allowed_hosts: string[]
  allowed_commands: string[]
  protected: boolean
  /** The doors (`cli`, `mcp`, `edge`, `ui`) that used it in the last 7 days. */
  doors_7d: string[]
  accesses_7d: number
  failed_7d: number
  last_accessed_at: string | null
}

/** The inventory view. */
export interface Inventory {
  now: string
  totals: {
    secrets: number
    overdue: number
    due_soon: number
    expired: number
    accesses_7d: number
  }
  secrets: InventoryRow[]
}

/** Every secret with its policy, rotation standing and the doors that used it in 7 days. */
export async function inventory(
  source: DashboardSource,
  now: Date = new Date(),
): Promise<Inventory> {
  const [secrets, metrics, accessors] = await Promise.all([
    source.listSecrets(),
    source.secretMetrics({ now }),
    source.auditAccessors({
      from: new Date(now.getTime() - 7 * DAY_MS),
      to: new Date(now.getTime() + 1),
    }),
  ])
  const metricOf = new Map(metrics.map((metric) => [metric.name, metric]))
  const doorsOf = new Map<string, Set<string>>()
  for (const row of accessors) {
    const doors = doorsOf.get(row.secretName) ?? new Set<string>()
    doors.add(row.door)
    doorsOf.set(row.secretName, doors)
  }
  const rows = secrets.map((secret): InventoryRow => {
    const metric = metricOf.get(secret.name)
    const state = rotationState(secret.rotationDueAt, now)
    return {
      name: secret.name,
      description: text(secret.description),
      type: secret.type,
      risk_level: metric?.riskLevel ?? 'medium',
      version: secret.version,
      last_rotated_at: iso(secret.lastRotatedAt),
      rotation_due_at: iso(secret.rotationDueAt),
      rotation_state: state,
      overdue_seconds:
        state === 'overdue' && secret.rotationDueAt
          ? Math.floor((now.getTime() - secret.rotationDueAt.getTime()) / 1000)
          : 0,
      expires_at: iso(secret.expiresAt),
      expired: secret.expiresAt !== null && secret.expiresAt.getTime() <= now.getTime(),
      agent_visible: secret.agentVisible,
      allowed_hosts: secret.allowedHosts,
      allowed_commands: secret.allowedCommands,
      protected: secret.protected,
      doors_7d: [...(doorsOf.get(secret.name) ?? [])].sort(),
      accesses_7d: metric?.accesses7d ?? 0,
      failed_7d: metric?.failed7d ?? 0,
      last_accessed_at: iso(metric?.lastAccessedAt ?? null),
    }
  })
  return {
    now: now.toISOString(),
    totals: {
      secrets: rows.length,
      overdue: rows.filter((row) => row.rotation_state === 'overdue').length,
      due_soon: rows.filter((row) => row.rotation_state === 'due_soon').length,
      expired: rows.filter((row) => row.expired).length,
      accesses_7d: rows.reduce((sum, row) => sum + row.accesses_7d, 0),
    },
    secrets: rows,
  }
}

/** What the activity chart asks for. */
export interface ActivityQuery {
  from: Date
  to: Date
  bucket: 'hour' | 'day'
  groupBy: 'door' | 'accessor' | 'secret'
  secretName?: string
}

/** The activity chart's data: one x per bucket (Unix seconds), one dense array per series. */
export interface Activity {
  from: string
  to: string
  bucket: 'hour' | 'day'
  group_by: string
  secret: string | null
  /** Bucket starts, Unix seconds, every bucket of the range (empty ones included). */
  x: number[]
  series: Array<{ name: string; events: number[]; failures: number[] }>
  totals: { events: number; failures: number }
}

/** Reads a query string's activity parameters; bad ones are INVALID_ARGUMENT. */
export function activityQuery(
  params: Record<string, string | undefined>,
  now: Date = new Date(),
): ActivityQuery {
  const bucket = params.bucket ?? 'hour'
  const groupBy = params.group ?? 'door'
  if (bucket !== 'hour' && bucket !== 'day') invalid('bucket is hour or day')
  if (groupBy !== 'door' && groupBy !== 'accessor' && groupBy !== 'secret') {
    invalid('group is door, accessor or secret')
  }
  const to = params.to ? parseTime(params.to, 'to') : now
  const from = params.from
    ? parseTime(params.from, 'from')
    : new Date(to.getTime() - (bucket === 'hour' ? 7 : 30) * DAY_MS)
  const query: ActivityQuery = { from, to, bucket, groupBy }
  if (params.secret) {
    validateSecretName(params.secret)
    query.secretName = params.secret
  }
  return query
}

/** The stacked chart's series over every bucket of the range, aggregated in SQL. */
export async function activity(source: DashboardSource, query: ActivityQuery): Promise<Activity> {
  const points = await source.auditActivity(query)
  const step = query.bucket === 'hour' ? HOUR_MS : DAY_MS
  const first = Math.floor(query.from.getTime() / step) * step
  const x: number[] = []
  for (let at = first; at < query.to.getTime(); at += step) x.push(at / 1000)
  const index = new Map(x.map((seconds, position) => [seconds, position]))
  const series = new Map<string, { events: number[]; failures: number[] }>()
  for (const point of points) {
    const position = index.get(point.bucket.getTime() / 1000)
    if (position === undefined) continue
    let entry = series.get(point.series)
    if (!entry) {
      entry = { events: x.map(() => 0), failures: x.map(() => 0) }
      series.set(point.series, entry)
    }
    entry.events[position] = point.events
    entry.failures[position] = point.failures
  }
  const list = [...series.entries()]
    .map(([name, data]) => ({ name: boundedUntrustedText(name), ...data }))
    .sort((a, b) => a.name.localeCompare(b.name))
  const sum = (values: number[]) => values.reduce((total, value) => total + value, 0)
  return {
    from: query.from.toISOString(),
    to: query.to.toISOString(),
    bucket: query.bucket,
    group_by: query.groupBy,
    secret: query.secretName ?? null,
    x,
    series: list,
    totals: {
      events: points.reduce((total, point) => total + point.events, 0),
      failures: list.reduce((total, entry) => total + sum(entry.failures), 0),
    },
  }
}

/** A secret's page: metadata, its timeline and its accessors. */
export async function secretPage(source: DashboardSource, name: string, now: Date = new Date()) {
  validateSecretName(name)
  const listing = await inventory(source, now)
  const secret = listing.secrets.find((row) => row.name === name)
  if (!secret)
    throw new KeywardenError('SECRET_NOT_FOUND', `no secret named ${name}`, { secretName: name })
  const [timeline, accessors] = await Promise.all([
    source.queryAudit({ secretName: name, limit: 500 }),
    source.auditAccessors({
      from: new Date(now.getTime() - 399 * DAY_MS),
      to: new Date(now.getTime() + 1),
      secretName: name,
    }),
  ])
  return {
    secret,
    timeline: timeline.map((record) => ({
      id: record.id,
      at: record.createdAt.toISOString(),
      accessed_by: boundedUntrustedText(record.accessedBy),
      access_type: record.accessType,
      kind: timelineKind(record.accessType, record.success),
      success: record.success,
      error_message: text(record.errorMessage),
      event_count: record.eventCount,
      version: record.secretVersion,
    })),
    accessors: accessors.map(accessorJson),
  }
}

/** How a timeline row reads: a read, a use, a rotation, a refusal, a failure or a change. */
function timelineKind(accessType: string, success: boolean): string {
  if (accessType === 'denied') return 'refusal'
  if (!success) return 'failure'
  if (accessType === 'rotate' || accessType === 'store' || accessType === 'stage_rotation')
    return 'rotation'
  if (accessType === 'use' || accessType === 'reveal') return 'use'
  if (accessType === 'read' || accessType === 'cache_hit') return 'read'
  return 'change'
}

function accessorJson(row: Awaited<ReturnType<DashboardSource['auditAccessors']>>[number]) {
  return {
    secret_name: row.secretName,
    accessed_by: boundedUntrustedText(row.accessedBy),
    door: boundedUntrustedText(row.door),
    first_seen: row.firstSeen.toISOString(),
    last_seen: row.lastSeen.toISOString(),
    events: row.events,
    failures: row.failures,
    refusals: row.refusals,
  }
}

/** The SQL keeps alert windows to 90 days; longer periods are asked window by window. */
const ALERT_WINDOW_MS = 90 * DAY_MS

/** Alerts raised in [from, to), each with its evidence and the activity that caused it. */
export async function alerts(source: DashboardSource, range: { from: Date; to: Date }) {
  const seen = new Map<string, Awaited<ReturnType<DashboardSource['secretAlerts']>>[number]>()
  for (let end = range.to.getTime(); end > range.from.getTime(); end -= ALERT_WINDOW_MS) {
    const since = new Date(Math.max(range.from.getTime(), end - ALERT_WINDOW_MS))
    for (const alert of await source.secretAlerts({ since, now: new Date(end) })) {
      if (!seen.has(alert.key)) seen.set(alert.key, alert)
    }
  }
  return [...seen.values()]
    .sort((a, b) => b.occurredAt.getTime() - a.occurredAt.getTime())
    .map((alert) => ({
      key: alert.key,
      kind: alert.kind,
      severity: alert.severity,
      secret_name: alert.secretName,
      accessed_by: alert.accessedBy === null ? null : boundedUntrustedText(alert.accessedBy),
      occurred_at: alert.occurredAt.toISOString(),
      evidence: alert.evidence,
      activity: alertActivity(alert.occurredAt, alert.secretName),
    }))
}

/** The activity around an alert: 12 hours either side, by accessor, of its secret. */
function alertActivity(at: Date, secretName: string | null) {
  const hour = Math.floor(at.getTime() / HOUR_MS) * HOUR_MS
  return {
    from: new Date(hour - 12 * HOUR_MS).toISOString(),
    to: new Date(hour + 13 * HOUR_MS).toISOString(),
    bucket: 'hour',
    group: 'accessor',
    secret: secretName,
  }
}

/** What is due for rotation or expiry within `days`, soonest (most overdue) first. */
export async function rotation(source: DashboardSource, now: Date = new Date(), days = 60) {
  const due = await source.checkExpiringSecrets(days, { now })
  return {
    now: now.toISOString(),
    days,
    due: due
      .sort((a, b) => a.dueAt.getTime() - b.dueAt.getTime())
      .map((item) => ({
        name: item.name,
        type: item.type,
        reason: item.reason,
        due_at: item.dueAt.toISOString(),
        overdue: item.overdue,
        risk_level: item.riskLevel,
        days_left: Math.floor((item.dueAt.getTime() - now.getTime()) / DAY_MS),
      })),
  }
}

/** The compliance report's content for [from, to). */
export async function report(source: DashboardSource, range: { from: Date; to: Date }) {
  const days = (range.to.getTime() - range.from.getTime()) / DAY_MS
  const [listing, changes, accessors, failures, raised, incidents, verification, traffic] =
    await Promise.all([
      inventory(source, range.to),
      source.auditRotations(range),
      source.auditAccessors(range),
      source.auditFailures(range),
      alerts(source, range),
      source.auditIncidents(range),
      source.verifyAuditLog(),
      activity(source, { ...range, bucket: days <= 92 ? 'hour' : 'day', groupBy: 'door' }),
    ])
  return {
    from: range.from.toISOString(),
    to: range.to.toISOString(),
    generated_at: new Date().toISOString(),
    totals: {
      ...traffic.totals,
      by_door: traffic.series.map((s) => ({
        door: s.name,
        events: s.events.reduce((a, b) => a + b, 0),
      })),
    },
    inventory: listing,
    rotations: changes.map((change) => ({
      secret_name: change.secretName,
      version: change.version,
      rotated: change.rotated,
      changed_at: change.changedAt.toISOString(),
      previous_at: change.previousAt.toISOString(),
      interval_days: change.intervalDays,
      due_at: iso(change.dueAt),
      late_seconds: change.lateSeconds,
      on_time: change.lateSeconds === null ? null : change.lateSeconds === 0,
    })),
    accessors: accessors.map(accessorJson),
    failures: failures.map((failure) => ({
      secret_name: failure.secretName,
      accessed_by: boundedUntrustedText(failure.accessedBy),
      access_type: failure.accessType,
      error_message: text(failure.errorMessage),
      events: failure.events,
      first_at: failure.firstAt.toISOString(),
      last_at: failure.lastAt.toISOString(),
    })),
    alerts: raised,
    incidents: incidents.map((run) => ({
      id: run.id,
      secret_name: run.secretName,
      accessed_by: boundedUntrustedText(run.accessedBy),
      success: run.success,
      error_message: text(run.errorMessage),
      at: run.createdAt.toISOString(),
    })),
    verification: {
      intact: verification.intact,
      rows_checked: verification.rowsChecked,
      first_broken_id: verification.firstBrokenId,
      reason: verification.reason,
      last_id: verification.lastId,
      last_hash: verification.lastHash,
    },
  }
}

/** The report's content. */
export type Report = Awaited<ReturnType<typeof report>>

/** An ISO 8601 time (or date) from a user; INVALID_ARGUMENT otherwise. */
export function parseTime(value: string, field: string): Date {
  const date = new Date(value)
  if (!/^\d{4}-\d{2}-\d{2}/.test(value) || Number.isNaN(date.getTime())) {
    invalid(`${field} must be an ISO 8601 date or time (2026-12-01, 2026-12-01T08:00:00Z)`)
  }
  return date
}

function invalid(message: string): never {
  throw new KeywardenError('INVALID_ARGUMENT', message)
}
