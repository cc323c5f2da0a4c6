/**
 * `secret_alerts`: secret alerts.
 * @module
 */
import { secretAlertJson } from '@keywarden/core'
import { z } from 'zod'
import { ok } from '../../results/index.ts'
import { parseSince, UNTRUSTED_NOTE, untrusted } from '../common/index.ts'
import { defineTool } from '../index.ts'
import { secretAlertShape } from '../shapes/index.ts'

/** The `secret_alerts` tool. */
export const secretAlertsTool = defineTool({
  name: 'secret_alerts',
  title: 'Secret alerts',
  description:
    'Suspicious access and overdue secrets since `since` (a duration such as 24h or 7d, or an ISO date; default 24h): failed-access bursts, new accessors, access spikes, overdue rotations, expired secrets. Each alert has a kind, severity, secret, accessor and evidence (counts, times). Sends no notification.',
  inputSchema: z.strictObject({
    since: z.string().max(64).optional().describe('e.g. 90m, 24h, 7d, or 2026-01-31T00:00Z'),
  }),
  outputSchema: z.object({ count: z.number(), alerts: z.array(secretAlertShape) }),
  annotations: { readOnlyHint: true, openWorldHint: false },
  async handler({ client }, { since }) {
    const alerts = (
      await client.secretAlerts(since === undefined ? {} : { since: parseSince(since) })
    ).map(secretAlertJson)
    const text =
      alerts.length === 0
        ? 'No alerts.'
        : `${UNTRUSTED_NOTE}\n${alerts
            .map(
              (alert) =>
                `${alert.occurred_at} ${alert.severity} ${alert.kind} ${alert.secret_name ?? '-'}${alert.accessed_by ? ` by ${untrusted(alert.accessed_by)}` : ''} ${JSON.stringify(alert.evidence)}`,
            )
            .join('\n')}`
    return ok({ count: alerts.length, alerts }, text)
  },
})
