import { describe, expect, it } from 'vitest'
import { KeywardenError } from '../errors/index.ts'
import {
  AuditBuffer,
  type AuditBufferOptions,
  type AuditEvent,
  type AuditEventInput,
  type AuditTimers,
  MAX_EVENT_COUNT,
} from './index.ts'

// Runs every pending microtask (a whole chain of awaits) without letting any time pass.
const settle = () => new Promise<void>((resolve) => setImmediate(resolve))

// Hand-driven timers and clock: time moves only when a test says so.
function manualTime(start = Date.parse('2026-11-28T12:00:00.000Z')) {
  let now = start
  let nextId = 1
  const pending = new Map<number, { at: number; callback: () => void }>()
  const timers: AuditTimers = {
    setTimeout(callback, ms) {
      const id = nextId++
      pending.set(id, { at: now + ms, callback })
      return id
    },
    clearTimeout(handle) {
      pending.delete(handle as number)
    },
  }
  return {
    timers,
    now: () => now,
    /** Delays of the timers now pending, soonest first. */
    pendingDelays: () => [...pending.values()].map((timer) => timer.at - now).sort((a, b) => a - b),
    /** Moves time forward, firing due timers in order and letting each one's work finish. */
    async advance(ms: number) {
      await settle() // let work already started register its timers first
      const target = now + ms
      for (;;) {
        const due = [...pending.entries()]
          .filter(([, timer]) => timer.at <= target)
          .sort((a, b) => a[1].at - b[1].at)[0]
        if (!due) break
        pending.delete(due[0])
        now = due[1].at
        due[1].callback()
        await settle()
      }
      now = target
      await settle()
    },
  }
}

// A write function that records batches and can be told to fail.
function database() {
  const batches: AuditEvent[][] = []
  let failure: unknown
  let calls = 0
  const write = async (events: readonly AuditEvent[]) => {
    calls++
    if (failure !== undefined) throw failure
    batches.push(structuredClone([...events]))
    return events.length
  }
  return {
    write,
    batches,
    rows: () => batches.flat(),
    calls: () => calls,
    fail(error: unknown) {
      failure = error
    },
    recover() {
      failure = undefined
    },
  }
}

const down = () => new KeywardenError('VAULT_UNAVAILABLE', 'the vault is unavailable')

function setup(options: Partial<AuditBufferOptions> = {}) {
  const time = manualTime()
  const db = database()
  const buffer = new AuditBuffer({
    write: db.write,
    now: time.now,
    timers: time.timers,
    ...options,
  })
  return { time, db, buffer }
}

function hit(overrides: Partial<AuditEventInput> = {}): AuditEventInput {
  return {
    secret_name: 'github_token',
    accessed_by: 'mcp:claude',
    access_type: 'cache_hit',
    success: true,
    source: 'cache',
    ...overrides,
  }
}

function denied(name = 'github_token'): AuditEventInput {
  return {
    secret_name: name,
    accessed_by: 'mcp:claude',
    access_type: 'denied',
    success: false,
    error_message: 'reading values is disabled for this door',
  }
}

describe('AuditBuffer recording and flushing', () => {
  it('records synchronously and writes after the flush interval (default 1 s)', async () => {
    const { time, db, buffer } = setup()
    buffer.record(denied())
    await settle()
    expect(db.calls()).toBe(0)
    expect(buffer.stats().buffered).toBe(1)
    expect(time.pendingDelays()).toEqual([1000])
    await time.advance(999)
    expect(db.calls()).toBe(0)
    await time.advance(1)
    expect(db.rows()).toEqual([
      {
        secret_name: 'github_token',
        accessed_by: 'mcp:claude',
        access_type: 'denied',
        success: false,
        error_message: 'reading values is disabled for this door',
        created_at: '2026-11-28T12:00:00.000Z',
      },
    ])
    expect(buffer.stats()).toMatchObject({ buffered: 0, written: 1, dropped: 0 })
    expect(time.pendingDelays()).toEqual([])
  })

  it('keeps a given created_at', async () => {
    const { db, buffer } = setup()
    buffer.record({ ...denied(), created_at: '2026-01-02T03:04:05.000Z' })
    await buffer.flush()
    expect(db.rows()[0]?.created_at).toBe('2026-01-02T03:04:05.000Z')
  })

  it('flushes as soon as batchSize events are buffered, in batches of batchSize', async () => {
    const { db, buffer } = setup({ batchSize: 3 })
    for (const name of ['a', 'b', 'c', 'd', 'e', 'f', 'g']) buffer.record(denied(name))
    expect(db.calls()).toBe(0) // not inside record()
    await buffer.idle()
    expect(db.batches.map((batch) => batch.map((event) => event.secret_name))).toEqual([
      ['a', 'b', 'c'],
      ['d', 'e', 'f'],
      ['g'],
    ])
  })

  it('counts cache hits per secret, accessor and minute into one event', async () => {
    const { time, db, buffer } = setup()
    for (let i = 0; i < 5; i++) buffer.record(hit())
    buffer.record(hit({ accessed_by: 'cli:alice' }))
    buffer.record(hit({ secret_name: 'openai_api_key' }))
    buffer.record(hit({ event_count: 10 }))
    buffer.record(denied())
    buffer.record(denied())
    await time.advance(60_000) // the flush fires at 1 s, still in the same minute
    const rows = db
      .rows()
      .map((row) => [row.secret_name, row.accessed_by, row.access_type, row.event_count])
    expect(rows).toEqual([
      ['github_token', 'mcp:claude', 'cache_hit', 15],
      ['github_token', 'cli:alice', 'cache_hit', 1],
      ['openai_api_key', 'mcp:claude', 'cache_hit', 1],
      ['github_token', 'mcp:claude', 'denied', undefined],
      ['github_token', 'mcp:claude', 'denied', undefined],
    ])
  })

  it('starts another row once a count reaches what the SQL function takes', async () => {
    const { db, buffer } = setup()
    buffer.record(hit({ event_count: MAX_EVENT_COUNT - 1 }))
    buffer.record(hit())
    buffer.record(hit())
    buffer.record(hit({ event_count: 5 }))
    await buffer.flush()
    expect(db.rows().map((row) => row.event_count)).toEqual([MAX_EVENT_COUNT, 6])
  })

  it('starts a new cache-hit row in a new minute', async () => {
    const { db, buffer } = setup()
    buffer.record(hit({ created_at: '2026-11-28T12:00:59.999Z' }))
    buffer.record(hit({ created_at: '2026-11-28T12:01:00.000Z' }))
    buffer.record(hit({ created_at: '2026-11-28T12:01:30.000Z' }))
    await buffer.flush()
    expect(db.rows().map((row) => [row.created_at, row.event_count])).toEqual([
      ['2026-11-28T12:00:59.999Z', 1],
      ['2026-11-28T12:01:00.000Z', 2],
    ])
  })

  it('does not add hits to a row that is already being written', async () => {
    const time = manualTime()
    const written: AuditEvent[][] = []
    let release: () => void = () => {}
    const write = async (events: readonly AuditEvent[]) => {
      await new Promise<void>((resolve) => {
        release = resolve
      })
      written.push(structuredClone([...events]))
      return events.length
    }
    const buffer = new AuditBuffer({ write, now: time.now, timers: time.timers })
    buffer.record(hit())
    const flushing = buffer.flush()
    buffer.record(hit()) // arrives while the first row is in flight
    release()
    await flushing
    const second = buffer.flush()
    release()
    await second
    expect(written.map((batch) => batch.map((row) => row.event_count))).toEqual([[1], [1]])
  })

  it('never writes fields that are not part of the event, such as a value', async () => {
    const { db, buffer } = setup()
    const sneaky = { ...denied(), value: 'ghp_supersecret', decrypted_secret: 'ghp_x' }
    buffer.record(sneaky)
    await buffer.flush()
    expect(JSON.stringify(db.batches)).not.toContain('ghp_')
    expect(Object.keys(db.rows()[0] ?? {}).sort()).toEqual([
      'access_type',
      'accessed_by',
      'created_at',
      'error_message',
      'secret_name',
      'success',
    ])
  })

  it('drops malformed events at record time, alone, with the rules of the SQL function', async () => {
    const { db, buffer } = setup()
    const bad: AuditEventInput[] = [
      { ...denied(), secret_name: 'Not A Name' },
      { ...denied(), accessed_by: '' },
      { ...denied(), accessed_by: 'x'.repeat(201) },
      { ...denied(), access_type: 'Cache-Hit' },
      { ...denied(), success: 'yes' as unknown as boolean },
      { ...denied(), source: 'x'.repeat(33) },
      { ...denied(), event_count: 1.5 },
      { ...denied(), event_count: 0 },
      { ...denied(), event_count: MAX_EVENT_COUNT + 1 },
      { ...denied(), accessed_by: 'two words' },
      { ...denied(), accessed_by: '<script>' },
      { ...denied(), secret_version: -1 },
      { ...denied(), created_at: 'yesterday' },
    ]
    for (const event of bad) buffer.record(event)
    buffer.record({ ...denied('*'), secret_version: null })
    await buffer.flush()
    expect(db.rows()).toHaveLength(1)
    expect(db.rows()[0]?.secret_name).toBe('*')
    expect(buffer.stats()).toMatchObject({ dropped: bad.length, lastErrorCode: 'INVALID_ARGUMENT' })
  })

  it('cuts an error message to 1000 characters instead of dropping the event', async () => {
    const { db, buffer } = setup()
    buffer.record({ ...denied(), error_message: 'é'.repeat(1500) })
    await buffer.flush()
    expect(db.rows()[0]?.error_message).toBe('é'.repeat(1000))
  })

  it('unrefs its background timer so an idle process can exit', () => {
    const unrefed: number[] = []
    const timers: AuditTimers = {
      setTimeout: () => ({ unref: () => unrefed.push(1) }),
      clearTimeout: () => {},
    }
    const buffer = new AuditBuffer({ write: async () => 0, timers })
    buffer.record(denied())
    expect(unrefed).toEqual([1])
  })

  it('rejects options out of range', () => {
    expect(() => new AuditBuffer({ write: async () => 0, batchSize: 10_001 })).toThrow(RangeError)
    expect(() => new AuditBuffer({ write: async () => 0, maxBuffered: 0 })).toThrow(RangeError)
  })
})

describe('AuditBuffer when writes fail', () => {
  it('keeps events while the database is down and writes them when it is back', async () => {
    const { time, db, buffer } = setup()
    db.fail(down())
    buffer.record(denied('a'))
    buffer.record(denied('b'))
    await time.advance(1000)
    expect(db.calls()).toBe(1)
    expect(buffer.stats()).toMatchObject({
      buffered: 2,
      written: 0,
      failedWrites: 1,
      lastErrorCode: 'VAULT_UNAVAILABLE',
    })
    db.recover()
    await time.advance(2000) // first retry: interval × 2
    expect(db.rows().map((row) => row.secret_name)).toEqual(['a', 'b'])
    expect(buffer.stats()).toMatchObject({ buffered: 0, written: 2, dropped: 0 })
  })

  it('backs off exponentially up to maxRetryDelayMs', async () => {
    const { time, db, buffer } = setup({ maxRetryDelayMs: 5000 })
    db.fail(down())
    buffer.record(denied())
    const delays: number[] = []
    for (let i = 0; i < 5; i++) {
      const [delay] = time.pendingDelays()
      delays.push(delay ?? -1)
      await time.advance(delay ?? 0)
    }
    expect(delays).toEqual([1000, 2000, 4000, 5000, 5000])
    expect(buffer.stats().failedWrites).toBe(5)
  })

  it('classifies raw driver errors too', async () => {
    const { db, buffer } = setup()
    db.fail(
      Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' }),
    )
    buffer.record(denied())
    expect(await buffer.flush()).toBe(false)
    expect(buffer.stats().lastErrorCode).toBe('VAULT_UNAVAILABLE')
  })

  it('does not hammer a down database when a batch fills up during backoff', async () => {
    const { db, buffer } = setup({ batchSize: 2 })
    db.fail(down())
    buffer.record(denied('a'))
    await buffer.flush()
    expect(db.calls()).toBe(1)
    buffer.record(denied('b'))
    buffer.record(denied('c'))
    await buffer.idle()
    expect(db.calls()).toBe(1)
  })

  it('drops the oldest events beyond maxBuffered and counts them', async () => {
    const { time, db, buffer } = setup({ maxBuffered: 3 })
    db.fail(down())
    for (const name of ['a', 'b', 'c', 'd', 'e']) buffer.record(denied(name))
    expect(buffer.stats()).toMatchObject({ buffered: 3, dropped: 2 })
    await time.advance(1000)
    buffer.record(denied('f')) // the failed batch is back in front, so "c" goes
    expect(buffer.stats()).toMatchObject({ buffered: 3, dropped: 3 })
    db.recover()
    await buffer.flush()
    expect(db.rows().map((row) => row.secret_name)).toEqual(['d', 'e', 'f'])
  })

  it('drops a batch the database rejects as malformed instead of retrying it forever', async () => {
    const { db, buffer } = setup()
    db.fail(Object.assign(new Error('event 0 is malformed'), { code: 'KW012' }))
    buffer.record(denied('a'))
    buffer.record(denied('b'))
    expect(await buffer.flush()).toBe(true)
    expect(buffer.stats()).toMatchObject({
      buffered: 0,
      dropped: 2,
      failedWrites: 0,
      lastErrorCode: 'INVALID_ARGUMENT',
    })
    db.recover()
    buffer.record(denied('c'))
    await buffer.flush()
    expect(db.rows().map((row) => row.secret_name)).toEqual(['c'])
  })
})

describe('AuditBuffer.close', () => {
  it('writes what is buffered and refuses later events', async () => {
    const { db, buffer } = setup()
    buffer.record(denied('a'))
    buffer.record(hit())
    expect(await buffer.close()).toEqual({ written: 2, dropped: 0 })
    expect(db.rows()).toHaveLength(2)
    buffer.record(denied('late'))
    expect(buffer.stats()).toMatchObject({ buffered: 0, dropped: 1 })
    expect(await buffer.close()).toEqual({ written: 2, dropped: 0 }) // same promise
  })

  it('retries with backoff while closing, and succeeds if the database comes back', async () => {
    const { time, db, buffer } = setup()
    db.fail(down())
    buffer.record(denied('a'))
    const closing = buffer.close({ timeoutMs: 10_000 })
    await settle()
    expect(db.calls()).toBe(1)
    db.recover()
    await time.advance(2000)
    expect(await closing).toEqual({ written: 1, dropped: 0 })
  })

  it('gives up at the timeout and counts what it could not write', async () => {
    const { time, db, buffer } = setup()
    db.fail(down())
    buffer.record(denied('a'))
    buffer.record(denied('b'))
    const closing = buffer.close({ timeoutMs: 5000 })
    let result: unknown
    void closing.then((value) => {
      result = value
    })
    await time.advance(4999)
    expect(result).toBeUndefined()
    await time.advance(1)
    expect(result).toEqual({ written: 0, dropped: 2 })
    expect(buffer.stats()).toMatchObject({ buffered: 0, dropped: 2 })
    expect(db.calls()).toBe(2) // at 0 s and after a 2 s backoff; the next would be at 6 s
    expect(time.pendingDelays()).toEqual([])
  })

  it('counts a batch whose write was still running at the timeout once it fails', async () => {
    const time = manualTime()
    let fail: (error: unknown) => void = () => {}
    const write = () =>
      new Promise<number>((_, reject) => {
        fail = reject
      })
    const buffer = new AuditBuffer({ write, now: time.now, timers: time.timers })
    buffer.record(denied('a'))
    const closing = buffer.close({ timeoutMs: 100 })
    await time.advance(100)
    expect(await closing).toEqual({ written: 0, dropped: 0 })
    expect(buffer.stats().buffered).toBe(1) // still in flight
    fail(down())
    await settle()
    expect(buffer.stats()).toMatchObject({ buffered: 0, dropped: 1 })
  })
})

describe('AuditBuffer.commit (audit first)', () => {
  it('writes at once, beside the buffer, and resolves only after the write', async () => {
    const { db, buffer } = setup()
    buffer.record(hit())
    const use = { ...denied(), access_type: 'use', success: true, error_message: undefined }
    await buffer.commit(use)
    // Written alone, without waiting for the timer or taking the buffered hit with it.
    expect(db.batches).toEqual([[expect.objectContaining({ access_type: 'use', success: true })]])
    expect(buffer.stats()).toMatchObject({ buffered: 1, written: 1 })
  })

  it('fails closed: a failed write rejects, and nothing is buffered for later', async () => {
    const { db, buffer } = setup()
    db.fail(down())
    const error = await buffer.commit(denied()).catch((caught: unknown) => caught)
    expect(error).toBeInstanceOf(KeywardenError)
    expect(error).toMatchObject({ code: 'VAULT_UNAVAILABLE' })
    expect((error as Error).message).toMatch(/not carried out/)
    expect(buffer.stats()).toMatchObject({ buffered: 0, written: 0, failedWrites: 1 })
  })

  it('refuses malformed events and commits after close', async () => {
    const { db, buffer } = setup()
    await expect(buffer.commit(hit({ secret_name: 'Not A Name' }))).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
    })
    await buffer.close()
    await expect(buffer.commit(denied())).rejects.toMatchObject({ code: 'INTERNAL' })
    expect(db.calls()).toBe(0)
  })

  it('writes several events in one call', async () => {
    const { db, buffer } = setup()
    await buffer.commit([denied('a_secret'), denied('b_secret')])
    expect(db.batches.map((batch) => batch.map((event) => event.secret_name))).toEqual([
      ['a_secret', 'b_secret'],
    ])
  })
})
