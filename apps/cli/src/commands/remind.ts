/** `keywarden remind`: the reminder job — one webhook notification per secret per window. */
import { runRotationCheck } from '@keywarden/core'
import type { CommandModule } from '../context.ts'
import { UsageError } from '../errors.ts'
import { relativeTime } from '../format.ts'
import { daysFrom } from '../time.ts'
import { webhookFrom } from '../webhook.ts'

export const options: CommandModule['options'] = {
  days: { type: 'string' },
}

export const help = `Usage: keywarden remind [--days 7] [--json]

The rotation reminder job, for cron or a scheduler: finds the secrets whose rotation or expiry
falls within DAYS days (or has passed) and posts one reminder per secret per window to
KEYWARDEN_WEBHOOK_URL (Slack-compatible JSON): once when it comes due, once more when overdue,
and again only after the due date moves. Running it twice, or on two machines at once, sends
nothing twice: the vault records what was sent. A failed delivery is retried with backoff, then
left for the next run (exit 1). Without KEYWARDEN_WEBHOOK_URL it lists what is due and sends
nothing.

Options:
  --days N   the window, in whole days from 0 to 3650 (default 7)
  --json     {"due": [names], "notified": [names], "already_notified": [names], "failed": [names]}

Examples:
  KEYWARDEN_WEBHOOK_URL=https://hooks.slack.com/services/... keywarden remind
  0 9 * * * keywarden remind --days 14   # crontab`

export const run: CommandModule['run'] = async (context, { positionals, values }) => {
  if (positionals.length > 0) {
    throw new UsageError('remind takes no arguments; see keywarden remind --help')
  }
  const days = daysFrom(values.days)
  const client = await context.client()
  const webhook = webhookFrom(context.env)
  const result = await runRotationCheck({ client, days, ...(webhook ? { webhook } : {}) })
  const { out } = context
  const status = result.failed.length > 0 ? 1 : 0
  if (out.json) {
    out.printJson({
      due: result.due.map((secret) => secret.name),
      notified: result.notified,
      already_notified: result.alreadyNotified,
      failed: result.failed,
    })
    return status
  }
  if (result.due.length === 0) {
    out.line(`Nothing falls due in the next ${days} day(s).`)
    return status
  }
  const notified = new Set(result.notified)
  const failed = new Set(result.failed)
  const now = Date.now()
  for (const secret of result.due) {
    const state = notified.has(secret.name)
      ? 'reminded'
      : failed.has(secret.name)
        ? out.paint.red('delivery failed')
        : webhook
          ? 'already reminded'
          : 'not sent'
    const due = secret.overdue
      ? out.paint.red(`OVERDUE (${relativeTime(secret.dueAt, now)})`)
      : relativeTime(secret.dueAt, now)
    out.line(
      `${secret.name}  ${secret.reason === 'expires' ? 'expires' : 'rotation due'} ${due}  ${state}`,
    )
  }
  if (!webhook) out.note('KEYWARDEN_WEBHOOK_URL is not set: nothing was sent.')
  return status
}
