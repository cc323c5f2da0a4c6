/** `keywarden alerts`: suspicious access patterns and overdue secrets; new ones go to the webhook. */
import { notifyNewAlerts, type SecretAlert, secretAlertJson } from '@keywarden/core'
import type { CommandModule } from '../context.ts'
import { UsageError } from '../errors.ts'
import { relativeTime, tableCell } from '../format.ts'
import { parseDuration } from '../time.ts'
import { webhookFrom } from '../webhook.ts'

export const options: CommandModule['options'] = {
  since: { type: 'string' },
}

export const help = `Usage: keywarden alerts [--since 24h] [--json]

Lists alerts from the audit log since --since (default 24h, at most 90d):
  failed_access_burst   more than 5 failed accesses or authentications by one accessor in an hour
                        (severity low when all were your own CLI slips: names not found,
                        nothing staged; high otherwise)
  new_accessor          an accessor's first use of a secret that others already used
  access_spike          an hour with more than 10x the secret's median hourly accesses
  rotation_overdue      past its rotation due date (severity: the type's risk level)
  secret_expired        past its expiry
When KEYWARDEN_WEBHOOK_URL is set, each alert not sent before is posted to it (Slack-compatible
JSON) — once, whoever runs this, tracked in the vault. Exits 1 when a delivery failed.

Options:
  --since DUR   how far back: 30m, 24h (default), 7d
  --json        {"alerts": [{"key", "kind", "severity", "secret_name", "accessed_by",
                "occurred_at", "evidence"}], "notified": [keys], "failed": [keys]}

Examples:
  keywarden alerts
  KEYWARDEN_WEBHOOK_URL=https://hooks.slack.com/services/... keywarden alerts --since 1h`

/** The longest window `secret_alerts` accepts (its SQL refuses more, naming its own arguments). */
const MAX_WINDOW_MS = 90 * 86_400_000

function sinceWindow(text: string): number {
  const window = parseDuration(text, '--since')
  if (window > MAX_WINDOW_MS) throw new UsageError('--since must be at most 90d, e.g. --since 7d')
  return window
}

export const run: CommandModule['run'] = async (context, { positionals, values }) => {
  if (positionals.length > 0) {
    throw new UsageError('alerts takes no arguments; see keywarden alerts --help')
  }
  const since =
    typeof values.since === 'string' ? new Date(Date.now() - sinceWindow(values.since)) : undefined
  const client = await context.client()
  const webhook = webhookFrom(context.env)
  const result = await notifyNewAlerts({
    client,
    ...(webhook ? { webhook } : {}),
    ...(since ? { since } : {}),
  })
  const { out } = context
  const status = result.failed.length > 0 ? 1 : 0
  if (out.json) {
    out.printJson({
      // Core's snake_case shape; the owner's own accessor names whole.
      alerts: result.alerts.map((alert) => ({
        ...secretAlertJson(alert),
        accessed_by: alert.accessedBy,
      })),
      notified: result.notified,
      failed: result.failed,
    })
    return status
  }
  if (result.alerts.length === 0) {
    out.line('No alerts.')
    return status
  }
  const now = Date.now()
  out.table(
    [
      { key: 'when', header: 'WHEN' },
      { key: 'severity', header: 'SEVERITY' },
      { key: 'kind', header: 'KIND' },
      { key: 'secret', header: 'SECRET' },
      { key: 'accessor', header: 'ACCESSOR' },
      { key: 'evidence', header: 'EVIDENCE' },
    ],
    result.alerts.map((alert) => row(alert, now)),
  )
  if (webhook) {
    out.note(
      `Sent ${result.notified.length} new alert(s) to the webhook${result.failed.length > 0 ? `; ${result.failed.length} could not be delivered and will be sent next time` : ''}.`,
    )
  }
  return status
}

function row(alert: SecretAlert, now: number) {
  return {
    when: relativeTime(alert.occurredAt, now),
    severity: alert.severity,
    kind: alert.kind,
    secret: tableCell(alert.secretName ?? '-'),
    accessor: tableCell(alert.accessedBy ?? '-', 30),
    evidence: tableCell(JSON.stringify(alert.evidence), 80),
  }
}
