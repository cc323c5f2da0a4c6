/** `keywarden audit`: the audit log, newest first, as a table, JSON or CSV. */
import { type AuditFilter, type AuditRecord, validateSecretName } from '@keywarden/core'
import type { CommandModule } from '../context.ts'
import { UsageError } from '../errors.ts'
import { auditCsv, relativeTime, tableCell } from '../format.ts'
import { parseDuration } from '../time.ts'

export const options: CommandModule['options'] = {
  secret: { type: 'string' },
  failed: { type: 'boolean' },
  since: { type: 'string' },
  limit: { type: 'string' },
  format: { type: 'string' },
}

export const help = `Usage: keywarden audit [--secret NAME] [--failed] [--since 30d] [--limit N] [--format table|json|csv]

Shows who accessed which secret, how, and whether it worked, newest first. Reads served from a
process's cache are counted per minute (the count column). Values are never logged.

Options:
  --secret NAME   only this secret
  --failed        only failed accesses
  --since DUR     only the last 30d, 24h, 15m...
  --limit N       at most N rows (default 100, at most 100000)
  --format FMT    table (default), json or csv (RFC 4180, with a header row)
  --json          the same as --format json

Examples:
  keywarden audit --secret github_token --since 7d
  keywarden audit --failed --since 24h
  keywarden audit --since 30d --limit 100000 --format csv > audit-log.csv`

const FORMATS = ['table', 'json', 'csv'] as const
type Format = (typeof FORMATS)[number]

export const run: CommandModule['run'] = async (context, { positionals, values }) => {
  if (positionals.length > 0) {
    throw new UsageError('audit takes no arguments (use --secret NAME); see keywarden audit --help')
  }
  const format = formatFrom(values.format, context.out.json)
  const filter = filterFrom(values)
  const client = await context.client()
  const records = await client.queryAudit(filter)
  const { out } = context
  if (format === 'json') {
    out.printJson(records)
    return 0
  }
  if (format === 'csv') {
    out.write(auditCsv(records))
    return 0
  }
  if (records.length === 0) {
    out.line('No audit entries match.')
    return 0
  }
  const now = Date.now()
  out.table(
    [
      { key: 'when', header: 'WHEN' },
      { key: 'secret', header: 'SECRET' },
      { key: 'by', header: 'BY' },
      { key: 'access', header: 'ACCESS' },
      { key: 'result', header: 'RESULT' },
      { key: 'count', header: 'COUNT' },
      { key: 'source', header: 'SOURCE' },
      { key: 'error', header: 'ERROR' },
    ],
    records.map((record) => tableRow(record, now, out.paint.red)),
  )
  return 0
}

function tableRow(record: AuditRecord, now: number, red: (text: string) => string) {
  return {
    when: relativeTime(record.createdAt, now),
    secret: tableCell(record.secretName),
    by: tableCell(record.accessedBy, 30),
    access: tableCell(record.accessType),
    result: record.success ? 'ok' : red('FAILED'),
    count: String(record.eventCount),
    source: tableCell(record.source ?? ''),
    error: tableCell(record.errorMessage, 80),
  }
}

function formatFrom(format: unknown, json: boolean): Format {
  if (format === undefined) return json ? 'json' : 'table'
  if (typeof format !== 'string' || !FORMATS.includes(format as Format)) {
    throw new UsageError(`--format must be one of ${FORMATS.join(', ')}`)
  }
  if (json && format !== 'json') {
    throw new UsageError(`--json and --format ${format} disagree; give one of them`)
  }
  return format as Format
}

function filterFrom(values: Record<string, unknown>): AuditFilter {
  const filter: AuditFilter = {}
  if (typeof values.secret === 'string') filter.secretName = validateSecretName(values.secret)
  if (values.failed === true) filter.failedOnly = true
  if (typeof values.since === 'string') {
    filter.since = new Date(Date.now() - parseDuration(values.since, '--since'))
  }
  if (typeof values.limit === 'string') {
    const limit = Number(values.limit)
    if (!/^\d+$/.test(values.limit) || limit < 1 || limit > 100_000) {
      throw new UsageError('--limit must be a whole number from 1 to 100000')
    }
    filter.limit = limit
  }
  return filter
}
