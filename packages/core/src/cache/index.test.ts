import { describe, expect, it } from 'vitest'
import { isKeywardenError, KeywardenError } from '../errors/index.ts'
import { SecretCache, type SecretCacheOptions } from './index.ts'

const MINUTE = 60_000

// A clock the test moves by hand: nothing here sleeps.
function manualClock(start = 1_000_000) {
  let now = start
  return {
    now: () => now,
    advance(ms: number) {
      now += ms
    },
  }
}

// A promise the test settles when it wants, to hold a load "in flight".
function deferred<T>() {
  let resolve: (value: T) => void = () => {}
  let reject: (error: unknown) => void = () => {}
  const promise = new Promise<T>((res, rej) => {
    resolve = res
    reject = rej
  })
  return { promise, resolve, reject }
}

function setup(options: SecretCacheOptions = {}) {
  const clock = manualClock()
  const cache = new SecretCache<string>({ now: clock.now, ...options })
  return { clock, cache }
}

const unavailable = () => new KeywardenError('VAULT_UNAVAILABLE', 'the vault is unavailable')

describe('SecretCache get/set/delete/clear', () => {
  it('returns undefined for an unknown name', () => {
    const { cache } = setup()
    expect(cache.get('github_token')).toBeUndefined()
    expect(cache.stats().misses).toBe(1)
  })

  it('serves an entry as fresh for the TTL (default 5 minutes), then as expired', () => {
    const { clock, cache } = setup()
    cache.set('github_token', 'ghp_1')
    clock.advance(5 * MINUTE - 1)
    expect(cache.get('github_token')).toEqual({
      value: 'ghp_1',
      fresh: true,
      ageMs: 5 * MINUTE - 1,
    })
    clock.advance(1)
    expect(cache.get('github_token')).toEqual({ value: 'ghp_1', fresh: false, ageMs: 5 * MINUTE })
    expect(cache.stats()).toMatchObject({ hits: 1, misses: 1, size: 1 })
  })

  it('forgets an entry once it is past the stale-if-error window (default 1 hour)', () => {
    const { clock, cache } = setup()
    cache.set('github_token', 'ghp_1')
    clock.advance(5 * MINUTE + 60 * MINUTE - 1)
    expect(cache.get('github_token')?.fresh).toBe(false)
    clock.advance(1)
    expect(cache.get('github_token')).toBeUndefined()
    expect(cache.size).toBe(0)
  })

  it('evicts the least recently used entry beyond maxEntries', () => {
    const { cache } = setup({ maxEntries: 2 })
    cache.set('a', '1')
    cache.set('b', '2')
    cache.get('a') // a is now more recent than b
    cache.set('c', '3')
    expect(cache.get('b')).toBeUndefined()
    expect(cache.get('a')?.value).toBe('1')
    expect(cache.get('c')?.value).toBe('3')
    expect(cache.stats()).toMatchObject({ evictions: 1, size: 2 })
  })

  it('treats a loaded entry as used for LRU purposes', async () => {
    const { cache } = setup({ maxEntries: 2 })
    cache.set('a', '1')
    cache.set('b', '2')
    await cache.load('a', async () => 'never called')
    cache.set('c', '3')
    expect(cache.get('a')).toBeDefined()
    expect(cache.get('b')).toBeUndefined()
  })

  it('deletes one name and clears all, counting invalidations', () => {
    const { cache } = setup()
    cache.set('a', '1')
    cache.set('b', '2')
    cache.set('c', '3')
    expect(cache.delete('a')).toBe(true)
    expect(cache.delete('a')).toBe(false)
    expect(cache.get('a')).toBeUndefined()
    cache.clear()
    expect(cache.get('b')).toBeUndefined()
    expect(cache.stats()).toMatchObject({ invalidations: 3, size: 0 })
  })

  it('lists the names it holds, least recently used first, without the forgotten ones', () => {
    const { clock, cache } = setup({ ttlMs: 1000, staleIfErrorMs: 1000 })
    cache.set('a', '1')
    clock.advance(1500)
    cache.set('b', '2')
    cache.set('c', '3')
    cache.get('b')
    expect(cache.keys()).toEqual(['a', 'c', 'b'])
    clock.advance(500) // a is now past its TTL plus the stale window
    expect(cache.keys()).toEqual(['c', 'b'])
  })

  it('replaces a value and restarts its TTL', () => {
    const { clock, cache } = setup()
    cache.set('a', 'old')
    clock.advance(4 * MINUTE)
    cache.set('a', 'new')
    clock.advance(2 * MINUTE)
    expect(cache.get('a')).toEqual({ value: 'new', fresh: true, ageMs: 2 * MINUTE })
  })

  it('rejects invalid options with INVALID_ARGUMENT', () => {
    for (const options of [
      { ttlMs: -1 },
      { maxEntries: 0 },
      { maxEntries: 1.5 },
      { staleIfErrorMs: Number.NaN },
    ]) {
      let caught: unknown
      try {
        new SecretCache(options)
      } catch (error) {
        caught = error
      }
      expect(isKeywardenError(caught, 'INVALID_ARGUMENT')).toBe(true)
    }
  })
})

describe('SecretCache.load', () => {
  it('calls the loader on a miss, caches the result and serves hits without it', async () => {
    const { clock, cache } = setup()
    const calls: string[] = []
    const loader = async (name: string) => {
      calls.push(name)
      return `value-of-${name}`
    }
    expect(await cache.load('github_token', loader)).toEqual({
      value: 'value-of-github_token',
      source: 'loaded',
      stale: false,
      ageMs: 0,
    })
    clock.advance(1000)
    expect(await cache.load('github_token', loader)).toEqual({
      value: 'value-of-github_token',
      source: 'hit',
      stale: false,
      ageMs: 1000,
    })
    expect(calls).toEqual(['github_token'])
    expect(cache.stats()).toMatchObject({ hits: 1, misses: 1, loads: 1, size: 1 })
  })

  it('reloads an expired entry', async () => {
    const { clock, cache } = setup({ ttlMs: 1000 })
    let version = 0
    const loader = async () => `v${++version}`
    await cache.load('a', loader)
    clock.advance(1000)
    expect((await cache.load('a', loader)).value).toBe('v2')
  })

  it('shares one loader call among concurrent misses for one name', async () => {
    const { cache } = setup()
    const pending = deferred<string>()
    let calls = 0
    const loader = () => {
      calls++
      return pending.promise
    }
    const results = Promise.all([
      cache.load('a', loader),
      cache.load('a', loader),
      cache.load('a', loader),
    ])
    const other = cache.load('b', async () => 'b-value')
    pending.resolve('a-value')
    expect((await results).map((result) => result.value)).toEqual(['a-value', 'a-value', 'a-value'])
    expect((await other).value).toBe('b-value')
    expect(calls).toBe(1)
    expect(cache.stats()).toMatchObject({ loads: 2, misses: 4 })
  })

  it('shares a failure too, and the next load tries again', async () => {
    const { cache } = setup()
    const pending = deferred<string>()
    let calls = 0
    const loader = () => {
      calls++
      return calls === 1 ? pending.promise : Promise.resolve('second')
    }
    const first = cache.load('a', loader)
    const second = cache.load('a', loader)
    pending.reject(new KeywardenError('SECRET_NOT_FOUND', 'secret not found'))
    await expect(first).rejects.toMatchObject({ code: 'SECRET_NOT_FOUND' })
    await expect(second).rejects.toMatchObject({ code: 'SECRET_NOT_FOUND' })
    expect((await cache.load('a', loader)).value).toBe('second')
    expect(calls).toBe(2)
  })

  it('turns a loader that throws synchronously into a rejection and recovers', async () => {
    const { cache } = setup()
    const broken = (): Promise<string> => {
      throw new Error('bug')
    }
    await expect(cache.load('a', broken)).rejects.toThrow('bug')
    expect((await cache.load('a', async () => 'ok')).value).toBe('ok')
  })

  it('serves an expired entry as stale when the vault is unavailable', async () => {
    const { clock, cache } = setup()
    cache.set('github_token', 'ghp_1')
    clock.advance(5 * MINUTE + 30 * MINUTE)
    const result = await cache.load('github_token', async () => {
      throw unavailable()
    })
    expect(result).toEqual({ value: 'ghp_1', source: 'stale', stale: true, ageMs: 35 * MINUTE })
    expect(cache.stats().staleServed).toBe(1)
  })

  it('stops serving stale once the window has passed', async () => {
    const { clock, cache } = setup({ ttlMs: 1000, staleIfErrorMs: 5000 })
    cache.set('a', 'old')
    clock.advance(1000 + 5000)
    await expect(
      cache.load('a', async () => {
        throw unavailable()
      }),
    ).rejects.toMatchObject({ code: 'VAULT_UNAVAILABLE' })
  })

  it('rethrows errors that are not unavailability, even with a stale entry', async () => {
    const { clock, cache } = setup()
    cache.set('a', 'old')
    clock.advance(6 * MINUTE)
    await expect(
      cache.load('a', async () => {
        throw new KeywardenError('ACCESS_DENIED', 'permission denied')
      }),
    ).rejects.toMatchObject({ code: 'ACCESS_DENIED' })
    // A raw driver error is not classified by the default predicate either.
    await expect(
      cache.load('a', async () => {
        throw Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' })
      }),
    ).rejects.toThrow('ECONNREFUSED')
    expect(cache.stats().staleServed).toBe(0)
  })

  it('rethrows unavailability when there is nothing to fall back to', async () => {
    const { cache } = setup()
    await expect(
      cache.load('a', async () => {
        throw unavailable()
      }),
    ).rejects.toMatchObject({ code: 'VAULT_UNAVAILABLE' })
  })

  it('uses a custom unavailability predicate', async () => {
    const { clock, cache } = setup({ isUnavailable: (error) => error === 'offline' })
    cache.set('a', 'old')
    clock.advance(6 * MINUTE)
    const result = await cache.load('a', () => Promise.reject('offline'))
    expect(result.stale).toBe(true)
    await expect(cache.load('a', () => Promise.reject(unavailable()))).rejects.toMatchObject({
      code: 'VAULT_UNAVAILABLE',
    })
  })
})

describe('SecretCache invalidation races', () => {
  it('does not let a load resurrect an entry deleted while it was in flight', async () => {
    const { cache } = setup()
    const pending = deferred<string>()
    const inFlight = cache.load('github_token', () => pending.promise)
    cache.delete('github_token') // NOTIFY: the secret was rotated
    pending.resolve('ghp_old')
    // The caller still gets the value it asked for...
    expect((await inFlight).value).toBe('ghp_old')
    // ...but the cache does not keep the possibly outdated value.
    expect(cache.get('github_token')).toBeUndefined()
  })

  it('starts a new load after a delete instead of joining the outdated one', async () => {
    const { cache } = setup()
    const old = deferred<string>()
    const before = cache.load('a', () => old.promise)
    cache.delete('a')
    const after = cache.load('a', async () => 'new')
    expect((await after).value).toBe('new')
    old.resolve('old')
    expect((await before).value).toBe('old')
    // The outdated load finished last but did not overwrite the new value.
    expect(cache.get('a')?.value).toBe('new')
  })

  it('does not let a load overwrite a value set while it was in flight', async () => {
    const { cache } = setup()
    const pending = deferred<string>()
    const inFlight = cache.load('a', () => pending.promise)
    cache.set('a', 'stored-by-caller')
    pending.resolve('loaded')
    await inFlight
    expect(cache.get('a')?.value).toBe('stored-by-caller')
  })

  it('does not resurrect after clear()', async () => {
    const { cache } = setup()
    const pending = deferred<string>()
    const inFlight = cache.load('a', () => pending.promise)
    cache.clear()
    pending.resolve('loaded')
    await inFlight
    expect(cache.get('a')).toBeUndefined()
  })

  it('does not serve a stale entry deleted while the failing load ran', async () => {
    const { clock, cache } = setup()
    cache.set('a', 'old')
    clock.advance(6 * MINUTE)
    const pending = deferred<string>()
    const inFlight = cache.load('a', () => pending.promise)
    cache.delete('a')
    pending.reject(unavailable())
    await expect(inFlight).rejects.toMatchObject({ code: 'VAULT_UNAVAILABLE' })
  })
})

describe('getFresh', () => {
  it('returns a fresh value and counts a hit, and counts nothing for a stale or missing one', () => {
    let now = 0
    const cache = new SecretCache<string>({ ttlMs: 1_000, now: () => now })
    expect(cache.getFresh('a')).toBeUndefined()
    cache.set('a', 'value-a')
    expect(cache.getFresh('a')).toBe('value-a')
    now = 1_000
    expect(cache.getFresh('a')).toBeUndefined()
    expect(cache.stats()).toMatchObject({ hits: 1, misses: 0 })
  })
})
