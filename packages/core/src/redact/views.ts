/**
 * Views of a text: each undoes one family of encodings (percent, JSON escapes and HTML entities,
 * line wrapping; ASCII letter case in all but the byte views) and reports, for every unit it produces, the range of the
 * original text it came from. The matcher looks for a secret's patterns in every view, and a
 * match is masked over its original range — so `%2f`, `\/`, `&#x2F;` and a line break inside a
 * base64 are all found without parsing the text as any one format.
 *
 * A view reads as far as it can decide: a token that may still grow (a `%4` at the end of a
 * chunk) is left for the next call, unless `final`.
 * @module
 */
import { decodeHTML } from 'entities/decode'

/** Receives one normalized unit and the original range `[start, end)` it stands for. */
export type Emit = (unit: number, start: number, end: number) => void

/** A stateful normalizer; `feed` returns how much of `text` it consumed. */
export interface Normalizer {
  feed(text: string, final: boolean, emit: Emit): number
}

/** The views, in the order they are run. */
export const VIEW_KINDS = ['fold', 'escapes', 'percent', 'plus', 'compact', 'hex'] as const

/** One of {@link VIEW_KINDS}. */
export type ViewKind = (typeof VIEW_KINDS)[number]

/**
 * The most original characters a single normalized unit can stand for, skipped gaps included
 * (an HTML entity is cut off at this length; a line-wrap gap at {@link MAX_SKIP}). Bounds how far
 * back a match can reach.
 */
export const MAX_UNIT_SPAN = 40

// Whitespace (and dump offsets) skipped between two units of a wrapped encoding, at most.
const MAX_SKIP = 32

const isHexDigit = (c: number) =>
  (c >= 48 && c <= 57) || (c >= 65 && c <= 70) || (c >= 97 && c <= 102)
const hexValue = (c: number) => (c <= 57 ? c - 48 : (c | 32) - 87)
const isWhitespace = (c: number) => c === 32 || (c >= 9 && c <= 13)
const lowerAscii = (c: number) => (c >= 65 && c <= 90 ? c + 32 : c)

/** A new normalizer of `kind`. */
export function createNormalizer(kind: ViewKind): Normalizer {
  switch (kind) {
    case 'fold':
      return { feed: foldFeed }
    case 'percent':
      return { feed: (text, final, emit) => percentFeed(text, final, emit, false) }
    case 'plus':
      return { feed: (text, final, emit) => percentFeed(text, final, emit, true) }
    case 'escapes':
      return { feed: escapesFeed }
    case 'compact':
      return compactNormalizer(false)
    case 'hex':
      return compactNormalizer(true)
  }
}

// ASCII letters in lower case: URL parsing, DNS and many tools fold host names and hex.
function foldFeed(text: string, _final: boolean, emit: Emit): number {
  for (let i = 0; i < text.length; i++) emit(lowerAscii(text.charCodeAt(i)), i, i + 1)
  return text.length
}

// Bytes: `%XX` in either case becomes its byte, anything else its UTF-8 bytes (a lone
// surrogate as U+FFFD, as TextEncoder does), `+` a space in form encoding.
function percentFeed(text: string, final: boolean, emit: Emit, plus: boolean): number {
  let i = 0
  while (i < text.length) {
    const c = text.charCodeAt(i)
    if (c === 37) {
      const state = percentEscape(text, i)
      if (state === 'wait') {
        if (!final) return i
      } else if (state !== 'literal') {
        emit(state, i, i + 3)
        i += 3
        continue
      }
      emit(37, i, i + 1)
      i++
      continue
    }
    if (plus && c === 43) {
      emit(32, i, i + 1)
      i++
      continue
    }
    if (c < 0x80) {
      emit(c, i, i + 1)
      i++
      continue
    }
    let codePoint = c
    let end = i + 1
    if (c >= 0xd800 && c <= 0xdbff) {
      if (i + 1 >= text.length && !final) return i
      const low = text.charCodeAt(i + 1)
      if (low >= 0xdc00 && low <= 0xdfff) {
        codePoint = 0x10000 + ((c - 0xd800) << 10) + (low - 0xdc00)
        end = i + 2
      } else codePoint = 0xfffd
    } else if (c >= 0xdc00 && c <= 0xdfff) codePoint = 0xfffd
    emitUtf8(codePoint, i, end, emit)
    i = end
  }
  return i
}

function percentEscape(text: string, at: number): number | 'wait' | 'literal' {
  if (at + 1 >= text.length) return 'wait'
  const high = text.charCodeAt(at + 1)
  if (!isHexDigit(high)) return 'literal'
  if (at + 2 >= text.length) return 'wait'
  const low = text.charCodeAt(at + 2)
  if (!isHexDigit(low)) return 'literal'
  return hexValue(high) * 16 + hexValue(low)
}

function emitUtf8(codePoint: number, start: number, end: number, emit: Emit): void {
  if (codePoint < 0x800) {
    emit(0xc0 | (codePoint >> 6), start, end)
  } else if (codePoint < 0x10000) {
    emit(0xe0 | (codePoint >> 12), start, end)
    emit(0x80 | ((codePoint >> 6) & 63), start, end)
  } else {
    emit(0xf0 | (codePoint >> 18), start, end)
    emit(0x80 | ((codePoint >> 12) & 63), start, end)
    emit(0x80 | ((codePoint >> 6) & 63), start, end)
  }
  emit(0x80 | (codePoint & 63), start, end)
}

const JSON_ESCAPES: Record<string, number> = {
  '"': 34,
  '\\': 92,
  '/': 47,
  b: 8,
  f: 12,
  n: 10,
  r: 13,
  t: 9,
}

// Escapes, case-folded: JSON string escapes (`\/`, `\"`, `\n`…, and `\uXXXX` in either case; a
// surrogate pair is two) and HTML character references (named, with their semicolon; decimal
// and hex, the semicolon optional; decoded by `entities` as a browser would).
function escapesFeed(text: string, final: boolean, emit: Emit): number {
  let i = 0
  while (i < text.length) {
    const c = text.charCodeAt(i)
    const end = c === 92 ? jsonEscapeEnd(text, i) : c === 38 ? referenceEnd(text, i) : 'literal'
    if (end === 'wait') {
      if (!final) return i
    } else if (end !== 'literal') {
      const decoded = c === 92 ? jsonDecode(text, i, end) : decodeHTML(text.slice(i, end))
      if (
        decoded !== undefined &&
        decoded.length > 0 &&
        (c === 92 || decoded !== text.slice(i, end))
      ) {
        for (let k = 0; k < decoded.length; k++) emit(lowerAscii(decoded.charCodeAt(k)), i, end)
        i = end
        continue
      }
    }
    emit(lowerAscii(c), i, i + 1)
    i++
  }
  return i
}

// Where the JSON escape starting at `at` ends, or whether more text must be seen.
function jsonEscapeEnd(text: string, at: number): number | 'wait' | 'literal' {
  if (at + 1 >= text.length) return 'wait'
  const next = text.charAt(at + 1)
  if (JSON_ESCAPES[next] !== undefined) return at + 2
  if (next !== 'u') return 'literal'
  for (let k = 2; k < 6; k++) {
    if (at + k >= text.length) return 'wait'
    if (!isHexDigit(text.charCodeAt(at + k))) return 'literal'
  }
  return at + 6
}

function jsonDecode(text: string, at: number, end: number): string | undefined {
  if (end - at === 2) {
    const simple = JSON_ESCAPES[text.charAt(at + 1)]
    return simple === undefined ? undefined : String.fromCharCode(simple)
  }
  return String.fromCharCode(Number.parseInt(text.slice(at + 2, end), 16))
}

const isAlphanumeric = (c: number) =>
  (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122)
const isDecimal = (c: number) => c >= 48 && c <= 57

// Where the character reference starting at `at` ends, or whether more text must be seen.
function referenceEnd(text: string, at: number): number | 'wait' | 'literal' {
  let j = at + 1
  const numeric = text.charCodeAt(j) === 35
  if (numeric) {
    j++
    const hex = (text.charCodeAt(j) | 32) === 120
    if (hex) j++
    const digitsStart = j
    while (j < text.length && (hex ? isHexDigit : isDecimal)(text.charCodeAt(j))) {
      j++
      if (j - at > MAX_UNIT_SPAN - 1) return 'literal'
    }
    if (j >= text.length) return 'wait'
    if (j === digitsStart) return 'literal'
    return text.charCodeAt(j) === 59 ? j + 1 : j
  }
  if (j >= text.length) return 'wait'
  while (j < text.length && isAlphanumeric(text.charCodeAt(j))) {
    j++
    if (j - at > MAX_UNIT_SPAN - 1) return 'literal'
  }
  if (j >= text.length) return 'wait'
  return j > at + 1 && text.charCodeAt(j) === 59 ? j + 1 : 'literal'
}

// Wrapped encodings. A line break (with the indentation after it) is skipped when the line
// before it ends in at least MIN_WRAP_COLUMNS characters of the encoding's alphabet — as a
// base64 wrapped at 76 or 8 columns, or an `xxd -p` dump, does; for hex, spaces and tabs are
// skipped too, and so are the offsets `od` prints at the start of each line; hex letters are
// folded to lower case. Any other whitespace, or a gap longer than MAX_SKIP, breaks the text:
// so an ordinary short line ("ready 3\n") does not leave its end waiting on the next line.
const MIN_WRAP_COLUMNS = 8

const isBase64Char = (c: number) =>
  isAlphanumeric(c) || c === 43 || c === 47 || c === 61 || c === 45 || c === 95

function compactNormalizer(hex: boolean): Normalizer {
  const inAlphabet = hex ? isHexDigit : isBase64Char
  let lineStart = true
  let skipped = 0
  let afterBreak = false
  let run = 0
  return {
    feed(text, final, emit) {
      let i = 0
      while (i < text.length) {
        const c = text.charCodeAt(i)
        if (isWhitespace(c)) {
          const newline = c === 10 || c === 13
          if (c === 10) lineStart = true
          const wraps = newline ? run >= MIN_WRAP_COLUMNS : hex || afterBreak
          if (wraps && skipped < MAX_SKIP) {
            skipped++
            if (newline) afterBreak = true
          } else {
            emit(32, i, i + 1)
            run = 0
          }
          i++
          continue
        }
        if (hex && lineStart) {
          let end = i
          while (end < text.length && end - i <= 16 && isHexDigit(text.charCodeAt(end))) end++
          if (end >= text.length && !final) return i
          const length = end - i
          const next = text.charCodeAt(end)
          if (length >= 6 && length <= 16 && (next === 32 || next === 9)) {
            if (skipped + length <= MAX_SKIP) {
              skipped += length
              lineStart = false
              i = end
              continue
            }
          }
        }
        lineStart = false
        afterBreak = false
        skipped = 0
        run = inAlphabet(c) ? run + 1 : 0
        emit(hex ? lowerAscii(c) : c, i, i + 1)
        i++
      }
      return i
    },
  }
}
