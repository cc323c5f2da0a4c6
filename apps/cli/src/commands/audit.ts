/**
 * `keywarden audit`: the audit log, newest first, as a table, JSON or CSV; and
 * `keywarden audit verify [--anchor FILE]`, the walk of its hash chain.
 */
import { readFile } from 'node:fs/promises'
import {
  type AuditAnchor,
  type AuditFilter,
  type AuditRecord,
  type AuditVerification,
  auditRecordJson,
  validateSecretName,
} from '@keywarden/core'
import type { CommandContext, CommandModule } from '../context.ts'
import { UsageError } from '../errors.ts'
import { replaceAtomically } from '../files.ts'
import { auditCsv, relativeTime, tableCell } from '../format.ts'
import { parseDuration } from '../time.ts'

export const options: CommandModule['options'] = {
  secret: { type: 'string' },
  failed: { type: 'boolean' },
  since: { type: 'string' },
  limit: { type: 'string' },
  format: { type: 'string' },
  anchor: { type: 'string' },
}

export const help = `Usage: keywarden audit [--secret NAME] [--failed] [--since 30d] [--limit N] [--format table|json|csv]
       keywarden audit verify [--anchor FILE] [--json]

Shows who accessed which secret, how, and whether it worked, newest first. Reads served from a
process's cache are counted per minute (the count column). Values are never logged.

Options:
  --secret NAME   only this secret
  --failed        only failed accesses
  --since DUR     only the last 30d, 24h, 15m...
  --limit N       at most N rows (default 100, at most 100000)
  --format FMT    table (default), json or csv (RFC 4180, with a header row)
  --json          the same as --format json

verify walks the log's hash chain (each row hashes the one before it) and reports the first
row where it breaks: a row changed or deleted behind the append-only trigger. Exit code 1 when
broken. With --anchor FILE it also checks the row recorded in FILE at the last verification
(catching a cut-off tail) and, when intact, records the newest row there (mode 0600). Keep the
file where the database's owner cannot write.

Examples:
  keywarden audit verify --anchor ~/keywarden-audit.anchor
  keywarden audit --secret github_token --since 7d
  keywarden audit --failed --since 24h
  keywarden audit --since 30d --limit 100000 --format csv > audit-log.csv`

const FORMATS = ['table', 'json', 'csv'] as const
type Format = (typeof FORMATS)[number]

export const run: CommandModule['run'] = async (context, { positionals, values }) => {
  if (positionals[0] === 'verify' && positionals.length === 1) return verify(context, values)
  if (positionals.length > 0) {
    throw new UsageError(
      'audit takes no arguments but verify (use --secret NAME); see keywarden audit --help',
    )
  }
  if (values.anchor !== undefined) throw new UsageError('--anchor goes with keywarden audit verify')
  const format = formatFrom(values.format, context.out.json)
  const filter = filterFrom(values)
  const client = await context.client()
  const records = await client.queryAudit(filter)
  const { out } = context
  if (format === 'json') {
    // Core's snake_case shape, as the MCP tools and the edge answer it; the owner's own
    // accessor names and messages whole.
    out.printJson(
      records.map((record) => ({
        ...auditRecordJson(record),
        accessed_by: record.accessedBy,
        error_message: record.errorMessage,
      })),
    )
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

/** Verifies the chain, against the anchor file if one is given, and moves the anchor on. */
async function verify(context: CommandContext, values: Record<string, unknown>): Promise<number> {
  for (const name of ['secret', 'failed', 'since', 'limit', 'format']) {
    if (values[name] !== undefined) throw new UsageError(`--${name} does not go with audit verify`)
  }
  const file = typeof values.anchor === 'string' ? values.anchor : undefined
  const anchor = file === undefined ? undefined : await readAnchor(file)
  const client = await context.client()
  const result = await client.verifyAuditLog(anchor ? { anchor } : {})
  const recorded = file !== undefined && result.intact && result.lastId !== null
  if (recorded && result.lastHash !== null) {
    const next: AuditAnchor = { id: result.lastId as number, hash: result.lastHash }
    await replaceAtomically(file, Buffer.from(`${JSON.stringify(next)}\n`), 0o600)
  }
  const { out } = context
  if (out.json) {
    out.printJson({
      intact: result.intact,
      rows_checked: result.rowsChecked,
      first_broken_id: result.firstBrokenId,
      reason: result.reason,
      last_id: result.lastId,
      last_hash: result.lastHash,
      anchor_checked: anchor !== undefined,
      anchor_recorded: recorded,
    })
  } else {
    out.line(describe(result, anchor))
    if (recorded) out.note(`anchor recorded in ${file}: row ${result.lastId}`)
  }
  return result.intact ? 0 : 1
}

const REASONS: Record<string, string> = {
  hash_mismatch: 'its content or hash was changed, or the row before it was deleted',
  anchor_mismatch: 'the anchored row was rewritten',
  anchor_missing: 'the anchored row is gone: the log was cut back',
  checkpoint_mismatch: 'the retention checkpoint was changed: its row in the chain says otherwise',
  checkpoint_missing: "the retention checkpoint's row in the chain is gone",
}

function describe(result: AuditVerification, anchor: AuditAnchor | undefined): string {
  if (result.intact) {
    const last = result.lastId === null ? '' : `, newest row ${result.lastId}`
    const anchored = anchor ? `, anchor row ${anchor.id} matches` : ''
    return `audit log intact: ${result.rowsChecked} rows checked${last}${anchored}`
  }
  const where = result.firstBrokenId === null ? 'at its end' : `at row ${result.firstBrokenId}`
  const why = REASONS[result.reason ?? ''] ?? result.reason ?? 'unknown'
  return `audit log BROKEN ${where}: ${why} (${result.rowsChecked} rows checked before it)`
}

/** The anchor file's `{ id, hash }`; a missing file is a first run. */
async function readAnchor(file: string): Promise<AuditAnchor | undefined> {
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw new UsageError(`cannot read the anchor file ${file}`)
  }
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch {
    parsed = undefined
  }
  const { id, hash } = (parsed ?? {}) as { id?: unknown; hash?: unknown }
  if (
    typeof id !== 'number' ||
    !Number.isSafeInteger(id) ||
    id < 1 ||
    typeof hash !== 'string' ||
    !/^[0-9a-f]{64}$/.test(hash)
  ) {
    throw new UsageError(`the anchor file ${file} is not {"id": <row>, "hash": "<64 hex>"}`)
  }
  return { id, hash }
}
