/**
 * The client's in-memory secret cache: a TTL, a size bound with least-recently-used eviction,
 * single-flight loading and stale-if-error.
 *
 * Time comes from an injected clock so tests move it by hand instead of sleeping.
 * Runtime-neutral: no timers, no `node:` imports.
 * @module
 */

import { isKeywardenError, KeywardenError } from '../errors/index.ts'

/** Options for {@link SecretCache}. */
export interface SecretCacheOptions {
  /** How long an entry is fresh, in ms. Default 5 minutes. `0` makes every entry stale at once. */
  ttlMs?: number
  /** The most entries kept; the least recently used goes first. Default 1000. */
  maxEntries?: number
  /**
   * How long after its expiry an entry may still be served when the loader fails as
   * unavailable, in ms. Default 1 hour. `0` turns stale-if-error off.
   */
  staleIfErrorMs?: number
  /** The clock, in ms. Default `Date.now`. */
  now?: () => number
  /**
   * Which loader errors allow serving a stale entry. Default: a {@link KeywardenError} with
   * code `VAULT_UNAVAILABLE`. Anything else (not found, access denied) is rethrown: serving an
   * old value after the vault *answered* would hide a deletion or a revoked grant.
   */
  isUnavailable?: (error: unknown) => boolean
}

/** What {@link SecretCache.get} finds. */
export interface CacheEntryView<V> {
  value: V
  /** Whether the entry is within its TTL. */
  fresh: boolean
  /** Time since the value was stored, in ms. */
  ageMs: number
}

/** What {@link SecretCache.load} returns. */
export interface CacheLoadResult<V> {
  value: V
  /**
   * Where the value came from: `hit` a fresh entry, `loaded` the loader (this call's or a
   * concurrent call's shared load), `stale` an expired entry served because the loader failed
   * as unavailable.
   */
  source: 'hit' | 'loaded' | 'stale'
  /** `true` only for `source: 'stale'`. */
  stale: boolean
  /** Time since the value was stored, in ms (0 for a fresh load). */
  ageMs: number
}

/** Counters for `health()`. All counts since the cache was created. */
export interface SecretCacheStats {
  /** Lookups (get or load) answered by a fresh entry. */
  hits: number
  /** Lookups that found no fresh entry. */
  misses: number
  /** Loads answered with a stale entry because the loader was unavailable. */
  staleServed: number
  /** Loader calls started (concurrent misses for one name start one). */
  loads: number
  /** Entries dropped to stay within `maxEntries`. */
  evictions: number
  /** Entries removed by `delete` or `clear` (rotations seen through NOTIFY). */
  invalidations: number
  /** Entries held now. */
  size: number
}

/** The defaults, for documentation and `health()`. */
export const SECRET_CACHE_DEFAULTS: Readonly<
  Required<Pick<SecretCacheOptions, 'ttlMs' | 'maxEntries' | 'staleIfErrorMs'>>
> = Object.freeze({ ttlMs: 5 * 60_000, maxEntries: 1000, staleIfErrorMs: 60 * 60_000 })

interface Entry<V> {
  value: V
  storedAt: number
}

// One in-flight load. `current` is cleared when the name is invalidated while the load runs,
// which is what keeps its result out of the cache: an object per load acts as the name's
// generation, and it disappears with the load, so nothing grows with the number of names seen.
interface Flight<V> {
  promise: Promise<V>
  current: boolean
}

function isVaultUnavailable(error: unknown): boolean {
  return isKeywardenError(error, 'VAULT_UNAVAILABLE')
}

function checkDuration(name: string, value: number, min: number): number {
  if (!Number.isFinite(value) || value < min) {
    throw new KeywardenError('INVALID_ARGUMENT', `${name} must be a number of at least ${min}`)
  }
  return value
}

/**
 * An in-memory cache of secret values keyed by name.
 *
 * Values live only in this process's memory; nothing is written anywhere. Use
 * {@link SecretCache.load} on the read path: it serves fresh entries, shares one loader call
 * among concurrent misses, and falls back to a recently expired entry when the vault is down.
 */
export class SecretCache<V> {
  readonly #ttlMs: number
  readonly #maxEntries: number
  readonly #staleIfErrorMs: number
  readonly #now: () => number
  readonly #isUnavailable: (error: unknown) => boolean
  // Map iteration order is insertion order: re-inserting on use makes the first key the least
  // recently used one, which gives LRU without a linked list.
  readonly #entries = new Map<string, Entry<V>>()
  readonly #flights = new Map<string, Flight<V>>()
  #hits = 0
  #misses = 0
  #staleServed = 0
  #loads = 0
  #evictions = 0
  #invalidations = 0

  constructor(options: SecretCacheOptions = {}) {
    this.#ttlMs = checkDuration('ttlMs', options.ttlMs ?? SECRET_CACHE_DEFAULTS.ttlMs, 0)
    const maxEntries = options.maxEntries ?? SECRET_CACHE_DEFAULTS.maxEntries
    if (!Number.isInteger(maxEntries) || maxEntries < 1) {
      throw new KeywardenError('INVALID_ARGUMENT', 'maxEntries must be an integer of at least 1')
    }
    this.#maxEntries = maxEntries
    this.#staleIfErrorMs = checkDuration(
      'staleIfErrorMs',
      options.staleIfErrorMs ?? SECRET_CACHE_DEFAULTS.staleIfErrorMs,
      0,
    )
    this.#now = options.now ?? Date.now
    this.#isUnavailable = options.isUnavailable ?? isVaultUnavailable
  }

  /**
   * Looks a name up without loading. Returns expired entries too (`fresh: false`) while they
   * are still within the stale-if-error window, and `undefined` after it.
   */
  get(name: string): CacheEntryView<V> | undefined {
    const entry = this.#lookup(name)
    if (!entry) {
      this.#misses++
      return undefined
    }
    const ageMs = this.#now() - entry.storedAt
    const fresh = ageMs < this.#ttlMs
    if (fresh) this.#hits++
    else this.#misses++
    return { value: entry.value, fresh, ageMs }
  }

  /**
   * Stores a value as fresh now. Also detaches any load in flight for the name, so that load's
   * older result does not overwrite this one.
   */
  set(name: string, value: V): void {
    this.#detachFlight(name)
    this.#entries.delete(name)
    this.#entries.set(name, { value, storedAt: this.#now() })
    while (this.#entries.size > this.#maxEntries) {
      const oldest = this.#entries.keys().next()
      if (oldest.done) break
      this.#entries.delete(oldest.value)
      this.#evictions++
    }
  }

  /**
   * Drops a name (a rotation seen through NOTIFY). A load already in flight for it still
   * answers its callers but does not store its result, and later calls start a new load:
   * the in-flight one may have read the old value.
   * @returns whether an entry was removed
   */
  delete(name: string): boolean {
    this.#detachFlight(name)
    const removed = this.#entries.delete(name)
    if (removed) this.#invalidations++
    return removed
  }

  /** Drops every entry and detaches every in-flight load (see {@link SecretCache.delete}). */
  clear(): void {
    for (const flight of this.#flights.values()) flight.current = false
    this.#flights.clear()
    this.#invalidations += this.#entries.size
    this.#entries.clear()
  }

  /**
   * The value when it is fresh, counted as a hit; otherwise undefined and nothing counted (the
   * caller goes on to {@link SecretCache.load}, which counts the miss). The read path's
   * synchronous fast lane: no promise for a hit.
   */
  getFresh(name: string): V | undefined {
    const entry = this.#lookup(name)
    if (!entry || this.#now() - entry.storedAt >= this.#ttlMs) return undefined
    this.#hits++
    return entry.value
  }

  /**
   * Returns the cached value if fresh; otherwise calls `loader` and caches its result.
   *
   * - Concurrent calls that miss on one name share a single `loader` call.
   * - If the loader throws an error that `isUnavailable` accepts and an expired entry is
   *   still within `staleIfErrorMs` of its expiry, that entry is returned with `stale: true`.
   * - Any other error is rethrown, and the entry (if any) is left as it was.
   */
  async load(name: string, loader: (name: string) => Promise<V>): Promise<CacheLoadResult<V>> {
    const cached = this.#lookup(name)
    if (cached) {
      const ageMs = this.#now() - cached.storedAt
      if (ageMs < this.#ttlMs) {
        this.#hits++
        return { value: cached.value, source: 'hit', stale: false, ageMs }
      }
    }
    this.#misses++
    try {
      const value = await this.#sharedLoad(name, loader)
      return { value, source: 'loaded', stale: false, ageMs: 0 }
    } catch (error) {
      if (this.#isUnavailable(error)) {
        // Looked up again after the await: a delete during the load must win over the old entry.
        const entry = this.#lookup(name)
        if (entry) {
          const ageMs = this.#now() - entry.storedAt
          // A `set` during the failed load may have stored a fresh value: that is no fallback.
          if (ageMs < this.#ttlMs) return { value: entry.value, source: 'hit', stale: false, ageMs }
          this.#staleServed++
          return { value: entry.value, source: 'stale', stale: true, ageMs }
        }
      }
      throw error
    }
  }

  /** Counters and the current size, for `health()`. */
  stats(): SecretCacheStats {
    return {
      hits: this.#hits,
      misses: this.#misses,
      staleServed: this.#staleServed,
      loads: this.#loads,
      evictions: this.#evictions,
      invalidations: this.#invalidations,
      size: this.#entries.size,
    }
  }

  /**
   * The names held (fresh, or expired but still within the stale-if-error window), least
   * recently used first. Names only: values never leave through this. Does not count as use.
   */
  keys(): string[] {
    const limit = this.#ttlMs + this.#staleIfErrorMs
    const now = this.#now()
    const names: string[] = []
    for (const [name, entry] of this.#entries) if (now - entry.storedAt < limit) names.push(name)
    return names
  }

  /** Entries held now (including expired ones still within the stale-if-error window). */
  get size(): number {
    return this.#entries.size
  }

  // Finds a usable entry and marks it recently used; drops it once it is past its expiry plus
  // the stale-if-error window, since nothing may serve it any more.
  #lookup(name: string): Entry<V> | undefined {
    const entry = this.#entries.get(name)
    if (!entry) return undefined
    if (this.#now() - entry.storedAt >= this.#ttlMs + this.#staleIfErrorMs) {
      this.#entries.delete(name)
      return undefined
    }
    this.#entries.delete(name)
    this.#entries.set(name, entry)
    return entry
  }

  #sharedLoad(name: string, loader: (name: string) => Promise<V>): Promise<V> {
    const existing = this.#flights.get(name)
    if (existing) return existing.promise
    this.#loads++
    // Calling the loader through a resolved promise turns a synchronous throw into a rejection,
    // so a buggy loader cannot leave a flight registered forever.
    const flight: Flight<V> = {
      current: true,
      promise: Promise.resolve()
        .then(() => loader(name))
        .then((value) => {
          if (flight.current) this.set(name, value)
          return value
        })
        .finally(() => {
          if (this.#flights.get(name) === flight) this.#flights.delete(name)
        }),
    }
    this.#flights.set(name, flight)
    return flight.promise
  }

  #detachFlight(name: string): void {
    const flight = this.#flights.get(name)
    if (flight) {
      flight.current = false
      this.#flights.delete(name)
    }
  }
}
