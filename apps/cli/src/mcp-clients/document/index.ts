/**
 * A client's config file as a document that is edited, never rewritten: each change touches
 * only the value it sets, so the user's comments, key order and formatting survive. JSON and
 * JSONC go through `jsonc-parser`'s edit API, TOML through `@decimalturn/toml-patch`.
 */

import {
  parse as parseToml,
  patch as patchToml,
  stringify as stringifyToml,
} from '@decimalturn/toml-patch'
import { KeywardenError } from '@keywarden/core'
import { applyEdits, type FormattingOptions, modify, type ParseError, parse } from 'jsonc-parser'

/** A JSON value (TOML files hold more kinds, but the entries edited here are JSON-shaped). */
export type Json = null | boolean | number | string | Json[] | JsonObject
/** A JSON object. */
export type JsonObject = { [key: string]: Json }

/** The file formats the clients use. */
export type DocumentFormat = 'json' | 'toml'

/** A parsed config file and the edits made to it. */
export interface ConfigDocument {
  /** The content with the edits made so far. */
  readonly data: JsonObject
  /**
   * Sets the value at `path` (parents created as needed), or removes it with `undefined`. A new
   * key goes last in its object, or first with `first` (JSON: a comment at the end of the last
   * line would otherwise end up after the new key).
   */
  set(path: readonly string[], value: Json | undefined, options?: { first?: boolean }): void
  /** The file's text with the edits, everything else as it was. */
  text(): string
}

/**
 * Parses `text` (without a BOM) as `format`. A syntax error names its line and column only:
 * the parsers' own messages quote the text around the error, which can be a token.
 */
export function parseDocument(text: string, format: DocumentFormat, file: string): ConfigDocument {
  const document = format === 'toml' ? tomlDocument(text, file) : jsonDocument(text, file)
  if (!isObject(document.data)) {
    throw new KeywardenError(
      'INTERNAL',
      `${file} does not hold ${format === 'toml' ? 'a TOML table' : 'a JSON object'}; nothing was written`,
    )
  }
  return document
}

/** Whether `value` is a plain object (not an array, not null). */
export function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function jsonDocument(original: string, file: string): ConfigDocument {
  // An empty file (touched, or truncated by an editor) holds no configuration yet.
  const empty = original.trim() === ''
  let text = empty ? '{}\n' : original
  const errors: ParseError[] = []
  let data = parse(text, errors, { allowTrailingComma: true }) as JsonObject
  const first = errors[0]
  if (first !== undefined) {
    throw new KeywardenError(
      'INTERNAL',
      `${file} is not valid JSON (${position(text, first.offset)}); nothing was written`,
    )
  }
  const newline = text.includes('\r\n') ? '\r\n' : '\n'
  const indent = /\n([ \t]+)["/]/.exec(text)?.[1] ?? '  '
  const formattingOptions: FormattingOptions = {
    insertSpaces: !indent.startsWith('\t'),
    tabSize: indent.startsWith('\t') ? 1 : indent.length,
    eol: newline,
  }
  return {
    get data() {
      return data
    },
    set(path, value, { first = false } = {}) {
      const edits = modify(text, [...path], value, {
        formattingOptions,
        ...(first ? { getInsertionIndex: () => 0 } : {}),
      })
      text = applyEdits(text, edits)
      data = parse(text, [], { allowTrailingComma: true }) as JsonObject
    },
    text: () => text,
  }
}

function tomlDocument(original: string, file: string): ConfigDocument {
  let data: JsonObject
  try {
    data = parseToml(original, { integersAsBigInt: false }) as JsonObject
  } catch (error) {
    const { line, column } = error as { line?: number; column?: number }
    const where = line === undefined ? 'a syntax error' : `line ${line}, column ${column ?? 1}`
    throw new KeywardenError(
      'INTERNAL',
      `${file} is not valid TOML (${where}); nothing was written`,
    )
  }
  let edited = false
  // New tables (a server added to `mcp_servers`), to write as [sections] at the end.
  const appended: Array<{ path: readonly string[]; value: JsonObject }> = []
  return {
    get data() {
      const view = structuredClone(data)
      for (const table of appended) setIn(view, table.path, table.value)
      return view
    },
    set(path, value) {
      const index = appended.findIndex((table) => samePath(table.path, path))
      if (index >= 0) appended.splice(index, 1)
      if (isObject(value) && valueAt(data, path) === undefined && holdsTables(data, path)) {
        appended.push({ path, value })
        return
      }
      edited = true
      setIn(data, path, value)
    },
    text() {
      // New tables become [sections] down to a server's own ([mcp_servers.NAME]); its env
      // stays an inline table, as Codex's own docs write it.
      const format = { inlineTableStart: 2 }
      let text = edited ? patchToml(original, data, format) : original
      if (appended.length === 0) return text
      const sections = appended.map((table) => sectionText(table.path, table.value)).join('\n')
      const appendedText = `${text}${text === '' || text.endsWith('\n') ? '' : '\n'}${text.trim() === '' ? '' : '\n'}${sections}`
      if (isValidToml(appendedText)) return appendedText
      // A table toml-patch would not see as a section of its own (e.g. an inline
      // `mcp_servers = {...}`): let it place the key, as valid TOML, where it fits.
      const whole = structuredClone(data)
      for (const table of appended) setIn(whole, table.path, table.value)
      text = patchToml(original, whole, format)
      return text
    },
  }
}

/** `[a.b]` and its keys, as toml-patch writes a table (the parents' empty headers left out). */
function sectionText(path: readonly string[], value: JsonObject): string {
  const nested = path.reduceRight<JsonObject>((inner, key) => ({ [key]: inner }), value)
  const text = stringifyToml(nested, { inlineTableStart: path.length })
  const header = text.indexOf(`[${path.map(tomlKey).join('.')}]`)
  return header >= 0 ? text.slice(header) : text
}

function tomlKey(key: string): string {
  return /^[A-Za-z0-9_-]+$/.test(key) ? key : JSON.stringify(key)
}

function isValidToml(text: string): boolean {
  try {
    parseToml(text)
    return true
  } catch {
    return false
  }
}

/** Whether the parent of `path` is missing or holds only tables (as `mcp_servers` does). */
function holdsTables(data: JsonObject, path: readonly string[]): boolean {
  const parent = valueAt(data, path.slice(0, -1))
  return parent === undefined || (isObject(parent) && Object.values(parent).every(isObject))
}

/** The value at `path`, or undefined. */
export function valueAt(data: JsonObject, path: readonly string[]): Json | undefined {
  let value: Json | undefined = data
  for (const key of path) {
    if (!isObject(value)) return undefined
    value = value[key]
  }
  return value
}

/** Whether two paths are the same. */
export function samePath(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((part, i) => part === b[i])
}

function setIn(target: JsonObject, path: readonly string[], value: Json | undefined): void {
  const [key, ...rest] = path
  if (key === undefined) return
  if (rest.length === 0) {
    if (value === undefined) delete target[key]
    else target[key] = value
    return
  }
  let child = target[key]
  if (!isObject(child)) {
    if (value === undefined) return
    child = {}
    target[key] = child
  }
  setIn(child, rest, value)
}

/** `line L, column C` of `offset` in `text`, without quoting it. */
function position(text: string, offset: number): string {
  const before = text.slice(0, offset)
  const line = before.split('\n').length
  const column = offset - (before.lastIndexOf('\n') + 1) + 1
  return offset >= text.length ? `it ends early, at line ${line}` : `line ${line}, column ${column}`
}
