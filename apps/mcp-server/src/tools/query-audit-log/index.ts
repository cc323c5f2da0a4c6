/**
 * `query_audit_log`: query the audit log.
 * @module
 */
import { auditRecordJson } from '@keywarden/core'
import { z } from 'zod'
import { ok } from '../../results/index.ts'
import { parseSince, UNTRUSTED_NOTE, untrusted } from '../common/index.ts'
import { defineTool } from '../index.ts'
import { auditRecordShape, nameInput } from '../shapes/index.ts'

/** The `query_audit_log` tool. */
export const queryAuditLogTool = defineTool({
  name: 'query_audit_log',
  title: 'Query the audit log',
  description:
    'Who accessed which secret, how and when, newest first. Filters: a secret name, failures only, since (a duration such as 24h or 30d, or an ISO date), and a limit (default 50).',
  inputSchema: z.strictObject({
    secret: nameInput.optional(),
    failed_only: z.boolean().optional().describe('Only failed and refused accesses'),
    since: z.string().max(64).optional().describe('e.g. 90m, 24h, 30d, or 2026-01-31T00:00Z'),
    limit: z
      .number()
      .int()
      .min(1)
      .max(1000)
      .optional()
      .describe('At most this many rows, newest first (1 to 1000, default 50)'),
  }),
  outputSchema: z.object({ count: z.number(), records: z.array(auditRecordShape) }),
  annotations: { readOnlyHint: true, openWorldHint: false },
  async handler({ client }, { secret, failed_only, since, limit = 50 }) {
    const records = (
      await client.queryAudit({
        ...(secret === undefined ? {} : { secretName: secret }),
        ...(failed_only === undefined ? {} : { failedOnly: failed_only }),
        ...(since === undefined ? {} : { since: parseSince(since) }),
        limit,
      })
    ).map(auditRecordJson)
    const text =
      records.length === 0
        ? 'No audit records match.'
        : `${UNTRUSTED_NOTE}\n${records
            .map(
              (record) =>
                `${record.created_at} ${record.secret_name} ${record.access_type} by ${untrusted(record.accessed_by)}${record.success ? '' : ` FAILED${record.error_message ? ` (${untrusted(record.error_message)})` : ''}`}${record.event_count > 1 ? ` ×${record.event_count}` : ''}`,
            )
            .join('\n')}`
    return ok({ count: records.length, records }, text)
  },
})
