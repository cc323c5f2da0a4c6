import { describe, expect, it } from 'vitest'
import { csvField, csvRecord, dotenvQuote, relativeTime, shellQuote, tableCell } from './format.ts'
import { parseCsv } from './testing/csv.ts'

const NOW = Date.parse('2026-11-28T12:00:00Z')
const at = (ms: number) => new Date(NOW + ms)
const MINUTE = 60_000
const HOUR = 60 * MINUTE
const DAY = 24 * HOUR

describe('relativeTime', () => {
  it.each([
    [0, 'just now'],
    [-30_000, 'just now'],
    [50_000, 'in 1 minute'],
    [-5 * MINUTE, '5 minutes ago'],
    [3 * HOUR, 'in 3 hours'],
    // A 24-hour grace period started a moment ago.
    [24 * HOUR - 2_000, 'in 24 hours'],
    [90 * DAY - 2_000, 'in 90 days'],
    [-2 * DAY, '2 days ago'],
    [-2523 * DAY, '7 years ago'],
  ])('%d ms → %s', (offset, text) => {
    expect(relativeTime(at(offset), NOW)).toBe(text)
  })
})

describe('tableCell', () => {
  it('keeps one row on one line and terminal escapes out', () => {
    expect(tableCell('line\nnext\u001b[31mred')).toBe('line next [31mred')
    expect(tableCell('x'.repeat(50), 10)).toBe(`${'x'.repeat(9)}…`)
    expect(tableCell(null)).toBe('')
  })
})

describe('CSV', () => {
  it('quotes only what needs it and round-trips', () => {
    expect(csvField('plain')).toBe('plain')
    expect(csvField('a,b')).toBe('"a,b"')
    expect(csvField('say "hi"')).toBe('"say ""hi"""')
    expect(csvField(null)).toBe('')
    expect(csvField(false)).toBe('false')
    const fields = ['a,b', 'q"uote', 'multi\nline', 'cr\r\nlf', '', 'x']
    expect(parseCsv(csvRecord(fields) + csvRecord(['1', '2']))).toEqual([fields, ['1', '2']])
  })
})

const TRICKY = [
  'plain-token_123',
  "it's",
  'say "hi"',
  // biome-ignore lint/suspicious/noTemplateCurlyInString: a literal ${...} is the point
  'dollar $HOME and ${PATH} and `cmd`',
  'back\\slash \\n not a newline',
  'two\nlines\r\nand CRLF',
  '  leading and trailing  ',
  '# not a comment',
  'tab\there',
  'mixed \'single\' "double" $var \\ \n end',
  'unicode ✓ 🔑',
]

describe('shellQuote', () => {
  it('reads back the same through a real shell', async () => {
    const { execFileSync } = await import('node:child_process')
    for (const value of TRICKY) {
      const out = execFileSync('sh', ['-c', `V=${shellQuote(value)}; printf %s "$V"`], {
        encoding: 'utf8',
      })
      expect(out).toBe(value)
    }
  })
})

describe('dotenvQuote', () => {
  it('leaves plain values bare and quotes the rest', () => {
    expect(dotenvQuote('ghp_abc123')).toBe('ghp_abc123')
    expect(dotenvQuote('with space')).toBe("'with space'")
    expect(dotenvQuote('$HOME')).toBe("'$HOME'")
    expect(dotenvQuote("it's\n")).toBe('"it\'s\\n"')
    expect(dotenvQuote('a\\b')).toBe('"a\\\\b"')
  })

  it('single-quoted values read back the same through a shell too', async () => {
    const { execFileSync } = await import('node:child_process')
    for (const value of TRICKY) {
      const quoted = dotenvQuote(value)
      if (quoted.startsWith('"')) continue
      const out = execFileSync('sh', ['-c', `V=${quoted}; printf %s "$V"`], { encoding: 'utf8' })
      expect(out).toBe(value)
    }
  })
})
