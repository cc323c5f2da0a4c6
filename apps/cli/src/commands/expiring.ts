/** `keywarden expiring`: secrets that expire or fall due for rotation soon, or already have. */
import { type ExpiringSecret, expiringSecretJson } from '@keywarden/core'
import type { CommandModule } from '../context.ts'
import { UsageError } from '../errors.ts'
import { relativeTime } from '../format.ts'
import { daysFrom } from '../time.ts'

export const options: CommandModule['options'] = {
  days: { type: 'string' },
}

export const help = `Usage: keywarden expiring [--days 7] [--json]

Lists the secrets whose expiry or rotation falls within the next DAYS days, and those already
overdue (marked). Rotation intervals come from the type: 90 days for GitHub tokens and API keys,
180 for service keys.

Options:
  --days N   the window, in whole days from 0 to 3650 (default 7)
  --json     an array of {"name", "type", "reason", "due_at", "expires_at", "rotation_due_at",
             "overdue"}; reason is "expires" or "rotation_due"

Examples:
  keywarden expiring
  keywarden expiring --days 30 --json | jq -r '.[] | select(.overdue) | .name'`

export const run: CommandModule['run'] = async (context, { positionals, values }) => {
  if (positionals.length > 0) {
    throw new UsageError('expiring takes no arguments; see keywarden expiring --help')
  }
  const days = daysFrom(values.days)
  const client = await context.client()
  const secrets = await client.checkExpiringSecrets(days)
  const { out } = context
  if (out.json) {
    out.printJson(secrets.map(toJson))
    return 0
  }
  if (secrets.length === 0) {
    out.line(`Nothing expires or falls due for rotation in the next ${plural(days, 'day')}.`)
    return 0
  }
  const now = Date.now()
  out.table(
    [
      { key: 'name', header: 'NAME' },
      { key: 'type', header: 'TYPE' },
      { key: 'reason', header: 'REASON' },
      { key: 'due', header: 'DUE' },
    ],
    secrets.map((secret) => ({
      name: secret.name,
      type: secret.type,
      reason: secret.reason === 'expires' ? 'expires' : 'rotation due',
      due: secret.overdue
        ? out.paint.red(`OVERDUE (${relativeTime(secret.dueAt, now)})`)
        : `${relativeTime(secret.dueAt, now)}`,
    })),
  )
  return 0
}

/** Core's snake_case shape, as the MCP tools and the edge answer it. */
function toJson(secret: ExpiringSecret) {
  return expiringSecretJson(secret)
}

function plural(count: number, unit: string): string {
  return `${count} ${unit}${count === 1 ? '' : 's'}`
}
