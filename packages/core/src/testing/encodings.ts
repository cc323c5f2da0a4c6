/**
 * The encodings a door's output may carry a secret value in, each written independently of
 * the redactor (Node's Buffer, URL and JSON, `entities`' encoder, hand-made dump formats), for
 * the redaction suites of every door (test-only). Each takes the value and returns text that
 * holds it, sometimes inside a longer encoded blob (`Basic base64(user:value)`) so the value
 * sits at every byte alignment.
 */
import { encodeHTML } from 'entities'
import { redact } from '../redact/index.ts'

/** One way a value can come back. */
export interface Encoding {
  name: string
  /** The bytes as they are sent (what a child process writes, what a server answers). */
  bytes(value: string): Buffer
}

/** The encoded value as a door reads it: its bytes decoded as UTF-8. */
export function encodedText(encoding: Encoding, value: string): string {
  return encoding.bytes(value).toString('utf8')
}

const text = (name: string, encode: (value: string) => string): Encoding => ({
  name,
  bytes: (value) => Buffer.from(encode(value), 'utf8'),
})

const bytes = (value: string) => Buffer.from(value, 'utf8')

function percentEncode(value: string, keep: RegExp, { lower = false, plus = false } = {}) {
  let out = ''
  for (const byte of bytes(value)) {
    const char = String.fromCharCode(byte)
    if (plus && char === ' ') out += '+'
    else if (byte < 0x80 && keep.test(char)) out += char
    else {
      const hex = byte.toString(16).padStart(2, '0')
      out += `%${lower ? hex : hex.toUpperCase()}`
    }
  }
  return out
}

function wrap(text: string, columns: number, newline: string): string {
  return (text.match(new RegExp(`.{1,${columns}}`, 'gs')) ?? []).join(newline)
}

/** `od -tx1` (GNU): 7-digit octal offsets, 16 space-separated bytes per line. */
function odDump(data: Buffer): string {
  const lines: string[] = []
  for (let offset = 0; offset < data.length; offset += 16) {
    const row = [...data.subarray(offset, offset + 16)].map((b) => b.toString(16).padStart(2, '0'))
    lines.push(`${offset.toString(8).padStart(7, '0')} ${row.join(' ')}`)
  }
  lines.push(data.length.toString(8).padStart(7, '0'))
  return `${lines.join('\n')}\n`
}

const unitEscape = (value: string, upper: boolean) =>
  [...value]
    .flatMap((char) => [...Array(char.length).keys()].map((i) => char.charCodeAt(i)))
    .map((unit) => {
      const hex = unit.toString(16).padStart(4, '0')
      return `\\u${upper ? hex.toUpperCase() : hex}`
    })
    .join('')

/** Every encoding the redactor must see through (more than 20). */
export const ENCODINGS: readonly Encoding[] = [
  text('raw', (v) => v),
  text('ASCII lower case (a parsed URL host)', (v) => v.replace(/[A-Z]/g, (c) => c.toLowerCase())),
  text('ASCII upper case', (v) => v.replace(/[a-z]/g, (c) => c.toUpperCase())),
  text('base64', (v) => bytes(v).toString('base64')),
  text('base64 unpadded', (v) => bytes(v).toString('base64').replace(/=+$/, '')),
  text('base64url', (v) => bytes(v).toString('base64url')),
  text('Basic base64(user:value)', (v) => `Basic ${bytes(`user:${v}`).toString('base64')}`),
  text('base64 at offset 1', (v) => bytes(`x${v}tail`).toString('base64')),
  text('base64 at offset 2', (v) => bytes(`xy${v}tail`).toString('base64')),
  text('base64url at offset 1', (v) => bytes(`{${v}}`).toString('base64url')),
  text('base64 wrapped at 76 (MIME, CRLF)', (v) =>
    wrap(bytes(`${'p'.repeat(70)}${v}${'s'.repeat(40)}`).toString('base64'), 76, '\r\n'),
  ),
  text('base64 wrapped at 8', (v) => wrap(bytes(`ab${v}`).toString('base64'), 8, '\n')),
  text('hex', (v) => bytes(v).toString('hex')),
  text('HEX', (v) => bytes(v).toString('hex').toUpperCase()),
  text('xxd -p', (v) => `${wrap(bytes(`${'z'.repeat(25)}${v}`).toString('hex'), 60, '\n')}\n`),
  text('od -tx1', (v) => odDump(bytes(`lead:${v}`))),
  text('encodeURIComponent', (v) => encodeURIComponent(v)),
  text('percent, lower case', (v) => percentEncode(v, /[A-Za-z0-9\-_.!~*'()]/, { lower: true })),
  text('every byte percent-encoded', (v) => percentEncode(v, /(?!)/, { lower: true })),
  text("Python quote (safe='/')", (v) => percentEncode(v, /[A-Za-z0-9_.\-~/]/)),
  text('Python quote_plus', (v) => percentEncode(v, /[A-Za-z0-9_.\-~]/, { plus: true })),
  text('form (URLSearchParams)', (v) => new URLSearchParams({ v }).toString().slice(2)),
  text('JSON', (v) => JSON.stringify({ v })),
  text('JSON with \\/', (v) => JSON.stringify(v).replace(/\//g, '\\/')),
  text('JSON \\uxxxx for every char', (v) => `"${unitEscape(v, false)}"`),
  text('JSON \\uXXXX for every char', (v) => `"${unitEscape(v, true)}"`),
  text('HTML named entities', (v) => encodeHTML(v)),
  text('HTML decimal entities', (v) => [...v].map((c) => `&#${c.codePointAt(0)};`).join('')),
  text('HTML hex entities', (v) =>
    [...v].map((c, i) => `&#${i % 2 ? 'X' : 'x'}${(c.codePointAt(0) ?? 0).toString(16)};`).join(''),
  ),
  { name: 'UTF-16LE', bytes: (v) => Buffer.from(v, 'utf16le') },
  { name: 'UTF-16BE', bytes: (v) => Buffer.from(v, 'utf16le').swap16() },
]

/**
 * The canary check over every encoding: the names of the encodings of `value` that occur in
 * `text` (each written by the encoders above), plus `redactor` when the redactor itself still
 * finds a form of the value there (so wrapped and embedded forms count too). Empty: no leak.
 */
export function canaryLeaks(text: string, value: string): string[] {
  const leaks = ENCODINGS.filter((encoding) => text.includes(encodedText(encoding, value))).map(
    (encoding) => encoding.name,
  )
  if (redact(text, [{ name: 'canary', value }]) !== text) leaks.push('redactor')
  return leaks
}
