/**
 * Masks secret values in text before it reaches a log, a terminal or a model.
 *
 * A value leaks in more shapes than its raw form: HTTP clients print it base64-encoded
 * (Basic auth, JWT-like blobs), URL-encoded (query strings, form bodies) or hex-encoded
 * (debug dumps). {@link redact} replaces every one of those shapes with `[REDACTED:name]`;
 * {@link createStreamRedactor} does the same for output that arrives in chunks, such as a child
 * process's stdout under `keywarden run`.
 *
 * Runtime-neutral: base64 is computed with `btoa` over UTF-8 bytes, never `Buffer`.
 * @module
 */

/** A secret to mask: the marker shows `name`, the text loses `value`. */
export interface NamedSecret {
  name: string
  value: string
}

/** Secrets as a list (several values may share a name, e.g. current and previous) or a map. */
export type SecretsToRedact = ReadonlyArray<NamedSecret> | Readonly<Record<string, string>>

/** Options for {@link redact}, {@link createRedactor} and {@link createStreamRedactor}. */
export interface RedactOptions {
  /**
   * Values shorter than this many characters (Unicode code points) are not masked.
   * Default {@link DEFAULT_MIN_REDACT_LENGTH}.
   *
   * Why a minimum: masking a one- or two-character value ("a", "42", "no") everywhere would
   * shred ordinary output into markers and hide nothing an attacker could not guess anyway.
   * Such values are not secrets worth the name; the vault still stores them.
   */
  minLength?: number
}

/** The default {@link RedactOptions.minLength}. */
export const DEFAULT_MIN_REDACT_LENGTH = 4

/** Turns text into masked text. */
export type Redactor = (text: string) => string

/** Masks a stream of text chunks; see {@link createStreamRedactor}. */
export interface StreamRedactor {
  /**
   * Feeds the next chunk and returns the text that is now safe to emit. The returned text may
   * be shorter than the input: a tail that could be the start of a secret is held back.
   */
  push(chunk: string): string
  /** Ends the stream and returns whatever was held back, masked. */
  flush(): string
}

// ---------------------------------------------------------------------------------------------
// Encoded forms
// ---------------------------------------------------------------------------------------------

const utf8 = new TextEncoder()
const HEX_DIGITS = '0123456789abcdef'

function toBase64(bytes: Uint8Array): string {
  // btoa takes a "binary string" (one char per byte). Build it in slices: spreading 64 KiB of
  // arguments into one call can overflow the stack on some engines.
  let binary = ''
  for (let start = 0; start < bytes.length; start += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(start, start + 0x8000))
  }
  return btoa(binary)
}

function toHex(bytes: Uint8Array): string {
  let hex = ''
  for (const byte of bytes) hex += (HEX_DIGITS[byte >> 4] ?? '') + (HEX_DIGITS[byte & 15] ?? '')
  return hex
}

// Percent-encodes UTF-8 bytes, keeping the bytes for which `keep` is true. Done over bytes
// rather than with encodeURIComponent because that throws on a lone surrogate, and a value
// must never make redaction itself fail.
function percentEncode(bytes: Uint8Array, keep: (byte: number) => boolean, plus: boolean): string {
  let out = ''
  for (const byte of bytes) {
    if (plus && byte === 0x20) out += '+'
    else if (keep(byte)) out += String.fromCharCode(byte)
    else
      out += `%${(HEX_DIGITS[byte >> 4] ?? '').toUpperCase()}${(HEX_DIGITS[byte & 15] ?? '').toUpperCase()}`
  }
  return out
}

function isAlphanumeric(byte: number): boolean {
  return (
    (byte >= 0x30 && byte <= 0x39) ||
    (byte >= 0x41 && byte <= 0x5a) ||
    (byte >= 0x61 && byte <= 0x7a)
  )
}

// encodeURIComponent's unreserved set: A-Z a-z 0-9 - _ . ! ~ * ' ( )
const COMPONENT_KEEP = new Set([...`-_.!~*'()`].map((c) => c.charCodeAt(0)))
// application/x-www-form-urlencoded (URLSearchParams, HTML forms): A-Z a-z 0-9 * - . _
const FORM_KEEP = new Set([...'*-._'].map((c) => c.charCodeAt(0)))

/**
 * Every shape of `value` that {@link redact} masks, deduplicated:
 * raw; standard base64 with and without `=` padding; base64url with and without padding;
 * `encodeURIComponent`; the same with `+` for spaces; the WHATWG form encoding
 * (`URLSearchParams`); lower- and upper-case hex. Encodings are of the value's UTF-8 bytes.
 */
export function secretForms(value: string): string[] {
  const bytes = utf8.encode(value)
  const base64 = toBase64(bytes)
  const unpadded = base64.replace(/=+$/, '')
  const base64url = base64.replace(/\+/g, '-').replace(/\//g, '_')
  const hex = toHex(bytes)
  const componentKeep = (byte: number) => isAlphanumeric(byte) || COMPONENT_KEEP.has(byte)
  const formKeep = (byte: number) => isAlphanumeric(byte) || FORM_KEEP.has(byte)
  const forms = [
    value,
    base64,
    unpadded,
    base64url,
    base64url.replace(/=+$/, ''),
    percentEncode(bytes, componentKeep, false),
    percentEncode(bytes, componentKeep, true),
    percentEncode(bytes, formKeep, true),
    hex,
    hex.toUpperCase(),
  ]
  return [...new Set(forms)].filter((form) => form.length > 0)
}

// ---------------------------------------------------------------------------------------------
// Matching
// ---------------------------------------------------------------------------------------------

// The compiled secret set: patterns longest first, each with its marker.
interface Matcher {
  patterns: string[]
  markers: string[]
  longest: number
}

function entriesOf(secrets: SecretsToRedact): ReadonlyArray<NamedSecret> {
  if (Array.isArray(secrets)) return secrets as ReadonlyArray<NamedSecret>
  return Object.entries(secrets as Readonly<Record<string, string>>).map(([name, value]) => ({
    name,
    value,
  }))
}

function compile(secrets: SecretsToRedact, options: RedactOptions): Matcher {
  const minLength = options.minLength ?? DEFAULT_MIN_REDACT_LENGTH
  if (!Number.isInteger(minLength) || minLength < 1) {
    throw new RangeError('minLength must be a positive integer')
  }
  const eligible = entriesOf(secrets).filter(
    ({ value }) => typeof value === 'string' && [...value].length >= minLength,
  )
  // Raw values claim their pattern first, so when one secret's raw value happens to equal
  // another's encoded form, the marker names the secret whose raw value it is.
  const owner = new Map<string, string>()
  for (const { name, value } of eligible) if (!owner.has(value)) owner.set(value, name)
  for (const { name, value } of eligible) {
    for (const form of secretForms(value)) if (!owner.has(form)) owner.set(form, name)
  }
  // Longest first: at any position the longest pattern wins, so a value that contains
  // another secret is masked whole instead of leaving its remainder in the clear.
  const ordered = [...owner.entries()].sort((a, b) => b[0].length - a[0].length)
  return {
    patterns: ordered.map(([pattern]) => pattern),
    markers: ordered.map(([, name]) => `[REDACTED:${name}]`),
    longest: ordered[0]?.[0].length ?? 0,
  }
}

/**
 * Replaces matches that start before `limit` and returns the masked text up to `consumed`.
 * A match may end after `limit`; then `consumed` is its end.
 *
 * This is a leftmost-longest scan: at the first position where any pattern occurs, the
 * longest pattern there is replaced, and the scan resumes after it. Because the output never
 * leaves a position unexamined, no pattern survives outside a marker.
 */
function scan(text: string, matcher: Matcher, limit: number): { output: string; consumed: number } {
  const { patterns, markers } = matcher
  // The next occurrence of each pattern at or after the cursor (-1: none left). Recomputed
  // lazily, only for patterns whose cached occurrence the cursor has passed.
  const next = patterns.map((pattern) => text.indexOf(pattern))
  let output = ''
  let cursor = 0
  for (;;) {
    let best = -1
    let bestAt = Number.POSITIVE_INFINITY
    for (let i = 0; i < patterns.length; i++) {
      let at = next[i] ?? -1
      if (at !== -1 && at < cursor) {
        at = text.indexOf(patterns[i] ?? '', cursor)
        next[i] = at
      }
      // Strictly smaller: at equal positions the earlier (longer) pattern keeps the win.
      if (at !== -1 && at < bestAt) {
        best = i
        bestAt = at
      }
    }
    if (best === -1 || bestAt >= limit) break
    output += text.slice(cursor, bestAt) + (markers[best] ?? '')
    cursor = bestAt + (patterns[best]?.length ?? 0)
  }
  if (cursor < limit) {
    output += text.slice(cursor, limit)
    cursor = limit
  }
  return { output, consumed: cursor }
}

/**
 * Masks every secret value, and its encoded forms (see {@link secretForms}), in `text` with
 * `[REDACTED:name]`. Values shorter than `options.minLength` (default 4) are left alone.
 *
 * @example
 * redact('token=ghp_abc123', { github_token: 'ghp_abc123' }) // 'token=[REDACTED:github_token]'
 */
export function redact(
  text: string,
  secrets: SecretsToRedact,
  options: RedactOptions = {},
): string {
  return createRedactor(secrets, options)(text)
}

/**
 * Compiles the secrets once and returns a function that masks text, for callers that mask
 * many strings with the same secrets (every tool result of a session, every log line).
 */
export function createRedactor(secrets: SecretsToRedact, options: RedactOptions = {}): Redactor {
  const matcher = compile(secrets, options)
  if (matcher.patterns.length === 0) return (text) => text
  return (text) => scan(text, matcher, text.length).output
}

// ---------------------------------------------------------------------------------------------
// Streaming
// ---------------------------------------------------------------------------------------------

// Knuth–Morris–Pratt failure table: failure[i] is the length of the longest proper prefix of
// pattern[0..i] that is also its suffix.
function failureTable(pattern: string): Int32Array {
  const failure = new Int32Array(pattern.length)
  let k = 0
  for (let i = 1; i < pattern.length; i++) {
    while (k > 0 && pattern[i] !== pattern[k]) k = failure[k - 1] ?? 0
    if (pattern[i] === pattern[k]) k++
    failure[i] = k
  }
  return failure
}

// The length of the longest suffix of `text` that is a proper prefix of `pattern`: how much
// of the tail could still grow into this pattern when more text arrives. Only the last
// `pattern.length - 1` characters can take part, so the cost does not grow with `text`.
function pendingPrefixLength(text: string, pattern: string, failure: Int32Array): number {
  let state = 0
  for (let i = Math.max(0, text.length - pattern.length + 1); i < text.length; i++) {
    while (state > 0 && text[i] !== pattern[state]) state = failure[state - 1] ?? 0
    if (text[i] === pattern[state]) state++
  }
  return state
}

/**
 * A masker for text that arrives in chunks (a child process's stdout and stderr).
 *
 * A value split across chunks is still masked: `push` holds back the shortest tail that could
 * be the beginning of a secret's form (at most the longest form's length minus one) and emits
 * everything before it at once, so ordinary output is not delayed. The concatenation of every
 * `push` result and `flush()` equals `redact(wholeText, secrets, options)`, however the text
 * was split.
 *
 * @example
 * const masker = createStreamRedactor({ github_token: 'ghp_abc123' })
 * child.stdout.on('data', (chunk) => process.stdout.write(masker.push(String(chunk))))
 * child.stdout.on('end', () => process.stdout.write(masker.flush()))
 */
export function createStreamRedactor(
  secrets: SecretsToRedact,
  options: RedactOptions = {},
): StreamRedactor {
  const matcher = compile(secrets, options)
  const failures = matcher.patterns.map(failureTable)
  let held = ''

  return {
    push(chunk) {
      if (matcher.patterns.length === 0) return chunk
      const buffer = held + chunk
      let pending = 0
      for (let i = 0; i < matcher.patterns.length; i++) {
        const pattern = matcher.patterns[i] ?? ''
        const failure = failures[i] ?? new Int32Array(0)
        pending = Math.max(pending, pendingPrefixLength(buffer, pattern, failure))
      }
      // Every position before `safe` is decided: the text after it is already too long to be
      // only the beginning of any pattern, so no later chunk can change what matches there.
      const safe = buffer.length - pending
      const { output, consumed } = scan(buffer, matcher, safe)
      held = buffer.slice(consumed)
      return output
    },
    flush() {
      // At the end of the stream nothing can grow any more: everything is decided.
      const { output } = scan(held, matcher, held.length)
      held = ''
      return output
    },
  }
}
