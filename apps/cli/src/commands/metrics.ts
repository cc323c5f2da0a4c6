/** `keywarden metrics`: per-secret usage from the audit log, and where each stands on rotation. */
import { type SecretMetric, secretMetricJson } from '@keywarden/core'
import type { CommandModule } from '../context.ts'
import { UsageError } from '../errors.ts'
import { relativeOrDash } from '../format.ts'

export const options: CommandModule['options'] = {}

export const help = `Usage: keywarden metrics [--json]

Per secret: accesses in the last 24 hours and 7 days (aggregated cache hits counted one by one),
the failed share of those accesses, the accessors (services) that used it in the last 7 days,
its last access, how long since it was last rotated, its risk level and when rotation is due.

Options:
  --json   an array of {"name", "type", "risk_level", "accesses_24h", "accesses_7d", "failed_7d",
           "failure_rate", "accessors_7d", "last_accessed_at", "last_rotated_at",
           "seconds_since_rotation", "rotation_due_at", "expires_at", "rotation_staged_at"}
           (the shape of the MCP secret_metrics tool and the edge plugin's /metrics)

Examples:
  keywarden metrics
  keywarden metrics --json | jq '.[] | select(.failure_rate > 0.1) | .name'`

export const run: CommandModule['run'] = async (context, { positionals }) => {
  if (positionals.length > 0) {
    throw new UsageError('metrics takes no arguments; see keywarden metrics --help')
  }
  const client = await context.client()
  const metrics = await client.secretMetrics()
  const { out } = context
  if (out.json) {
    out.printJson(metrics.map(secretMetricJson))
    return 0
  }
  if (metrics.length === 0) {
    out.line('The vault holds no secrets yet.')
    return 0
  }
  const now = Date.now()
  out.table(
    [
      { key: 'name', header: 'NAME' },
      { key: 'risk', header: 'RISK' },
      { key: 'day', header: '24H' },
      { key: 'week', header: '7D' },
      { key: 'failed', header: 'FAILED' },
      { key: 'accessors', header: 'ACCESSORS' },
      { key: 'last', header: 'LAST ACCESS' },
      { key: 'age', header: 'ROTATED' },
      { key: 'due', header: 'ROTATION DUE' },
    ],
    metrics.map((metric) => row(metric, now, out.paint.red)),
  )
  return 0
}

function row(metric: SecretMetric, now: number, red: (text: string) => string) {
  const failed = `${(metric.failureRate * 100).toFixed(1)}%`
  const due = relativeOrDash(metric.rotationDueAt, now)
  return {
    name: metric.name,
    risk: metric.riskLevel,
    day: String(metric.accesses24h),
    week: String(metric.accesses7d),
    failed: metric.failed7d > 0 ? red(failed) : failed,
    accessors: String(metric.accessors7d.length),
    last: relativeOrDash(metric.lastAccessedAt, now),
    // As `list` says it: a secret never rotated is `never`, not its age since creation.
    age: metric.lastRotatedAt === null ? 'never' : relativeOrDash(metric.lastRotatedAt, now),
    due: metric.rotationDueAt !== null && metric.rotationDueAt.getTime() <= now ? red(due) : due,
  }
}
