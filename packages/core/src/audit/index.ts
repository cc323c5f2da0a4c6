/**
 * The client-side audit buffer: events the database cannot see for itself (cache hits,
 * environment fallbacks, denials and errors the client met) are collected here and written in
 * batches through `public.log_secret_access_batch(jsonb)`, off the request's hot path.
 *
 * Vault reads need none of this: the SQL API audits them in the same transaction.
 *
 * Runtime-neutral: timers and the clock are injected (defaulting to the global ones).
 * @module
 */

import {
  errorFromDatabase,
  KeywardenError,
  type KeywardenErrorCode,
  SECRET_NAME_PATTERN,
} from '../errors/index.ts'

/**
 * One audit row, exactly the JSON object `public.log_secret_access_batch(jsonb)` takes.
 *
 * There is deliberately no field for a secret's value, and {@link AuditBuffer.record} copies
 * only the fields listed here, so a value cannot reach the log even through an object that
 * carries extra properties.
 */
export interface AuditEvent {
  /** A valid secret name, or `*` for an operation on no single secret. */
  secret_name: string
  /**
   * Who asked, e.g. `mcp:claude-desktop` or `cli:alice`: {@link ACCESSOR_PATTERN}, the label the
   * SQL function takes (1 to 200 of A-Z a-z 0-9 _ . : @ / + = -, starting with a letter or digit).
   */
  accessed_by: string
  /** `^[a-z][a-z_]{0,31}$`, e.g. `cache_hit`, `env_fallback`, `denied`, `error`. */
  access_type: string
  success: boolean
  /** At most 1000 characters (longer messages are cut). Never a value. */
  error_message?: string
  /** ISO 8601 timestamp. */
  created_at: string
  /**
   * How many accesses this row stands for (aggregated cache hits): 1 to
   * {@link MAX_EVENT_COUNT}. Default 1 in SQL.
   */
  event_count?: number
  /** Which version of the secret was served, if known. */
  secret_version?: number | null
  /** The tier that served it (`cache`, `env`, …): at most 32 characters. */
  source?: string
}

/** An event as given to {@link AuditBuffer.record}: `created_at` defaults to now. */
export type AuditEventInput = Omit<AuditEvent, 'created_at'> & { created_at?: string }

/**
 * Writes a batch and resolves with the number of rows written; typically
 * `(events) => store.rpc('log_secret_access_batch', { events })`. It may throw a driver error
 * or a KeywardenError; either is classified with {@link errorFromDatabase}.
 */
export type AuditWriter = (events: readonly AuditEvent[]) => Promise<number>

/** Timer functions, injectable so tests control time. Handles are opaque. */
export interface AuditTimers {
  setTimeout(callback: () => void, ms: number): unknown
  clearTimeout(handle: unknown): void
}

/** Options for {@link AuditBuffer}. */
export interface AuditBufferOptions {
  /** Where batches go. */
  write: AuditWriter
  /** Flush as soon as this many events are buffered. Default 500, at most 10000 (the SQL limit). */
  batchSize?: number
  /** Flush buffered events after this long, in ms. Default 1000. */
  flushIntervalMs?: number
  /** The most events kept while writes fail; beyond it the oldest are dropped. Default 10000. */
  maxBuffered?: number
  /** The longest wait between retries of a failing write, in ms. Default 30000. */
  maxRetryDelayMs?: number
  /**
   * Access types counted into one row per (secret, accessor, minute) instead of a row each.
   * Default `['cache_hit']`: a hot secret can be read thousands of times a minute.
   */
  aggregate?: readonly string[]
  /** The clock for default `created_at` values, in ms. Default `Date.now`. */
  now?: () => number
  /** Default: the global `setTimeout` / `clearTimeout`. */
  timers?: AuditTimers
}

/** Counters for `health()`. */
export interface AuditBufferStats {
  /** Events waiting to be written, including a batch being written now. */
  buffered: number
  /** Rows the database reported written. */
  written: number
  /** Events lost: malformed, over `maxBuffered`, recorded after close, or unwritten at close. */
  dropped: number
  /** Write attempts that failed and will be retried. */
  failedWrites: number
  /** The code of the last write failure or malformed event, if any. */
  lastErrorCode: KeywardenErrorCode | undefined
}

/** Options for {@link AuditBuffer.close}. */
export interface AuditCloseOptions {
  /** How long to keep trying to write, in ms. Default 5000. */
  timeoutMs?: number
}

/** What {@link AuditBuffer.close} achieved. */
export interface AuditCloseResult {
  /** Rows written while closing. */
  written: number
  /** Events given up on at the timeout (also added to `stats().dropped`). */
  dropped: number
}

/** The defaults, for documentation and `health()`. */
export const AUDIT_BUFFER_DEFAULTS = Object.freeze({
  batchSize: 500,
  flushIntervalMs: 1000,
  maxBuffered: 10_000,
  maxRetryDelayMs: 30_000,
  closeTimeoutMs: 5000,
})

// The SQL function refuses more than this many events per call.
const MAX_BATCH = 10_000
const MAX_INT32 = 2_147_483_647

/**
 * The most accesses one aggregated row stands for: `keywarden.max_event_count()`, which refuses
 * more. A hotter (secret, accessor, minute) starts another row.
 */
export const MAX_EVENT_COUNT = 1_000_000

/** An accessor as `public.log_secret_access_batch` takes it (`keywarden.is_valid_accessor`). */
export const ACCESSOR_PATTERN: RegExp = /^[A-Za-z0-9][A-Za-z0-9_.:@/+=-]{0,199}$/

// Errors that mean "this batch will never be accepted": retrying them would block the buffer
// forever behind one bad event, so the batch is dropped (and counted) instead.
const MALFORMED: ReadonlySet<KeywardenErrorCode> = new Set([
  'INVALID_ARGUMENT',
  'INVALID_NAME',
  'INVALID_VALUE',
])

const ACCESS_TYPE = /^[a-z][a-z_]{0,31}$/

// A buffered event, with the aggregation key it is registered under (if any).
interface Slot {
  event: AuditEvent
  key: string | undefined
}

function codePoints(text: string): number {
  let count = 0
  for (const _ of text) count++
  return count
}

function truncate(text: string, max: number): string {
  return codePoints(text) <= max ? text : Array.from(text).slice(0, max).join('')
}

function isInt32(value: unknown, min: number): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= min && value <= MAX_INT32
}

/**
 * Copies the known fields of an event, checked with the same rules as the SQL function so a
 * malformed event is refused here, alone, instead of failing a whole batch later.
 * Returns undefined for a malformed event.
 */
function normalize(input: AuditEventInput, now: () => number): AuditEvent | undefined {
  const { secret_name, accessed_by, access_type, success, error_message, created_at } = input
  const { event_count, secret_version, source } = input
  if (typeof secret_name !== 'string') return undefined
  if (secret_name !== '*' && !SECRET_NAME_PATTERN.test(secret_name)) return undefined
  if (typeof accessed_by !== 'string' || !ACCESSOR_PATTERN.test(accessed_by)) return undefined
  if (typeof access_type !== 'string' || !ACCESS_TYPE.test(access_type)) return undefined
  if (typeof success !== 'boolean') return undefined
  if (error_message !== undefined && typeof error_message !== 'string') return undefined
  if (source !== undefined && (typeof source !== 'string' || codePoints(source) > 32)) {
    return undefined
  }
  if (event_count !== undefined && !(isInt32(event_count, 1) && event_count <= MAX_EVENT_COUNT)) {
    return undefined
  }
  if (secret_version !== undefined && secret_version !== null && !isInt32(secret_version, 0)) {
    return undefined
  }
  if (created_at !== undefined && !Number.isFinite(Date.parse(created_at))) return undefined

  const event: AuditEvent = {
    secret_name,
    accessed_by,
    access_type,
    success,
    created_at: created_at ?? new Date(now()).toISOString(),
  }
  if (error_message !== undefined) event.error_message = truncate(error_message, 1000)
  if (event_count !== undefined) event.event_count = event_count
  if (secret_version !== undefined) event.secret_version = secret_version
  if (source !== undefined) event.source = source
  return event
}

/** An aggregated slot still collecting, and the minute it collects for. */
interface HotSlot {
  slot: Slot
  minute: number
}

/** Whether `input` would aggregate into `event`'s row (same minute checked by the caller). */
function sameAggregate(event: AuditEvent, input: AuditEventInput): boolean {
  return (
    event.accessed_by === input.accessed_by &&
    event.access_type === input.access_type &&
    event.success === input.success &&
    event.source === input.source &&
    event.secret_version === input.secret_version &&
    event.error_message === input.error_message
  )
}

/**
 * Everything but the count must agree for two events to share a row: the minute they fall in
 * and every other field. Joined with a separator no valid field contains.
 */
function aggregateKey(input: AuditEventInput, now: () => number): string {
  const time = input.created_at === undefined ? now() : Date.parse(input.created_at)
  // A template, not [..].join(): this runs on every cache hit.
  return `${input.secret_name}\u0000${input.accessed_by}\u0000${input.access_type}\u0000${Math.floor(time / 60_000)}\u0000${input.success}\u0000${input.source ?? '\u0001'}\u0000${input.secret_version ?? '\u0001'}\u0000${input.error_message ?? '\u0001'}`
}

const globalTimers: AuditTimers = {
  // Wrapped rather than passed as is: some runtimes require `this` to be the global object.
  setTimeout: (callback, ms) => globalThis.setTimeout(callback, ms),
  clearTimeout: (handle) =>
    globalThis.clearTimeout(handle as Parameters<typeof globalThis.clearTimeout>[0]),
}

// Lets the process exit with a background flush pending (Node, Bun). Owners call close()
// to write what is left; an idle CLI must not hang for a timer.
function unref(handle: unknown): void {
  if (typeof handle === 'object' && handle !== null && 'unref' in handle) {
    const method = (handle as { unref: unknown }).unref
    if (typeof method === 'function') method.call(handle)
  }
}

function positive(name: string, value: number, integer: boolean, max = Number.MAX_SAFE_INTEGER) {
  if (
    !Number.isFinite(value) ||
    value < 1 ||
    value > max ||
    (integer && !Number.isInteger(value))
  ) {
    throw new RangeError(`${name} must be ${integer ? 'an integer' : 'a number'} from 1 to ${max}`)
  }
  return value
}

/**
 * Buffers client-side audit events and writes them in batches.
 *
 * - {@link AuditBuffer.record} is synchronous and O(1): it never waits for the database.
 * - A batch is written when `batchSize` events are buffered, `flushIntervalMs` after the first
 *   buffered event, on {@link AuditBuffer.flush} and on {@link AuditBuffer.close}.
 * - Cache hits are counted into one event per (secret, accessor, minute) with `event_count`.
 * - While writes fail, events stay buffered (up to `maxBuffered`; beyond it the oldest are
 *   dropped and counted) and are retried with exponential backoff.
 * - A batch the database rejects as malformed is dropped and counted, so it cannot block the
 *   events behind it.
 *
 * Nothing is dropped silently: every loss is in `stats().dropped`.
 */
export class AuditBuffer {
  readonly #write: AuditWriter
  readonly #batchSize: number
  readonly #flushIntervalMs: number
  readonly #maxBuffered: number
  readonly #maxRetryDelayMs: number
  readonly #aggregate: ReadonlySet<string>
  readonly #now: () => number
  readonly #timers: AuditTimers

  // A queue with a moving head, so dropping the oldest and taking a batch are O(1) amortized.
  // Consumed cells are set to undefined so their events can be collected before compaction.
  #queue: Array<Slot | undefined> = []
  #head = 0
  readonly #aggregates = new Map<string, Slot>()
  // The newest aggregated slot per secret name, so a run of hits on a name bumps its count
  // without building and hashing the aggregate key each time: the cache-hit fast path.
  readonly #hot = new Map<string, HotSlot>()
  #inFlight = 0
  #timer: unknown
  #timerPending = false
  #kickPending = false
  #running: Promise<boolean> | undefined
  #consecutiveFailures = 0
  #closed = false
  #closing: Promise<AuditCloseResult> | undefined
  #abandoned = false

  #written = 0
  #dropped = 0
  #failedWrites = 0
  #lastErrorCode: KeywardenErrorCode | undefined

  constructor(options: AuditBufferOptions) {
    this.#write = options.write
    const d = AUDIT_BUFFER_DEFAULTS
    this.#batchSize = positive('batchSize', options.batchSize ?? d.batchSize, true, MAX_BATCH)
    this.#flushIntervalMs = positive(
      'flushIntervalMs',
      options.flushIntervalMs ?? d.flushIntervalMs,
      false,
    )
    this.#maxBuffered = positive('maxBuffered', options.maxBuffered ?? d.maxBuffered, true)
    this.#maxRetryDelayMs = positive(
      'maxRetryDelayMs',
      options.maxRetryDelayMs ?? d.maxRetryDelayMs,
      false,
    )
    this.#aggregate = new Set(options.aggregate ?? ['cache_hit'])
    this.#now = options.now ?? Date.now
    this.#timers = options.timers ?? globalTimers
  }

  /**
   * Buffers one event; returns at once. A malformed event (see {@link AuditEvent} for the
   * rules) or one recorded after {@link AuditBuffer.close} is dropped and counted.
   */
  record(input: AuditEventInput): void {
    if (this.#closed) {
      this.#dropped++
      return
    }
    const count = input.event_count ?? 1
    // The hot path: a repeat of the last aggregated event for this name (a cache hit) within
    // its minute only bumps a count. That slot's event was validated; nothing is redone.
    const hot = input.created_at === undefined ? this.#hot.get(input.secret_name) : undefined
    if (
      hot !== undefined &&
      hot.minute === Math.floor(this.#now() / 60_000) &&
      sameAggregate(hot.slot.event, input) &&
      isInt32(count, 1) &&
      (hot.slot.event.event_count ?? 1) + count <= MAX_EVENT_COUNT
    ) {
      hot.slot.event.event_count = (hot.slot.event.event_count ?? 1) + count
      return
    }
    const key = this.#aggregate.has(input.access_type) ? aggregateKey(input, this.#now) : undefined
    const existing = key === undefined ? undefined : this.#aggregates.get(key)
    if (
      existing &&
      isInt32(count, 1) &&
      (existing.event.event_count ?? 1) + count <= MAX_EVENT_COUNT
    ) {
      existing.event.event_count = (existing.event.event_count ?? 1) + count
      this.#remember(existing, input)
      return
    }
    const event = normalize(input, this.#now)
    if (!event) {
      this.#dropped++
      this.#lastErrorCode = 'INVALID_ARGUMENT'
      return
    }
    if (key !== undefined) {
      event.event_count = count
      const fresh: Slot = { event, key }
      this.#aggregates.set(key, fresh)
      this.#remember(fresh, input)
      this.#push(fresh)
    } else {
      this.#push({ event, key: undefined })
    }
    this.#schedule()
  }

  #remember(slot: Slot, input: AuditEventInput): void {
    if (input.created_at !== undefined) return
    this.#hot.set(input.secret_name, { slot, minute: Math.floor(this.#now() / 60_000) })
  }

  /**
   * Writes `inputs` at once, beside the buffer, and resolves only once the database has them:
   * for the events that must be on record before their effect is (a value handed to a host or
   * a command, a value revealed, a refusal answered). A process killed after this resolves
   * has still left its row.
   *
   * Fails closed: a malformed event, a closed buffer or a failed write rejects with a
   * {@link KeywardenError} (`INVALID_ARGUMENT`, `INTERNAL`, or the write's own code, typically
   * `VAULT_UNAVAILABLE`), and the caller must then not do what it was about to record. A
   * failed commit is not retried or buffered: the caller answers an error instead.
   */
  async commit(inputs: AuditEventInput | readonly AuditEventInput[]): Promise<void> {
    const list: readonly AuditEventInput[] = Array.isArray(inputs)
      ? inputs
      : [inputs as AuditEventInput]
    if (this.#closed) {
      throw new KeywardenError('INTERNAL', 'the audit log is closed; nothing was done')
    }
    if (list.length === 0) return
    if (list.length > MAX_BATCH) {
      throw new KeywardenError('INVALID_ARGUMENT', `at most ${MAX_BATCH} audit events at once`)
    }
    const events: AuditEvent[] = []
    for (const input of list) {
      const event = normalize(input, this.#now)
      if (!event) throw new KeywardenError('INVALID_ARGUMENT', 'a malformed audit event')
      events.push(event)
    }
    let rows: number
    try {
      rows = await this.#write(events)
    } catch (error) {
      const failure = errorFromDatabase(error)
      this.#failedWrites++
      this.#lastErrorCode = failure.code
      throw new KeywardenError(
        failure.code,
        `the audit log could not record this access, so it was not carried out: ${failure.message}`,
        { cause: error },
      )
    }
    this.#written += typeof rows === 'number' && Number.isFinite(rows) ? rows : events.length
  }

  /**
   * Writes what is buffered now, in batches, ignoring any backoff. Resolves `true` when all of
   * it was written (or dropped as malformed), `false` when a write failed; it never rejects.
   * A flush already running is waited for first.
   */
  async flush(): Promise<boolean> {
    while (this.#running) await this.#running
    this.#cancelTimer()
    const run = this.#drain()
    this.#running = run
    try {
      return await run
    } finally {
      if (this.#running === run) this.#running = undefined
      this.#schedule()
    }
  }

  /** Resolves when no write is running (for tests and graceful shutdowns). */
  async idle(): Promise<void> {
    // A flush triggered by a full batch starts in a microtask: wait for it to start, then end.
    while (this.#running || this.#kickPending) await (this.#running ?? Promise.resolve())
  }

  /**
   * Stops accepting events and writes what is buffered, retrying failed writes with backoff
   * until `timeoutMs` (default 5000) has passed. Events still unwritten then are dropped and
   * counted. Calling it again returns the same promise.
   */
  close(options: AuditCloseOptions = {}): Promise<AuditCloseResult> {
    if (!this.#closing) {
      this.#closed = true
      this.#cancelTimer()
      this.#closing = this.#shutdown(options.timeoutMs ?? AUDIT_BUFFER_DEFAULTS.closeTimeoutMs)
    }
    return this.#closing
  }

  /** Counters for `health()`. */
  stats(): AuditBufferStats {
    return {
      buffered: this.#length + this.#inFlight,
      written: this.#written,
      dropped: this.#dropped,
      failedWrites: this.#failedWrites,
      lastErrorCode: this.#lastErrorCode,
    }
  }

  get #length(): number {
    return this.#queue.length - this.#head
  }

  #push(slot: Slot): void {
    this.#queue.push(slot)
    while (this.#length > this.#maxBuffered) this.#dropOldest()
  }

  #dropOldest(): void {
    const slot = this.#queue[this.#head]
    if (!slot) return
    this.#queue[this.#head] = undefined
    this.#head++
    this.#forget(slot)
    this.#dropped++
    this.#compact()
  }

  // Reclaims the consumed head once it is most of the array.
  #compact(): void {
    if (this.#head > 1024 && this.#head * 2 > this.#queue.length) {
      this.#queue = this.#queue.slice(this.#head)
      this.#head = 0
    }
  }

  // An event leaving the queue stops collecting hits: later hits start a new row rather than
  // change one that is being written.
  #forget(slot: Slot): void {
    if (slot.key !== undefined && this.#aggregates.get(slot.key) === slot) {
      this.#aggregates.delete(slot.key)
    }
    if (this.#hot.get(slot.event.secret_name)?.slot === slot)
      this.#hot.delete(slot.event.secret_name)
  }

  #take(count: number): Slot[] {
    const batch: Slot[] = []
    const end = Math.min(this.#head + count, this.#queue.length)
    for (let i = this.#head; i < end; i++) {
      const slot = this.#queue[i]
      this.#queue[i] = undefined
      if (slot) {
        this.#forget(slot)
        batch.push(slot)
      }
    }
    this.#head = end
    this.#compact()
    return batch
  }

  // A failed batch goes back in front, in its original order: it is the oldest.
  #putBack(batch: Slot[]): void {
    if (this.#abandoned) {
      this.#dropped += batch.length
      return
    }
    this.#queue = [...batch, ...this.#queue.slice(this.#head)]
    this.#head = 0
    while (this.#length > this.#maxBuffered) this.#dropOldest()
  }

  async #drain(): Promise<boolean> {
    // Only what is buffered now: events recorded meanwhile wait for their own trigger, so a
    // steady trickle does not turn into one tiny write per event.
    let remaining = this.#length
    while (remaining > 0 && this.#length > 0) {
      const batch = this.#take(Math.min(this.#batchSize, remaining))
      remaining -= batch.length
      this.#inFlight = batch.length
      try {
        const rows = await this.#write(batch.map((slot) => slot.event))
        this.#written += typeof rows === 'number' && Number.isFinite(rows) ? rows : batch.length
        this.#consecutiveFailures = 0
      } catch (error) {
        const code = errorFromDatabase(error).code
        this.#lastErrorCode = code
        if (MALFORMED.has(code)) {
          this.#dropped += batch.length
          continue
        }
        this.#failedWrites++
        this.#consecutiveFailures++
        this.#putBack(batch)
        return false
      } finally {
        this.#inFlight = 0
      }
    }
    return true
  }

  // Arranges the next flush: at once for a full batch (unless backing off after a failure,
  // when hammering a down database would not help), otherwise on a timer.
  #schedule(): void {
    if (this.#closed || this.#length === 0) return
    if (this.#consecutiveFailures === 0 && this.#length >= this.#batchSize) {
      if (!this.#kickPending && !this.#running) {
        this.#kickPending = true
        // A microtask, not a direct call: record() must return before any I/O starts.
        void Promise.resolve().then(() => {
          this.#kickPending = false
          void this.flush()
        })
      }
      return
    }
    if (!this.#timerPending) {
      this.#timerPending = true
      this.#timer = this.#timers.setTimeout(() => {
        this.#timerPending = false
        this.#timer = undefined
        void this.flush()
      }, this.#retryDelay())
      unref(this.#timer)
    }
  }

  #cancelTimer(): void {
    if (this.#timerPending) {
      this.#timers.clearTimeout(this.#timer)
      this.#timerPending = false
      this.#timer = undefined
    }
  }

  // The interval normally; after n failures in a row, interval × 2^n up to the maximum.
  #retryDelay(): number {
    const exponent = Math.min(this.#consecutiveFailures, 30)
    return Math.min(this.#maxRetryDelayMs, this.#flushIntervalMs * 2 ** exponent)
  }

  async #shutdown(timeoutMs: number): Promise<AuditCloseResult> {
    const writtenBefore = this.#written
    let timedOut = false
    let release: () => void = () => {}
    const deadline = new Promise<false>((resolve) => {
      release = () => resolve(false)
    })
    const deadlineTimer = this.#timers.setTimeout(() => {
      timedOut = true
      release()
    }, timeoutMs)
    try {
      while (!timedOut && (this.#length > 0 || this.#running)) {
        const done = await Promise.race([this.flush(), deadline])
        if (done || timedOut) break
        // Back off before retrying, but never past the deadline.
        let wake: () => void = () => {}
        const pause = new Promise<void>((resolve) => {
          wake = resolve
        })
        const pauseTimer = this.#timers.setTimeout(() => wake(), this.#retryDelay())
        await Promise.race([pause, deadline])
        this.#timers.clearTimeout(pauseTimer)
      }
    } finally {
      this.#timers.clearTimeout(deadlineTimer)
    }
    // Whatever is left will never be written by this process: count it, and count a batch
    // still being written if that write fails later (see #putBack).
    this.#abandoned = true
    const dropped = this.#length
    this.#dropped += dropped
    this.#queue = []
    this.#head = 0
    this.#aggregates.clear()
    this.#hot.clear()
    return { written: this.#written - writtenBefore, dropped }
  }
}
