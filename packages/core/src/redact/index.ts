/**
 * Masks secret values in text before it reaches a log, a terminal, an audit row or a model.
 *
 * A value leaks in more shapes than its raw form, and the text around it is chosen by whoever
 * asks: an echo server percent-encodes it (`%2f` or `%2F`, Python's `quote`, `+` for spaces),
 * escapes it in JSON (`\/`, `\u0041`) or HTML (`&lowbar;`, `&#x5F;`), sends UTF-16, base64 at any
 * alignment inside a longer base64 (`Basic base64(user:secret)`), wrapped at 76 or 8 columns,
 * or hex in either case (`xxd -p`, `od -tx1` with its offsets); a URL parser lower-cases it.
 * Each *view* of views.ts undoes one family of these, and one Aho–Corasick pass per view looks
 * for the value's few exact patterns (forms.ts); a match is masked over the original text it
 * came from. Overlapping matches are masked as one, with the name of the longest.
 *
 * {@link redact} masks a string, {@link createStreamRedactor} a stream of chunks (the same
 * result however the text is split), and {@link compileRedaction} gives both plus
 * {@link Redaction.redactPrefix}, for cutting a text at a point that no value can move.
 *
 * Runtime-neutral: no `Buffer`, no Node built-in.
 * @module
 */
import { type Automaton, buildAutomaton } from './automaton.ts'
import { patternsOf } from './forms.ts'
import {
  createNormalizer,
  MAX_UNIT_SPAN,
  type Normalizer,
  VIEW_KINDS,
  type ViewKind,
} from './views.ts'

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

/** A compiled set of secrets; see {@link compileRedaction}. */
export interface Redaction {
  /**
   * The most characters of original text one masked form can span. A text cut at least this
   * far past a point holds, whole, every form that starts before that point.
   */
  readonly reach: number
  /** Masks `text`. */
  redact(text: string): string
  /**
   * Masks the first `length` characters of `text` as they read inside the whole `text`, and
   * cuts there. A form that straddles the cut is left out whole, never emitted in part; so
   * where the result ends depends on `length` and on whole values only, never on whether the
   * text near the cut begins like a value. `text` should run at least {@link Redaction.reach}
   * characters past `length`; `complete` says whether it is the whole text (default false).
   */
  redactPrefix(text: string, length: number, complete?: boolean): string
  /** A new {@link StreamRedactor} over these secrets. */
  stream(): StreamRedactor
}

// ---------------------------------------------------------------------------------------------
// Compiling
// ---------------------------------------------------------------------------------------------

interface CompiledView {
  kind: ViewKind
  automaton: Automaton
  /** Per pattern: its length in normalized units, and the secret it belongs to. */
  lengths: Int32Array
  owners: Int32Array
  longest: number
}

interface Compiled {
  markers: string[]
  views: CompiledView[]
  reach: number
}

function entriesOf(secrets: SecretsToRedact): ReadonlyArray<NamedSecret> {
  if (Array.isArray(secrets)) return secrets as ReadonlyArray<NamedSecret>
  return Object.entries(secrets as Readonly<Record<string, string>>).map(([name, value]) => ({
    name,
    value,
  }))
}

function compile(secrets: SecretsToRedact, options: RedactOptions): Compiled {
  const minLength = options.minLength ?? DEFAULT_MIN_REDACT_LENGTH
  if (!Number.isInteger(minLength) || minLength < 1) {
    throw new RangeError('minLength must be a positive integer')
  }
  const eligible = entriesOf(secrets).filter(
    ({ value }) => typeof value === 'string' && [...value].length >= minLength,
  )
  const perView = new Map<ViewKind, Map<string, number>>(
    VIEW_KINDS.map((kind) => [kind, new Map()]),
  )
  eligible.forEach(({ value }, index) => {
    const patterns = patternsOf(value)
    for (const kind of VIEW_KINDS) {
      const owned = perView.get(kind) as Map<string, number>
      for (const pattern of patterns[kind]) if (!owned.has(pattern)) owned.set(pattern, index)
    }
  })
  const views: CompiledView[] = []
  for (const kind of VIEW_KINDS) {
    const owned = [...(perView.get(kind) as Map<string, number>)]
    if (owned.length === 0) continue
    views.push({
      kind,
      automaton: buildAutomaton(owned.map(([pattern]) => pattern)),
      lengths: Int32Array.from(owned, ([pattern]) => pattern.length),
      owners: Int32Array.from(owned, ([, owner]) => owner),
      longest: Math.max(...owned.map(([pattern]) => pattern.length)),
    })
  }
  const longest = Math.max(0, ...views.map((view) => view.longest))
  return {
    markers: eligible.map(({ name }) => `[REDACTED:${name}]`),
    views,
    reach: longest * MAX_UNIT_SPAN + MAX_UNIT_SPAN,
  }
}

// ---------------------------------------------------------------------------------------------
// Scanning
// ---------------------------------------------------------------------------------------------

/** A masked span of the original text, in absolute offsets. */
interface Range {
  start: number
  end: number
  owner: number
}

// One view's progress through the text.
interface ViewRun {
  view: CompiledView
  normalizer: Normalizer
  state: number
  /** Original text not consumed yet, and where it starts. */
  pending: string
  pendingStart: number
  /**
   * Where the recent normalized units started in the original text: a ring longer than the
   * longest pattern, indexed by the unit's number (`count` of them so far).
   */
  starts: Float64Array
  mask: number
  count: number
}

/**
 * Runs every view over a text fed in pieces and collects the ranges to mask. The ranges do not
 * depend on how the text was split: each view carries its undecided tokens over.
 */
class Scanner {
  readonly runs: ViewRun[]
  readonly ranges: Range[] = []
  total = 0

  constructor(compiled: Compiled) {
    this.runs = compiled.views.map((view) => ({
      view,
      normalizer: createNormalizer(view.kind),
      state: 0,
      pending: '',
      pendingStart: 0,
      starts: new Float64Array(2 ** Math.ceil(Math.log2(view.longest + 2))),
      mask: 2 ** Math.ceil(Math.log2(view.longest + 2)) - 1,
      count: 0,
    }))
  }

  feed(chunk: string, final: boolean): void {
    this.total += chunk.length
    for (const run of this.runs) this.feedView(run, chunk, final)
  }

  private feedView(run: ViewRun, chunk: string, final: boolean): void {
    const { automaton, lengths, owners } = run.view
    const { starts, mask } = run
    const root = automaton.root
    const text = run.pending + chunk
    const base = run.pendingStart
    const ranges = this.ranges
    // Hot loop: most units leave the start state where they found it.
    let state = run.state
    let count = run.count
    const emit = (unit: number, start: number, end: number) => {
      state = state === 0 ? (root[unit] ?? 0) : automaton.step(state, unit)
      starts[count & mask] = base + start
      count++
      if (state === 0 || !automaton.ends(state)) return
      automaton.matches(state, (pattern) => {
        const first = count - (lengths[pattern] ?? 0)
        ranges.push({
          start: starts[first & mask] ?? 0,
          end: base + end,
          owner: owners[pattern] ?? 0,
        })
      })
    }
    const used = run.normalizer.feed(text, final, emit)
    run.state = state
    run.count = count
    run.pending = text.slice(used)
    run.pendingStart = base + used
  }

  /** The earliest offset where a range not found yet could start. */
  holdPoint(): number {
    let hold = this.total
    for (const run of this.runs) {
      hold = Math.min(hold, run.pendingStart)
      const depth = run.view.automaton.depth(run.state)
      if (depth > 0) {
        hold = Math.min(hold, run.starts[(run.count - depth) & run.mask] ?? run.pendingStart)
      }
    }
    return hold
  }
}

// Ranges in a fixed order (so the marker chosen never depends on how the text was split).
function byPosition(a: Range, b: Range): number {
  return a.start - b.start || b.end - a.end || a.owner - b.owner
}

/**
 * Renders `text` (starting at absolute offset `base`) up to `limit`, replacing each group of
 * overlapping ranges that starts before `limit` with one marker, the longest range's.
 * A group that ends after `limit` is not rendered, and neither is anything after its start:
 * `end` is where rendering stopped; `rest` are the ranges not rendered.
 */
function render(
  text: string,
  base: number,
  ranges: Range[],
  limit: number,
  markers: readonly string[],
): { output: string; end: number; rest: Range[] } {
  ranges.sort(byPosition)
  let output = ''
  let cursor = base
  let end = limit
  let i = 0
  while (i < ranges.length) {
    const first = ranges[i] as Range
    if (first.start >= end) break
    let groupEnd = first.end
    let longest = first
    let j = i + 1
    for (; j < ranges.length; j++) {
      const next = ranges[j] as Range
      if (next.start >= groupEnd) break
      if (next.end > groupEnd) groupEnd = next.end
      if (next.end - next.start > longest.end - longest.start) longest = next
    }
    if (groupEnd > end) {
      end = first.start
      break
    }
    output += text.slice(cursor - base, first.start - base) + (markers[longest.owner] ?? '')
    cursor = groupEnd
    i = j
  }
  if (end > cursor) output += text.slice(cursor - base, end - base)
  return { output, end: Math.max(end, cursor), rest: ranges.slice(i) }
}

// ---------------------------------------------------------------------------------------------
// The API
// ---------------------------------------------------------------------------------------------

/**
 * Compiles the secrets once, for callers that mask many texts with the same secrets, or that
 * need {@link Redaction.redactPrefix} or {@link Redaction.reach}.
 */
export function compileRedaction(secrets: SecretsToRedact, options: RedactOptions = {}): Redaction {
  const compiled = compile(secrets, options)
  const masking = compiled.views.length > 0
  return {
    reach: compiled.reach,
    redact(text) {
      if (!masking) return text
      const scanner = new Scanner(compiled)
      scanner.feed(text, true)
      return render(text, 0, scanner.ranges, text.length, compiled.markers).output
    },
    redactPrefix(text, length, complete = false) {
      const limit = Math.max(0, Math.min(length, text.length))
      if (!masking) return text.slice(0, limit)
      const scanner = new Scanner(compiled)
      scanner.feed(text, complete)
      return render(text, 0, scanner.ranges, limit, compiled.markers).output
    },
    stream: () => streamOf(compiled),
  }
}

/**
 * Masks every secret value, in each encoding the redactor knows, in `text` with
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
  return compileRedaction(secrets, options).redact(text)
}

/**
 * Compiles the secrets once and returns a function that masks text, for callers that mask
 * many strings with the same secrets (every tool result of a session, every log line).
 */
export function createRedactor(secrets: SecretsToRedact, options: RedactOptions = {}): Redactor {
  const redaction = compileRedaction(secrets, options)
  return (text) => redaction.redact(text)
}

/**
 * A masker for text that arrives in chunks (a child process's stdout and stderr).
 *
 * A value split across chunks is still masked, in every encoding: `push` holds back the tail
 * that could still be the beginning of a masked form (at most {@link Redaction.reach}
 * characters) and emits everything before it at once, so ordinary output is not delayed. The
 * concatenation of every `push` result and `flush()` equals `redact(wholeText, secrets,
 * options)`, however the text was split.
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
  return streamOf(compile(secrets, options))
}

function streamOf(compiled: Compiled): StreamRedactor {
  if (compiled.views.length === 0) return { push: (chunk) => chunk, flush: () => '' }
  const scanner = new Scanner(compiled)
  let held = ''
  let heldStart = 0
  let ranges: Range[] = []
  const emit = (chunk: string, final: boolean) => {
    scanner.feed(chunk, final)
    held += chunk
    ranges = ranges.concat(scanner.ranges.splice(0))
    // Before the hold point every range is known; a range that crosses it waits whole.
    const limit = final ? scanner.total : scanner.holdPoint()
    const rendered = render(held, heldStart, ranges, limit, compiled.markers)
    held = held.slice(rendered.end - heldStart)
    heldStart = rendered.end
    ranges = rendered.rest
    return rendered.output
  }
  return {
    push: (chunk) => emit(chunk, false),
    flush: () => emit('', true),
  }
}
