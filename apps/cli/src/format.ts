/**
 * Small formatting helpers shared by the commands: relative times, table cells, CSV fields,
 * and the quoting that `export` writes. Pure functions, so they are tested without a vault.
 */
import type { AuditRecord } from '@keywarden/core'

const SECOND = 1_000
const MINUTE = 60 * SECOND
const HOUR = 60 * MINUTE
const DAY = 24 * HOUR

/**
 * A date relative to `now` as people say it: `in 90 days`, `3 hours ago`, `just now`. Rounded
 * to the nearest unit, so a 24-hour grace period started a moment ago reads "in 24 hours".
 */
export function relativeTime(date: Date, now: number = Date.now()): string {
  const delta = date.getTime() - now
  const distance = Math.abs(delta)
  if (distance < 45 * SECOND) return 'just now'
  const [amount, unit] =
    distance < HOUR - 30 * SECOND
      ? [Math.round(distance / MINUTE), 'minute']
      : distance < DAY + 30 * MINUTE
        ? [Math.round(distance / HOUR), 'hour']
        : distance < 364.5 * DAY
          ? [Math.round(distance / DAY), 'day']
          : [Math.round(distance / (365.25 * DAY)), 'year']
  const span = `${amount} ${unit}${amount === 1 ? '' : 's'}`
  return delta > 0 ? `in ${span}` : `${span} ago`
}

/** A date for a table: relative, or a placeholder for none. */
export function relativeOrDash(date: Date | null, now: number = Date.now()): string {
  return date === null ? '-' : relativeTime(date, now)
}

/**
 * Text from the vault made safe for one table cell: control characters (newlines, ANSI escape
 * sequences a stored description could carry into the terminal) become spaces, and long text
 * is cut with an ellipsis so one row stays one line.
 */
export function tableCell(text: string | null | undefined, maxLength = 60): string {
  if (text === null || text === undefined) return ''
  // biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
  const clean = text.replace(/[\u0000-\u001f\u007f-\u009f]+/g, ' ')
  return clean.length > maxLength ? `${clean.slice(0, maxLength - 1)}…` : clean
}

/** One CSV field, RFC 4180: quoted when it holds a comma, quote, CR or LF; quotes doubled. */
export function csvField(value: string | number | boolean | null | undefined): string {
  const text = value === null || value === undefined ? '' : String(value)
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text
}

/** One CSV record with RFC 4180's CRLF line ending. */
export function csvRecord(fields: ReadonlyArray<string | number | boolean | null | undefined>) {
  return `${fields.map(csvField).join(',')}\r\n`
}

/**
 * A value for a POSIX shell, single-quoted: nothing inside single quotes is special, and a
 * single quote itself is written as `'\''` (close, escaped quote, reopen).
 */
export function shellQuote(value: string): string {
  return `'${value.replaceAll("'", "'\\''")}'`
}

// Characters no dotenv dialect treats specially in an unquoted value.
const DOTENV_BARE = /^[A-Za-z0-9_./:@%+,=^~-]+$/

/**
 * A value for a `.env` file, in the form that reads back the same in the common dialects
 * (docker compose, python-dotenv, dotenv, `keywarden import`):
 * - bare when it holds only plain characters;
 * - single-quoted (literal) when it holds no single quote, backslash or line break;
 * - otherwise double-quoted, with `\\`, `\"`, `\n`, `\r` and `\$` escaped (the `$` so that
 *   expanding dialects do not read it as a variable).
 */
export function dotenvQuote(value: string): string {
  if (DOTENV_BARE.test(value)) return value
  if (!/['\\\r\n]/.test(value)) return `'${value}'`
  const escaped = value.replace(/[\\"\n\r$]/g, (char) => {
    switch (char) {
      case '\n':
        return '\\n'
      case '\r':
        return '\\r'
      default:
        return `\\${char}`
    }
  })
  return `"${escaped}"`
}

/** The audit CSV's columns, named as in public.secret_access_log. */
const AUDIT_CSV_HEADER = [
  'secret_name',
  'accessed_by',
  'access_type',
  'success',
  'error_message',
  'created_at',
  'event_count',
  'source',
] as const

/** Audit rows as RFC 4180 CSV with a header row (`audit --format csv`, `incident --csv`). */
export function auditCsv(records: readonly AuditRecord[]): string {
  let text = csvRecord(AUDIT_CSV_HEADER)
  for (const record of records) {
    text += csvRecord([
      record.secretName,
      record.accessedBy,
      record.accessType,
      record.success,
      record.errorMessage,
      record.createdAt.toISOString(),
      record.eventCount,
      record.source,
    ])
  }
  return text
}
