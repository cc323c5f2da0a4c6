import fc from 'fast-check'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { ENCODINGS, encodedText } from '../testing/encodings.ts'
import {
  compileRedaction,
  createRedactor,
  createStreamRedactor,
  DEFAULT_MIN_REDACT_LENGTH,
  type NamedSecret,
  redact,
} from './index.ts'

// Reference encodings computed with Node's Buffer and URL APIs, independently of the module's
// own btoa-based code, so a bug there cannot hide behind a shared helper.
function referenceForms(value: string): string[] {
  const bytes = Buffer.from(value, 'utf8')
  const base64 = bytes.toString('base64')
  const base64url = bytes.toString('base64url')
  const hex = bytes.toString('hex')
  const forms = [
    value,
    base64,
    base64.replace(/=+$/, ''),
    base64url,
    `${base64url}${'='.repeat((4 - (base64url.length % 4)) % 4)}`,
    hex,
    hex.toUpperCase(),
  ]
  // encodeURIComponent throws on a lone surrogate; the module encodes it as U+FFFD instead.
  if (!/[\uD800-\uDFFF]/.test(value.replace(/[\uD800-\uDBFF][\uDC00-\uDFFF]/g, ''))) {
    forms.push(
      encodeURIComponent(value),
      encodeURIComponent(value).replace(/%20/g, '+'),
      new URLSearchParams({ v: value }).toString().slice(2),
    )
  }
  return forms
}

// The output with its markers cut out: the pieces of original text the redactor let through.
function unmaskedPieces(output: string, secrets: readonly NamedSecret[]): string[] {
  let pieces = [output]
  for (const { name } of secrets) {
    pieces = pieces.flatMap((piece) => piece.split(`[REDACTED:${name}]`))
  }
  return pieces
}

// Unicode-rich values: full code point range, including astral characters and lone
// surrogates (binary), plus a small alphabet that makes overlaps between secrets likely.
const valueArbitrary = fc.oneof(
  fc.string({ unit: 'binary', minLength: 4, maxLength: 24 }),
  fc.string({ unit: 'grapheme', minLength: 4, maxLength: 12 }),
  fc.string({ unit: fc.constantFrom('a', 'b', ' ', '/', '+', '='), minLength: 4, maxLength: 10 }),
)
const nameArbitrary = fc.stringMatching(/^[a-z][a-z0-9_]{0,11}$/)

afterEach(() => {
  vi.unstubAllGlobals()
})

// Token-like values: the characters encoders treat specially, a little Unicode.
const tokenArbitrary = fc.string({
  unit: fc.oneof(
    { weight: 8, arbitrary: fc.constantFrom(...'abcXYZ019_-.~') },
    { weight: 3, arbitrary: fc.constantFrom(...'/+=?&%:@!*\'()"<>\\ ') },
    { weight: 1, arbitrary: fc.constantFrom('ü', 'é', '€', '😀') },
  ),
  minLength: 6,
  maxLength: 24,
})

// Random cut points of `whole` into chunks.
function chunksOf(whole: string, cuts: readonly number[]): string[] {
  const points = [...new Set(cuts.map((cut) => cut % (whole.length + 1)))].sort((a, b) => a - b)
  const chunks: string[] = []
  let previous = 0
  for (const point of [...points, whole.length]) {
    chunks.push(whole.slice(previous, point))
    previous = point
  }
  return chunks
}

describe('every encoding (generated)', () => {
  it(`masks ${ENCODINGS.length} encodings of random values in redact and the stream, split anywhere`, () => {
    expect(ENCODINGS.length).toBeGreaterThanOrEqual(20)
    fc.assert(
      fc.property(
        tokenArbitrary,
        fc.constantFrom(...ENCODINGS),
        fc.array(fc.nat(), { maxLength: 8 }),
        (value, encoding, cuts) => {
          const encoded = encodedText(encoding, value)
          const whole = `before ${encoded} after`
          const secrets = [{ name: 'tok', value }]
          const masked = redact(whole, secrets)
          expect(masked, encoding.name).toContain('[REDACTED:tok]')
          for (const piece of unmaskedPieces(masked, secrets)) {
            expect(piece, encoding.name).not.toContain(value)
            expect(encoded.includes(piece) && piece.length > 8 ? piece : '', encoding.name).toBe('')
          }
          const masker = createStreamRedactor(secrets)
          const streamed = chunksOf(whole, cuts).map((chunk) => masker.push(chunk))
          expect(streamed.join('') + masker.flush(), encoding.name).toBe(masked)
        },
      ),
      { numRuns: 2000 },
    )
  })

  it('masks each encoding of a fixed token whole, with nothing of it left around the marker', () => {
    const value = 'ghp_Secret/Value+1 ü&x'
    for (const encoding of ENCODINGS) {
      const masked = redact(encodedText(encoding, value), { gh: value })
      expect(masked, encoding.name).toContain('[REDACTED:gh]')
      // Whatever is left is the encoding's own framing (a quote, "Basic " and the base64 of
      // "user:", a padding, a dump's offsets): the same for another value of the same shape.
      const other = value.replace(/[a-zA-Z0-9]/g, (c) =>
        c === 'z'
          ? 'a'
          : c === 'Z'
            ? 'A'
            : c === '9'
              ? '0'
              : String.fromCharCode(c.charCodeAt(0) + 1),
      )
      const otherMasked = redact(encodedText(encoding, other), { gh: other })
      expect(masked, encoding.name).toBe(otherMasked)
    }
  })

  it('leaves no bit of a value in the mixed base64 characters at either end', () => {
    const value = 'Zm9vYmFyYmF6'
    for (const prefix of ['', 'a', 'ab', 'abc']) {
      for (const suffix of ['', 'x', 'xy', 'xyz']) {
        const encoded = Buffer.from(`${prefix}${value}${suffix}`).toString('base64')
        const masked = redact(encoded, { v: value })
        const [before, after] = masked.split('[REDACTED:v]')
        // What is left is determined by the neighbours alone: the same for any value.
        const other = redact(
          Buffer.from(`${prefix}${'Q'.repeat(value.length)}${suffix}`).toString('base64'),
          {
            v: 'Q'.repeat(value.length),
          },
        )
        expect([before, after], `${prefix}|${suffix}`).toEqual(other.split('[REDACTED:v]'))
      }
    }
  })

  it('masks a value in a redirect Location before URL parsing lower-cases its host', () => {
    const value = 'SeCrEtHoSt42'
    const location = `https://${value}.example.com/next`
    expect(redact(new URL(location).href, { host: value })).toBe(
      'https://[REDACTED:host].example.com/next',
    )
  })
})

describe('compileRedaction', () => {
  it('cuts a prefix at a fixed point, leaving out a form that straddles it whole', () => {
    const redaction = compileRedaction({ t: 'secret-token' })
    const text = `${'a'.repeat(10)}secret-token${'b'.repeat(100)}`
    expect(redaction.redactPrefix(text, 15)).toBe('a'.repeat(10))
    expect(redaction.redactPrefix(text, 22)).toBe(`${'a'.repeat(10)}[REDACTED:t]`)
    expect(redaction.redactPrefix(text, 30)).toBe(`${'a'.repeat(10)}[REDACTED:t]bbbbbbbb`)
    // A text that only begins like the value is cut where asked, like any other text.
    expect(redaction.redactPrefix(`${'a'.repeat(10)}secret-tok`, 18, true)).toBe(
      `${'a'.repeat(10)}secret-t`,
    )
  })

  it('reports a reach that covers the widest encoding of the longest value', () => {
    const value = 'v'.repeat(40)
    const redaction = compileRedaction({ v: value })
    const widest = Math.max(...ENCODINGS.map((encoding) => encodedText(encoding, value).length))
    expect(redaction.reach).toBeGreaterThanOrEqual(widest)
  })
})

describe('redact', () => {
  it('masks the raw value and every encoded form with the secret’s name', () => {
    const value = 'ghp_Secret/Value+1 ü'
    const text = [
      `raw ${value}`,
      `b64 ${Buffer.from(value).toString('base64')}`,
      `b64url ${Buffer.from(value).toString('base64url')}`,
      `url ?t=${encodeURIComponent(value)}`,
      `form t=${new URLSearchParams({ t: value }).toString().slice(2)}`,
      `hex ${Buffer.from(value).toString('hex')} ${Buffer.from(value).toString('hex').toUpperCase()}`,
    ].join('\n')
    expect(redact(text, { github_token: value })).toBe(
      [
        'raw [REDACTED:github_token]',
        'b64 [REDACTED:github_token]',
        'b64url [REDACTED:github_token]',
        'url ?t=[REDACTED:github_token]',
        'form t=[REDACTED:github_token]',
        'hex [REDACTED:github_token] [REDACTED:github_token]',
      ].join('\n'),
    )
  })

  it('accepts a list, where several values may share a name', () => {
    const secrets = [
      { name: 'github_token', value: 'ghp_current' },
      { name: 'github_token', value: 'ghp_previous' },
      { name: 'openai_api_key', value: 'sk-abcdef' },
    ]
    expect(redact('ghp_previous ghp_current sk-abcdef', secrets)).toBe(
      '[REDACTED:github_token] [REDACTED:github_token] [REDACTED:openai_api_key]',
    )
  })

  it('masks the longest match first, so a value containing another is masked whole', () => {
    const secrets = { short: 'abcd', long: 'xxabcdyy' }
    expect(redact('1 xxabcdyy 2 abcd', secrets)).toBe('1 [REDACTED:long] 2 [REDACTED:short]')
  })

  it('masks every occurrence, including adjacent ones', () => {
    expect(redact('tokentokentoken', { t: 'token' })).toBe('[REDACTED:t][REDACTED:t][REDACTED:t]')
  })

  it(`ignores values shorter than ${DEFAULT_MIN_REDACT_LENGTH} characters unless told otherwise`, () => {
    expect(redact('a cat sat', { letter: 'a', pet: 'cat' })).toBe('a cat sat')
    expect(redact('a cat sat', { pet: 'cat' }, { minLength: 3 })).toBe('a [REDACTED:pet] sat')
    // Counted in characters, not UTF-16 units: four emoji are four characters.
    expect(redact('x 😀😀😀😀 y', { e: '😀😀😀😀' })).toBe('x [REDACTED:e] y')
    expect(redact('x 😀😀 y', { e: '😀😀' })).toBe('x 😀😀 y')
  })

  it('rejects a minLength below 1, which would match everywhere', () => {
    expect(() => redact('x', {}, { minLength: 0 })).toThrow(RangeError)
  })

  it('returns text unchanged when there is nothing to mask', () => {
    expect(redact('hello', {})).toBe('hello')
    expect(redact('', { s: 'secret' })).toBe('')
  })

  it('leaves no form of any secret outside a marker (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ name: nameArbitrary, value: valueArbitrary }), {
          minLength: 1,
          maxLength: 3,
        }),
        fc.array(fc.tuple(fc.string({ unit: 'binary', maxLength: 8 }), fc.nat(), fc.nat())),
        (secrets, fillers) => {
          // Interleave arbitrary text with arbitrary forms of arbitrary secrets.
          let text = ''
          for (const [filler, which, form] of fillers) {
            const secret = secrets[which % secrets.length] as NamedSecret
            const forms = referenceForms(secret.value)
            text += filler + (forms[form % forms.length] ?? '')
          }
          const output = redact(text, secrets)
          for (const piece of unmaskedPieces(output, secrets)) {
            for (const { value } of secrets) {
              for (const form of referenceForms(value)) expect(piece).not.toContain(form)
            }
          }
        },
      ),
    )
  })

  it('createRedactor gives the same result as redact', () => {
    const mask = createRedactor({ k: 'hunter22' })
    expect(mask('pw=hunter22')).toBe(redact('pw=hunter22', { k: 'hunter22' }))
  })
})

describe('createStreamRedactor', () => {
  function streamThrough(chunks: readonly string[], secrets: Parameters<typeof redact>[1]) {
    const masker = createStreamRedactor(secrets)
    const emitted = chunks.map((chunk) => masker.push(chunk))
    emitted.push(masker.flush())
    return emitted
  }

  it('masks a value split across chunks', () => {
    const emitted = streamThrough(['Authorization: gh', 'p_sec', 'ret42\n'], {
      github_token: 'ghp_secret42',
    })
    // No piece of the value is ever emitted on its own. Its end ("2") could still begin
    // the base64 of a value that continues, so the marker waits for the end of the stream.
    expect(emitted.join('')).toBe('Authorization: [REDACTED:github_token]\n')
    expect(emitted.slice(0, 3).join('')).toBe('Authorization: ')
  })

  it('emits text at once when its tail cannot start a secret', () => {
    const masker = createStreamRedactor({ gh: 'ghp_secret42' })
    expect(masker.push('build ok\n')).toBe('build ok\n')
    // "g" could begin "ghp_…": only it is held back.
    expect(masker.push('done g')).toBe('done ')
    expect(masker.push('o!')).toBe('go!')
    expect(masker.flush()).toBe('')
  })

  it('holds back no more than the reach of the longest form', () => {
    const value = 'ghp_secret42'
    const { reach } = compileRedaction({ gh: value })
    const masker = createStreamRedactor({ gh: value })
    // A text that is a prefix of the hex form all the way to its last character.
    const hex = Buffer.from(value).toString('hex')
    const emitted = masker.push(`log ${hex.slice(0, -1)}`)
    expect(emitted).toBe('log ')
    expect(hex.length - 1).toBeLessThanOrEqual(reach)
    expect(masker.push(hex.slice(-1)) + masker.flush()).toBe('[REDACTED:gh]')
  })

  it('emits a short line at once, whatever character it ends with', () => {
    // Many base64 and hex patterns begin with a digit or a letter, but a line break only
    // continues a wrapped encoding after a full-width line of it.
    const secrets = Array.from({ length: 10 }, (_, i) => ({
      name: `s${i}`,
      value: `tok_${Buffer.from(`seed-${i}`).toString('base64url')}Zk3q9XwT`,
    }))
    const masker = createStreamRedactor(secrets)
    for (let i = 0; i < 200; i++) {
      const line = `${['ready', 'done', 'listening on port', 'PASS src/a.test.ts'][i % 4]} ${i}\n`
      expect(masker.push(line)).toBe(line)
    }
  })

  it('waits for a longer secret that extends a shorter one', () => {
    const masker = createStreamRedactor({ short: 'abcd', long: 'abcdef' })
    expect(masker.push('x abcd')).toBe('x ')
    expect(masker.push('ef y')).toBe('[REDACTED:long] y')
    const other = createStreamRedactor({ short: 'abcd', long: 'abcdef' })
    expect(other.push('x abcd')).toBe('x ')
    expect(other.push('e!')).toBe('[REDACTED:short]e!')
  })

  it('flushes a held prefix that never became a secret', () => {
    const masker = createStreamRedactor({ gh: 'ghp_secret42' })
    expect(masker.push('ends with ghp_sec')).toBe('ends with ')
    expect(masker.flush()).toBe('ghp_sec')
  })

  it('passes chunks straight through when no secret qualifies', () => {
    const masker = createStreamRedactor({ pin: '12' })
    expect(masker.push('1')).toBe('1')
    expect(masker.push('2')).toBe('2')
    expect(masker.flush()).toBe('')
  })

  it('equals redact() of the whole text for any split (property)', () => {
    // Small alphabets make partial matches, overlaps and secrets inside secrets common.
    const letters = fc.constantFrom('a', 'b', 'c', '=', '%', 'é')
    const text = fc.string({ unit: letters, maxLength: 60 })
    fc.assert(
      fc.property(
        text,
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 4, max: 9 })), {
          minLength: 1,
          maxLength: 4,
        }),
        fc.array(fc.nat(), { maxLength: 12 }),
        (whole, picks, cuts) => {
          // Secrets are slices of the text itself (so they occur), or of a repeated letter.
          const source = whole.length >= 4 ? whole : 'abcabcab'
          const secrets = picks.map(([start, length], i) => {
            const from = start % Math.max(1, source.length - 3)
            return { name: `s${i}`, value: source.slice(from, from + length) }
          })
          const points = [...new Set(cuts.map((cut) => cut % (whole.length + 1)))].sort(
            (a, b) => a - b,
          )
          const chunks: string[] = []
          let previous = 0
          for (const point of [...points, whole.length]) {
            chunks.push(whole.slice(previous, point))
            previous = point
          }
          expect(streamThrough(chunks, secrets).join('')).toBe(redact(whole, secrets))
        },
      ),
      { numRuns: 500 },
    )
  })

  it('equals redact() for unicode values embedded in arbitrary text, split anywhere (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ name: nameArbitrary, value: valueArbitrary }), {
          minLength: 1,
          maxLength: 3,
        }),
        fc.array(fc.tuple(fc.string({ unit: 'binary', maxLength: 6 }), fc.nat(), fc.nat())),
        fc.array(fc.nat(), { maxLength: 10 }),
        (secrets, fillers, cuts) => {
          let whole = ''
          for (const [filler, which, form] of fillers) {
            const secret = secrets[which % secrets.length] as NamedSecret
            const forms = referenceForms(secret.value)
            whole += filler + (forms[form % forms.length] ?? '')
          }
          const points = [...new Set(cuts.map((cut) => cut % (whole.length + 1)))].sort(
            (a, b) => a - b,
          )
          const chunks: string[] = []
          let previous = 0
          for (const point of [...points, whole.length]) {
            chunks.push(whole.slice(previous, point))
            previous = point
          }
          expect(streamThrough(chunks, secrets).join('')).toBe(redact(whole, secrets))
        },
      ),
    )
  })
})
