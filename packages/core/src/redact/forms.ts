/**
 * What to look for, per view, to find one secret value in every encoding the redactor knows.
 * Each view undoes part of the encoding (see views.ts); what is left is a small set of exact
 * patterns: the value's UTF-8 and UTF-16 bytes, its lower-case hex, and its base64 at each of
 * the three byte alignments it can sit at inside a longer base64.
 *
 * Runtime-neutral: base64 is computed with `btoa`, never `Buffer`.
 * @module
 */
import type { ViewKind } from './views.ts'

const utf8 = new TextEncoder()
const HEX_DIGITS = '0123456789abcdef'
const BASE64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'

// Shorter patterns than this would mask ordinary text by chance.
const MIN_PATTERN_LENGTH = 4

function binaryString(bytes: Uint8Array): string {
  // One char per byte, built in slices: spreading 64 KiB of arguments can overflow the stack.
  let binary = ''
  for (let start = 0; start < bytes.length; start += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(start, start + 0x8000))
  }
  return binary
}

function toHex(bytes: Uint8Array): string {
  let hex = ''
  for (const byte of bytes) hex += (HEX_DIGITS[byte >> 4] ?? '') + (HEX_DIGITS[byte & 15] ?? '')
  return hex
}

function utf16(value: string, littleEndian: boolean): Uint8Array {
  const bytes = new Uint8Array(value.length * 2)
  for (let i = 0; i < value.length; i++) {
    const unit = value.charCodeAt(i)
    bytes[2 * i + (littleEndian ? 0 : 1)] = unit & 0xff
    bytes[2 * i + (littleEndian ? 1 : 0)] = unit >> 8
  }
  return bytes
}

/**
 * UTF-16 bytes as the doors read them: decoded as UTF-8. ASCII bytes decode alone, whatever
 * surrounds them, but the others may merge with their neighbours, so the pattern is trimmed to
 * run from the first ASCII byte to the last.
 */
function utf16AsRead(bytes: Uint8Array): string {
  const read = new TextDecoder().decode(bytes)
  let start = 0
  let end = read.length
  while (start < end && read.charCodeAt(start) >= 0x80) start++
  while (end > start && read.charCodeAt(end - 1) >= 0x80) end--
  return read.slice(start, end)
}

const lowerAscii = (text: string) => text.replace(/[A-Z]+/g, (letters) => letters.toLowerCase())

/**
 * The base64 characters that depend only on `bytes` when they sit at byte offset `alignment`
 * (mod 3) of a longer base64, plus each with the mixed character at either end (part value,
 * part neighbour) in every way the neighbour can fill it, so no bit of the value is left
 * outside a mask.
 */
function base64Patterns(bytes: Uint8Array, alignment: number): string[] {
  const padded = new Uint8Array(alignment + bytes.length)
  padded.set(bytes, alignment)
  const encoded = btoa(binaryString(padded)).replace(/=+$/, '')
  const startBit = 8 * alignment
  const endBit = startBit + 8 * bytes.length
  const first = Math.ceil(startBit / 6)
  const last = Math.floor(endBit / 6)
  const core = encoded.slice(first, last)
  if (core.length < MIN_PATTERN_LENGTH) return []
  const patterns = [core]
  const leadingUnknown = startBit - 6 * (first - 1)
  if (startBit % 6 !== 0) {
    // The neighbour fills the character's top bits, the value's first byte its low ones.
    const known = 6 - leadingUnknown
    const valueBits = (bytes[0] ?? 0) >> (8 - known)
    for (let x = 0; x < 1 << leadingUnknown; x++) {
      patterns.push((BASE64[(x << known) | valueBits] ?? '') + core)
    }
  }
  if (endBit % 6 !== 0) {
    const known = endBit - 6 * last
    const unknown = 6 - known
    const valueBits = ((bytes[bytes.length - 1] ?? 0) & ((1 << known) - 1)) << unknown
    // When the value ends the base64, padding follows: masked with it, it shows nothing.
    const padding = '='.repeat((3 - ((alignment + bytes.length) % 3)) % 3)
    for (let x = 0; x < 1 << unknown; x++) {
      const mixed = core + (BASE64[valueBits | x] ?? '')
      patterns.push(mixed, mixed + padding)
    }
  }
  return patterns
}

/** The patterns of one value, per view (see views.ts for what each view undoes). */
export function patternsOf(value: string): Record<ViewKind, string[]> {
  const bytes = utf8.encode(value)
  const little = utf16(value, true)
  const big = utf16(value, false)
  const asBytes = [bytes, little, big].map(binaryString)
  const utf16Read = [utf16AsRead(little), utf16AsRead(big)]
  const base64 = [0, 1, 2].flatMap((alignment) => base64Patterns(bytes, alignment))
  const base64url = base64.map((pattern) => pattern.replace(/\+/g, '-').replace(/\//g, '_'))
  const patterns: Record<ViewKind, string[]> = {
    // The escapes view decodes `\` and `&` sequences; a value holding them literally is
    // looked for without decoding too.
    fold: [value, ...utf16Read].filter((form) => /[\\&]/.test(form)).map(lowerAscii),
    escapes: [value, ...utf16Read].map(lowerAscii),
    percent: asBytes,
    // Form encoding writes a space as "+": only values with a space need that view.
    plus: asBytes.filter((pattern) => pattern.includes(' ')),
    compact: [...(/\s/.test(value) ? [] : [value]), ...base64, ...base64url],
    hex: [bytes, little, big].map(toHex),
  }
  for (const kind of Object.keys(patterns) as ViewKind[]) {
    // The value itself stays whatever its length: the caller's minLength already admitted it.
    patterns[kind] = [...new Set(patterns[kind])].filter(
      (pattern) => pattern.length >= Math.min(MIN_PATTERN_LENGTH, value.length),
    )
  }
  return patterns
}
