import fc from 'fast-check'
import { afterEach, describe, expect, it, vi } from 'vitest'
import {
  createRedactor,
  createStreamRedactor,
  DEFAULT_MIN_REDACT_LENGTH,
  type NamedSecret,
  redact,
  secretForms,
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

describe('secretForms', () => {
  it('computes base64, base64url, URL and hex forms of the UTF-8 bytes', () => {
    const forms = secretForms('pä ss/wörd?+')
    expect(forms).toContain('pä ss/wörd?+')
    expect(forms).toContain('cMOkIHNzL3fDtnJkPys=')
    expect(forms).toContain('cMOkIHNzL3fDtnJkPys')
    expect(forms).toContain('cMOkIHNzL3fDtnJkPys')
    expect(forms).toContain('p%C3%A4%20ss%2Fw%C3%B6rd%3F%2B')
    expect(forms).toContain('p%C3%A4+ss%2Fw%C3%B6rd%3F%2B')
    expect(forms).toContain('70c3a42073732f77c3b672643f2b')
    expect(forms).toContain('70C3A42073732F77C3B672643F2B')
  })

  it('matches Node’s own encoders for arbitrary values', () => {
    fc.assert(
      fc.property(valueArbitrary, (value) => {
        const forms = new Set(secretForms(value))
        for (const form of referenceForms(value)) expect(forms).toContain(form)
      }),
    )
  })

  it('does not need Buffer (runs on Deno and edge runtimes)', () => {
    vi.stubGlobal('Buffer', undefined)
    expect(secretForms('ghp_ünïcode')).toContain('Z2hwX8O8bsOvY29kZQ==')
  })

  it('encodes a lone surrogate instead of throwing like encodeURIComponent', () => {
    expect(() => secretForms('abc\uD800def')).not.toThrow()
    expect(secretForms('abc\uD800def')).toContain('abc%EF%BF%BDdef')
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
    // No piece of the value is ever emitted on its own.
    expect(emitted).toEqual(['Authorization: ', '', '[REDACTED:github_token]\n', ''])
  })

  it('emits text at once when its tail cannot start a secret', () => {
    const masker = createStreamRedactor({ gh: 'ghp_secret42' })
    expect(masker.push('build ok\n')).toBe('build ok\n')
    // "g" could begin "ghp_…": only it is held back.
    expect(masker.push('done g')).toBe('done ')
    expect(masker.push('o!')).toBe('go!')
    expect(masker.flush()).toBe('')
  })

  it('holds back fewer characters than the longest form', () => {
    const value = 'ghp_secret42'
    const longest = Math.max(...secretForms(value).map((form) => form.length))
    const masker = createStreamRedactor({ gh: value })
    // A text that is a prefix of the hex form all the way to its last character.
    const hex = Buffer.from(value).toString('hex')
    const emitted = masker.push(`log ${hex.slice(0, -1)}`)
    expect(`log ${hex.slice(0, -1)}`.length - emitted.length).toBeLessThanOrEqual(longest - 1)
    expect(masker.push(hex.slice(-1))).toBe('[REDACTED:gh]')
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
