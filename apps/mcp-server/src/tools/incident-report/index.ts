/**
 * `incident_report`: incident report.
 * @module
 */
import {
  auditRecordJson,
  boundedUntrustedText,
  buildIncidentReport,
  type IncidentReport,
} from '@keywarden/core'
import { z } from 'zod'
import { ok } from '../../results/index.ts'
import { UNTRUSTED_NOTE, untrusted } from '../common/index.ts'
import { defineTool } from '../index.ts'
import { incidentShape, nameInput } from '../shapes/index.ts'

/** The report with the newest `limit` audit rows: the whole trail is the CLI's CSV. */
function incidentOutput(report: IncidentReport, limit: number): z.infer<typeof incidentShape> {
  return {
    name: report.name,
    type: report.type,
    version: report.version,
    generated_at: report.generatedAt.toISOString(),
    since: report.since.toISOString(),
    accessors: report.accessors.map((accessor) => ({
      accessed_by: boundedUntrustedText(accessor.accessedBy),
      accesses: accessor.accesses,
      failures: accessor.failures,
      first_at: accessor.firstAt.toISOString(),
      last_at: accessor.lastAt.toISOString(),
    })),
    audit_trail: {
      total_rows: report.auditTrail.length,
      complete: !report.auditTrailTruncated,
      records: report.auditTrail.slice(0, limit).map(auditRecordJson),
    },
    revocation: { instruction: report.revocation.instruction, urls: [...report.revocation.urls] },
  }
}

function describeIncident(report: z.infer<typeof incidentShape>): string {
  const { audit_trail: trail } = report
  return [
    `Incident report for ${report.name} (${report.type}, v${report.version}); nothing was rotated.`,
    UNTRUSTED_NOTE,
    `Accessors since ${report.since}:`,
    ...(report.accessors.length === 0
      ? ['- none']
      : report.accessors.map(
          (accessor) =>
            `- ${untrusted(accessor.accessed_by)}: ${accessor.accesses} access(es)${accessor.failures > 0 ? `, ${accessor.failures} failed` : ''}, last ${accessor.last_at}`,
        )),
    `Audit trail: ${trail.total_rows}${trail.complete ? '' : '+'} rows, the newest ${trail.records.length} included.`,
    `Revoke the old value: ${report.revocation.instruction}.`,
    ...report.revocation.urls.map((url) => `  ${url}`),
  ].join('\n')
}

/** The `incident_report` tool. */
export const incidentReportTool = defineTool({
  name: 'incident_report',
  title: 'Incident report',
  description:
    'For a possibly leaked secret: every accessor in the last 30 days, its audit trail (the newest `limit` rows, default 50) and where to revoke the old value at the provider. Read-only: it does not rotate; the user runs `keywarden incident NAME` for that.',
  inputSchema: z.strictObject({
    name: nameInput,
    limit: z.number().int().min(1).max(1000).optional().describe('Audit rows to include'),
  }),
  outputSchema: incidentShape,
  annotations: { readOnlyHint: true, openWorldHint: false },
  async handler({ client }, { name, limit = 50 }) {
    const report = incidentOutput(await buildIncidentReport(client, name), limit)
    return ok(report, describeIncident(report))
  },
})
