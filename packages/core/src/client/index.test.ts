/**
 * The vault client over real stores: a fresh PostgreSQL database (and, once, the embedded
 * PGlite). Time that matters to the cache is an injected clock the tests move by hand; waits
 * for things that happen on their own (NOTIFY, audit retries) poll a condition under a
 * deadline. Round trips are counted by wrapping the real store, never by faking it.
 */
import { randomBytes } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import fc from 'fast-check'
import type pg from 'pg'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { isKeywardenError, type KeywardenError } from '../errors/index.ts'
import { LATEST_SCHEMA_VERSION } from '../migrate/index.ts'
import { createEmbeddedStore } from '../node/embedded.ts'
import { loadMigrations } from '../node/migrations.ts'
import { DEFAULT_MIN_REDACT_LENGTH, redact } from '../redact/index.ts'
import type { SecretStore } from '../store/index.ts'
import { createPostgresStore, type PostgresStoreOptions } from '../store/postgres.ts'
import {
  createPostgresTestDatabase,
  type PostgresTestDatabase,
  randomRootKey,
} from '../testing/databases.ts'
import { until } from '../testing/expect.ts'
import { startTcpProxy, type TcpProxy } from '../testing/tcp-proxy.ts'
import {
  createVaultClient,
  environmentVariableFor,
  type VaultClient,
  type VaultClientOptions,
} from './index.ts'

// --- helpers --------------------------------------------------------------------------------

/** A clock the test moves by hand. Starts at the real time so audit timestamps look normal. */
function manualClock(start = Date.now()) {
  let now = start
  return {
    start,
    now: () => now,
    advance(ms: number) {
      now += ms
    },
  }
}

/** The KeywardenError a promise rejects with (anything else fails the test). */
async function rejection(promise: Promise<unknown>): Promise<KeywardenError> {
  try {
    await promise
  } catch (error) {
    if (isKeywardenError(error)) return error
    throw error
  }
  throw new Error('expected a rejection')
}

/** A fresh name per call so tests sharing a database never share a secret. */
let sequence = 0
function fresh(base: string): string {
  sequence += 1
  return `${base}_${sequence}`
}

interface Instrumented {
  store: SecretStore
  /** Calls per store method: each one is one SQL round trip. */
  calls: Record<string, number>
  /** The name lists `getSecrets` was called with. */
  batches: string[][]
  /** Names the store's change listener delivered (NOTIFY), in order. */
  notified: string[]
  /** Vault reads: getSecret + getSecrets calls. */
  reads(): number
}

/**
 * Wraps a real store to count its round trips. `hold(method)` may return a promise the
 * method's result waits for after the database answered (to keep a read "in flight").
 * `keepOpen` makes `close` a no-op, for a store shared by two clients.
 */
function instrument(
  real: SecretStore,
  options: { hold?: (method: string) => Promise<void> | undefined; keepOpen?: boolean } = {},
): Instrumented {
  const calls: Record<string, number> = {}
  const batches: string[][] = []
  const notified: string[] = []
  const store = new Proxy(real, {
    get(target, property, receiver) {
      const member: unknown = Reflect.get(target, property, receiver)
      if (typeof member !== 'function' || typeof property !== 'string') return member
      const method = member as (...args: unknown[]) => unknown
      return (...args: unknown[]) => {
        calls[property] = (calls[property] ?? 0) + 1
        if (property === 'close' && options.keepOpen) return Promise.resolve()
        if (property === 'getSecrets') batches.push([...(args[0] as readonly string[])])
        if (property === 'subscribe') {
          const listener = args[0] as (name: string) => void
          return method.call(target, (name: string) => {
            notified.push(name)
            listener(name)
          })
        }
        const result = method.apply(target, args)
        if (!options.hold) return result
        const hold = options.hold
        // Asked once the database has answered, so a held read has really been read.
        return Promise.resolve(result).then(async (value) => {
          await hold(property)
          return value
        })
      }
    },
  })
  return {
    store,
    calls,
    batches,
    notified,
    reads: () => (calls.getSecret ?? 0) + (calls.getSecrets ?? 0),
  }
}

interface AuditRow {
  secret_name: string
  access_type: string
  success: boolean
  error_message: string | null
  event_count: number
  secret_version: number | null
  source: string | null
}

async function auditRows(admin: pg.Client, accessedBy: string): Promise<AuditRow[]> {
  const result = await admin.query<AuditRow>(
    `SELECT secret_name, access_type, success, error_message, event_count, secret_version, source
       FROM public.secret_access_log WHERE accessed_by = $1 ORDER BY id`,
    [accessedBy],
  )
  return result.rows
}

/** Sum of event_count over the rows that match. */
function countOf(rows: readonly AuditRow[], match: (row: AuditRow) => boolean): number {
  return rows.filter(match).reduce((sum, row) => sum + row.event_count, 0)
}

/** A URL with `application_name`, so a test can find its own sessions in pg_stat_activity. */
function withApplicationName(url: string, applicationName: string): string {
  const parsed = new URL(url)
  parsed.searchParams.set('application_name', applicationName)
  return parsed.toString()
}

/**
 * Waits until a session of `applicationName` is LISTENing, checked on the server. The store's
 * subscribe() now waits for its LISTEN too; this keeps the tests' precondition explicit.
 */
async function untilListening(admin: pg.Client, applicationName: string): Promise<void> {
  await until(
    `${applicationName} to LISTEN`,
    async () =>
      (
        await admin.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM pg_stat_activity
            WHERE application_name = $1 AND query = 'LISTEN keywarden_secrets' AND state = 'idle'`,
          [applicationName],
        )
      ).rows[0]?.n ?? 0,
    (n) => n > 0,
  )
}

// --- the suite ------------------------------------------------------------------------------

let db: PostgresTestDatabase
let admin: pg.Client
/** Writes test data without listening, so it never touches a client under test. */
let seeder: VaultClient
const clients: VaultClient[] = []

beforeAll(async () => {
  db = await createPostgresTestDatabase()
  admin = await db.connect()
  seeder = createVaultClient({
    store: createPostgresStore({ connectionString: db.url, rootKey: db.rootKey, listen: false }),
    env: {},
    accessedBy: 'seeder',
  })
})

afterEach(async () => {
  await Promise.all(clients.splice(0).map((client) => client.close()))
})

afterAll(async () => {
  await seeder?.close()
  await admin?.end()
  await db?.drop()
})

function postgresStore(options: Partial<PostgresStoreOptions> = {}): SecretStore {
  return createPostgresStore({ connectionString: db.url, rootKey: db.rootKey, ...options })
}

/** A client on the shared database, closed after the test. Default: env {}, no NOTIFY. */
function makeClient(options: VaultClientOptions = {}): VaultClient {
  const client = createVaultClient({
    env: {},
    store: postgresStore({ listen: false }),
    ...options,
  })
  clients.push(client)
  return client
}

describe('tiers: cache → vault → environment', () => {
  it('serves a vault value from the vault, then from the cache, with the same version', async () => {
    const name = fresh('tier_vault')
    await seeder.storeSecret(name, 'v1-value')
    await seeder.storeSecret(name, 'v2-value')
    const client = makeClient({ env: { [environmentVariableFor(name)]: 'env-loses' } })

    const first = await client.getSecret(name)
    expect(first).toEqual({ name, value: 'v2-value', source: 'vault', stale: false, version: 2 })
    const second = await client.getSecret(name)
    expect(second).toEqual({ name, value: 'v2-value', source: 'cache', stale: false, version: 2 })
  })

  it('maps a name to its environment variable: github_token ↔ GITHUB_TOKEN, . and - to _', () => {
    expect(environmentVariableFor('github_token')).toBe('GITHUB_TOKEN')
    expect(environmentVariableFor('openai.api-key')).toBe('OPENAI_API_KEY')
    expect(environmentVariableFor('do2.token')).toBe('DO2_TOKEN')
  })

  it('serves a name missing from the vault from the environment, version null', async () => {
    const client = makeClient({
      env: { GITHUB_TOKEN: 'ghp_from_env', OPENAI_API_KEY: 'sk-from-env', EMPTY_ONE: '' },
    })
    expect(await client.getSecret('github_token')).toEqual({
      name: 'github_token',
      value: 'ghp_from_env',
      source: 'env',
      stale: false,
      version: null,
    })
    expect(await client.getSecret('openai.api-key')).toMatchObject({
      value: 'sk-from-env',
      source: 'env',
      version: null,
    })
    // An empty variable is no value.
    expect((await rejection(client.getSecret('empty_one'))).code).toBe('SECRET_NOT_FOUND')
  })

  it('lets an explicit envNames mapping win over NAME', async () => {
    const client = makeClient({
      env: { GITHUB_TOKEN: 'ghp_default_var', GH_PAT: 'ghp_mapped_var' },
      envNames: { github_token: 'GH_PAT' },
    })
    expect(await client.getSecret('github_token')).toMatchObject({
      value: 'ghp_mapped_var',
      source: 'env',
    })
  })

  it('with envFallback: false, answers SECRET_NOT_FOUND even when the variable is set', async () => {
    const client = makeClient({ env: { GITHUB_TOKEN: 'ghp_must_not_leak' }, envFallback: false })
    const error = await rejection(client.getSecret('github_token'))
    expect(error.code).toBe('SECRET_NOT_FOUND')
    expect(JSON.stringify(error) + error.message + String(error.stack)).not.toContain(
      'ghp_must_not_leak',
    )
  })

  it('answers SECRET_NOT_FOUND naming the variable, never a value, for a name found nowhere', async () => {
    const name = fresh('nowhere.to-be')
    const client = makeClient({ env: { OTHER_SECRET: 'canary-env-value-1234' } })
    const error = await rejection(client.getSecret(name))
    expect(error.code).toBe('SECRET_NOT_FOUND')
    expect(error.secretName).toBe(name)
    expect(error.message).toContain(environmentVariableFor(name))
    expect(JSON.stringify(error) + error.message).not.toContain('canary-env-value-1234')
  })
})

describe('cache (injected clock)', () => {
  it('makes no round trip within the TTL, and one after it', async () => {
    const name = fresh('ttl')
    await seeder.storeSecret(name, 'ttl-value')
    const clock = manualClock()
    const counted = instrument(postgresStore({ listen: false }))
    const client = makeClient({ store: counted.store, now: clock.now, cache: { ttlMs: 1_000 } })

    expect((await client.getSecret(name)).source).toBe('vault')
    expect(counted.reads()).toBe(1)
    for (let i = 0; i < 3; i++) expect((await client.getSecret(name)).source).toBe('cache')
    clock.advance(999)
    expect((await client.getSecret(name)).source).toBe('cache')
    expect(counted.reads()).toBe(1)

    clock.advance(1)
    expect(await client.getSecret(name)).toMatchObject({ source: 'vault', stale: false })
    expect(counted.reads()).toBe(2)
    expect((await client.getSecret(name)).source).toBe('cache')
    expect(counted.reads()).toBe(2)
  })

  it('shares one round trip among concurrent reads of an uncached name', async () => {
    const name = fresh('single_flight')
    await seeder.storeSecret(name, 'shared-value')
    const counted = instrument(postgresStore({ listen: false }))
    const client = makeClient({ store: counted.store })

    const results = await Promise.all(Array.from({ length: 10 }, () => client.getSecret(name)))
    expect(counted.reads()).toBe(1)
    expect(new Set(results.map((result) => result.value))).toEqual(new Set(['shared-value']))
    expect((await client.health()).cache.loads).toBe(1)
  })

  it('reloads after clearSecretCache(name) and clearSecretCache()', async () => {
    const one = fresh('clear_one')
    const two = fresh('clear_two')
    await seeder.storeSecret(one, 'one-value')
    await seeder.storeSecret(two, 'two-value')
    const counted = instrument(postgresStore({ listen: false }))
    const client = makeClient({ store: counted.store })
    await client.getSecret(one)
    await client.getSecret(two)
    expect(counted.reads()).toBe(2)

    client.clearSecretCache(one)
    expect((await client.getSecret(one)).source).toBe('vault')
    expect((await client.getSecret(two)).source).toBe('cache')
    expect(counted.reads()).toBe(3)

    client.clearSecretCache()
    expect((await client.getSecret(one)).source).toBe('vault')
    expect((await client.getSecret(two)).source).toBe('vault')
    expect(counted.reads()).toBe(5)
  })

  it('evicts at once on its own storeSecret, rotateSecret and deleteSecret (no NOTIFY)', async () => {
    const name = fresh('own_writes')
    const client = makeClient({ cache: { ttlMs: 60 * 60_000 } })
    await client.storeSecret(name, 'first')
    expect(await client.getSecret(name)).toMatchObject({ value: 'first', source: 'vault' })
    expect((await client.getSecret(name)).source).toBe('cache')

    await client.storeSecret(name, 'second')
    expect(await client.getSecret(name)).toMatchObject({
      value: 'second',
      source: 'vault',
      version: 2,
    })

    await client.rotateSecret(name, 'third')
    expect(await client.getSecret(name)).toMatchObject({
      value: 'third',
      source: 'vault',
      version: 3,
    })

    expect(await client.deleteSecret(name)).toBe(true)
    expect((await rejection(client.getSecret(name))).code).toBe('SECRET_NOT_FOUND')
    expect(await client.deleteSecret(name)).toBe(false)
  })
})

describe('changes made by another client (NOTIFY)', () => {
  it('shows client A’s rotation in client B at once, without waiting for B’s TTL', async () => {
    const name = fresh('notify_rotate')
    const a = makeClient({ store: postgresStore(), accessedBy: 'client-a' })
    await a.storeSecret(name, 'before-rotation')

    const clock = manualClock()
    const applicationName = fresh('kw_client_b')
    const counted = instrument(
      createPostgresStore({
        connectionString: withApplicationName(db.url, applicationName),
        rootKey: db.rootKey,
      }),
    )
    const b = makeClient({
      store: counted.store,
      accessedBy: 'client-b',
      now: clock.now,
      cache: { ttlMs: 60 * 60_000 },
    })
    expect(await b.getSecret(name)).toMatchObject({ value: 'before-rotation', source: 'vault' })
    expect(await b.getSecret(name)).toMatchObject({ value: 'before-rotation', source: 'cache' })
    await untilListening(admin, applicationName)

    await a.rotateSecret(name, 'after-rotation')
    const seen = await until(
      'client B to see the rotation',
      () => b.getSecret(name),
      (result) => result.value === 'after-rotation',
    )
    expect(seen).toMatchObject({ source: 'vault', version: 2, stale: false })
    // B's clock never moved: the TTL (an hour) played no part.
    expect(clock.now()).toBe(clock.start)
    expect(counted.notified).toContain(name)
    expect((await b.health()).cache.invalidations).toBeGreaterThanOrEqual(1)
  })

  it('shows client A’s delete in client B at once', async () => {
    const name = fresh('notify_delete')
    const a = makeClient({ store: postgresStore() })
    await a.storeSecret(name, 'soon-gone')
    const applicationName = fresh('kw_client_b')
    const b = makeClient({
      store: createPostgresStore({
        connectionString: withApplicationName(db.url, applicationName),
        rootKey: db.rootKey,
      }),
      cache: { ttlMs: 60 * 60_000 },
    })
    expect((await b.getSecret(name)).source).toBe('vault')
    await untilListening(admin, applicationName)

    await a.deleteSecret(name)
    const error = await until(
      'client B to see the delete',
      () => rejection(b.getSecret(name)).catch(() => undefined),
      (result) => result !== undefined,
    )
    expect(error?.code).toBe('SECRET_NOT_FOUND')
  })

  // A read that left the database before the rotation committed, but answers after its NOTIFY
  // was heard, holds the old value: it must not go into the cache for a whole TTL.
  it.each([
    ['getSecret', (client: VaultClient, name: string) => client.getSecret(name)],
    [
      'getSecrets',
      async (client: VaultClient, name: string) => {
        const result = (await client.getSecrets([name])).get(name)
        if (!result) throw new Error('missing from getSecrets')
        return result
      },
    ],
  ] as const)('keeps a %s read that raced a rotation out of the cache', async (method, read) => {
    const name = fresh(`race_${method.toLowerCase()}`)
    await seeder.storeSecret(name, 'old-value')
    let release: () => void = () => {}
    const gate = new Promise<void>((resolve) => {
      release = resolve
    })
    let answered = false
    const applicationName = fresh('kw_race')
    const counted = instrument(
      createPostgresStore({
        connectionString: withApplicationName(db.url, applicationName),
        rootKey: db.rootKey,
      }),
      {
        hold: (called) => {
          if (called !== method || answered) return undefined
          answered = true
          return gate
        },
      },
    )
    const client = makeClient({ store: counted.store, cache: { ttlMs: 60 * 60_000 } })
    await client.health() // opens the store and subscribes
    await untilListening(admin, applicationName)

    const inFlight = read(client, name)
    await until('the read to reach the database', () => answered, Boolean)
    await seeder.rotateSecret(name, 'new-value')
    await until('the NOTIFY', () => counted.notified.includes(name), Boolean)
    release()

    // The racing read may answer with what it read; the next read must not be served from it.
    expect((await inFlight).value).toBe('old-value')
    expect(await client.getSecret(name)).toMatchObject({ value: 'new-value', source: 'vault' })
  })
})

describe('previous version (rotation grace period)', () => {
  it('serves the value before the last rotation during its grace period, then no more', async () => {
    const name = fresh('previous')
    const client = makeClient()
    await client.storeSecret(name, 'old-token')
    expect((await rejection(client.getSecret(name, { version: 'previous' }))).code).toBe(
      'SECRET_NOT_FOUND',
    )

    const rotation = await client.rotateSecret(name, 'new-token')
    expect(rotation.version).toBe(2)
    expect(rotation.previousValidUntil?.getTime()).toBeGreaterThan(Date.now() + 23 * 3_600_000)
    expect(await client.getSecret(name, { version: 'previous' })).toEqual({
      name,
      value: 'old-token',
      source: 'vault',
      stale: false,
      version: 1,
    })
    expect(await client.getSecret(name)).toMatchObject({ value: 'new-token', version: 2 })

    // A rotation with no grace period drops the old value at once.
    const immediate = await client.rotateSecret(name, 'newest-token', { gracePeriodSeconds: 0 })
    expect(immediate.previousValidUntil).toBeNull()
    const error = await rejection(client.getSecret(name, { version: 'previous' }))
    expect(error.code).toBe('SECRET_NOT_FOUND')
    expect(error.message).not.toContain('token')
    expect((await client.getSecret(name)).value).toBe('newest-token')
  })

  it('stops serving the previous value once its grace period has passed', async () => {
    const name = fresh('previous_expiry')
    const client = makeClient()
    await client.storeSecret(name, 'old-token')
    const rotation = await client.rotateSecret(name, 'new-token', { gracePeriodSeconds: 1 })
    const validUntil = rotation.previousValidUntil?.getTime() ?? 0
    expect(await client.getSecret(name, { version: 'previous' })).toMatchObject({
      value: 'old-token',
      version: 1,
    })
    // The database's clock decides; wait for it, bounded, instead of sleeping a fixed time.
    const error = await until(
      'the grace period to end',
      () => rejection(client.getSecret(name, { version: 'previous' })).catch(() => undefined),
      (result) => result !== undefined,
    )
    expect(error?.code).toBe('SECRET_NOT_FOUND')
    expect(Date.now()).toBeGreaterThanOrEqual(validUntil - 50)
    expect((await client.getSecret(name)).value).toBe('new-token')
  })
})

describe('getSecrets', () => {
  it('fetches the uncached names in one round trip, falls back to env, omits the rest', async () => {
    const cached = fresh('many_cached')
    const inVault = fresh('many_vault')
    const envOnly = fresh('many_env')
    const nowhere = fresh('many_nowhere')
    await seeder.storeSecret(cached, 'cached-value')
    await seeder.storeSecret(inVault, 'vault-value')
    const counted = instrument(postgresStore({ listen: false }))
    const client = makeClient({
      store: counted.store,
      env: { [environmentVariableFor(envOnly)]: 'env-value' },
    })
    await client.getSecret(cached)
    expect(counted.reads()).toBe(1)

    const results = await client.getSecrets([cached, inVault, envOnly, nowhere, inVault])
    expect(counted.calls.getSecrets).toBe(1)
    expect(counted.calls.getSecret).toBe(1)
    expect(counted.batches).toEqual([[inVault, envOnly, nowhere]])
    expect([...results.keys()].sort()).toEqual([cached, envOnly, inVault].sort())
    expect(results.get(cached)).toMatchObject({ value: 'cached-value', source: 'cache' })
    expect(results.get(inVault)).toMatchObject({
      value: 'vault-value',
      source: 'vault',
      version: 1,
    })
    expect(results.get(envOnly)).toEqual({
      name: envOnly,
      value: 'env-value',
      source: 'env',
      stale: false,
      version: null,
    })
    expect(results.has(nowhere)).toBe(false)

    // What the batch loaded is cached now: no round trip.
    const again = await client.getSecrets([cached, inVault])
    expect(counted.reads()).toBe(2)
    expect(again.get(inVault)?.source).toBe('cache')
  })

  it('makes no round trip when every name is cached, or for an empty list', async () => {
    const name = fresh('many_all_cached')
    await seeder.storeSecret(name, 'value-x')
    const counted = instrument(postgresStore({ listen: false }))
    const client = makeClient({ store: counted.store })
    await client.getSecret(name)
    expect((await client.getSecrets([name, name])).get(name)?.source).toBe('cache')
    expect((await client.getSecrets([])).size).toBe(0)
    expect(counted.reads()).toBe(1)
  })
})

describe('audit trail in public.secret_access_log', () => {
  it('writes cache hits as one aggregated cache_hit row, on close()', async () => {
    const name = fresh('audit_hits')
    await seeder.storeSecret(name, 'hit-value')
    const accessedBy = fresh('audit-hits')
    const client = makeClient({ accessedBy, audit: { flushIntervalMs: 60 * 60_000 } })
    await client.getSecret(name)
    for (let i = 0; i < 5; i++) await client.getSecret(name)
    await client.getSecrets([name, name])

    // Buffered, not yet written: one aggregated event.
    expect((await client.health()).audit.buffered).toBe(1)
    expect(await auditRows(admin, accessedBy)).toEqual([
      expect.objectContaining({ secret_name: name, access_type: 'read', success: true }),
    ])

    await client.close()
    const rows = await auditRows(admin, accessedBy)
    const hits = rows.filter((row) => row.access_type === 'cache_hit')
    expect(hits).toEqual([
      {
        secret_name: name,
        access_type: 'cache_hit',
        success: true,
        error_message: null,
        event_count: 6,
        secret_version: null,
        source: 'cache',
      },
    ])
    // The one vault read was audited by SQL, in its own transaction.
    expect(countOf(rows, (row) => row.access_type === 'read')).toBe(1)
  })

  it("records a front door's own access events under its accessor", async () => {
    const accessedBy = fresh('audit-door')
    const name = fresh('audit_door')
    const client = makeClient({ accessedBy })
    client.recordAccess({
      secretName: name,
      accessType: 'denied',
      success: false,
      errorMessage: 'not agent-visible',
    })
    expect(() =>
      client.recordAccess({ secretName: 'Not A Name', accessType: 'denied', success: false }),
    ).toThrow(/invalid secret name/)
    await client.close()
    expect(await auditRows(admin, accessedBy)).toEqual([
      expect.objectContaining({
        secret_name: name,
        access_type: 'denied',
        success: false,
        error_message: 'not agent-visible',
      }),
    ])
  })

  it('commits a door access before resolving, and fails closed when it cannot', async () => {
    const accessedBy = fresh('audit-commit')
    const name = fresh('audit_commit')
    const client = makeClient({ accessedBy })
    await client.commitAccess({ secretName: name, accessType: 'reveal', success: true })
    // On record before close() and before any timer: a kill now would not lose it.
    expect(await auditRows(admin, accessedBy)).toEqual([
      expect.objectContaining({ secret_name: name, access_type: 'reveal', success: true }),
    ])
    await expect(
      client.commitAccess({ secretName: 'Not A Name', accessType: 'use', success: true }),
    ).rejects.toThrow(/invalid secret name/)
    await client.close()

    const unreachable = makeClient({
      accessedBy,
      store: createPostgresStore({
        connectionString: 'postgres://postgres@127.0.0.1:1/nowhere',
        rootKey: db.rootKey,
        listen: false,
        connectTimeoutMs: 500,
      }),
    })
    await expect(
      unreachable.commitAccess({ secretName: name, accessType: 'use', success: true }),
    ).rejects.toMatchObject({ code: 'VAULT_UNAVAILABLE' })
    await unreachable.close({ timeoutMs: 10 })
  })

  it('asks an accessor function at each access, for a door that learns its name later', async () => {
    const before = fresh('audit-before')
    const after = fresh('audit-after')
    const name = fresh('audit_late')
    let current = before
    const client = makeClient({ accessedBy: () => current })
    await client.storeSecret(name, 'late-value')
    current = after
    expect(client.accessedBy).toBe(after)
    await client.getSecret(name)
    client.recordAccess({ secretName: name, accessType: 'use', success: true })
    await client.close()
    expect((await auditRows(admin, before)).map((row) => row.access_type)).toEqual(['store'])
    expect((await auditRows(admin, after)).map((row) => row.access_type)).toEqual(['read', 'use'])
  })

  it('writes each environment fallback as an env_fallback row', async () => {
    const accessedBy = fresh('audit-env')
    const name = fresh('audit_env')
    const client = makeClient({
      accessedBy,
      env: { [environmentVariableFor(name)]: 'env-canary-value-42' },
    })
    await client.getSecret(name)
    await client.getSecret(name)
    await client.getSecrets([name])
    await client.close()

    const rows = await auditRows(admin, accessedBy)
    expect(rows.filter((row) => row.access_type === 'env_fallback')).toEqual(
      Array.from({ length: 3 }, () => ({
        secret_name: name,
        access_type: 'env_fallback',
        success: true,
        error_message: null,
        event_count: 1,
        secret_version: null,
        source: 'env',
      })),
    )
    // Each fallback followed a vault miss, which SQL recorded as a failed read.
    expect(
      countOf(rows, (row) => row.access_type === 'read' && !row.success && row.source === null),
    ).toBe(3)
  })

  it('never writes a value anywhere in the log (canary)', async () => {
    const canary = `canary-${randomBytes(12).toString('hex')}`
    const envCanary = `envcanary-${randomBytes(12).toString('hex')}`
    const name = fresh('audit_canary')
    const accessedBy = fresh('audit-canary')
    const client = makeClient({
      accessedBy,
      env: { ENV_CANARY: envCanary },
      audit: { flushIntervalMs: 5 },
    })
    await client.storeSecret(name, canary)
    await client.getSecret(name)
    await client.getSecret(name)
    await client.rotateSecret(name, `${canary}-2`)
    await client.getSecret(name, { version: 'previous' })
    await client.getSecrets([name, 'env_canary'])
    await client.getSecret('env_canary')
    await rejection(client.rotateSecret(fresh('audit_canary_missing'), canary))
    await rejection(client.storeSecret('Bad Name', canary))
    await client.close()

    const rows = await admin.query<{ row: string }>(
      'SELECT t::text AS row FROM public.secret_access_log t WHERE accessed_by = $1',
      [accessedBy],
    )
    expect(rows.rows.length).toBeGreaterThanOrEqual(8)
    const everything = rows.rows.map((row) => row.row).join('\n')
    expect(everything).not.toContain(canary)
    expect(everything).not.toContain(envCanary)
    expect(everything).not.toContain(Buffer.from(canary).toString('base64').slice(0, 20))
  })
})

describe('validation', () => {
  it('refuses bad names with INVALID_NAME before any round trip, without echoing them', async () => {
    const counted = instrument(postgresStore({ listen: false }))
    const client = makeClient({ store: counted.store })
    const bad = ['GITHUB_TOKEN', '', '_x', 'a b', '../etc', 'x'.repeat(129), 'ghp_Secret/Value+1']
    for (const name of bad) {
      for (const attempt of [
        () => client.getSecret(name),
        () => client.getSecret(name, { version: 'previous' }),
        () => client.getSecrets(['fine_name', name]),
        () => client.storeSecret(name, 'value'),
        () => client.rotateSecret(name, 'value'),
        () => client.deleteSecret(name),
      ]) {
        const error = await rejection(attempt())
        expect(error.code).toBe('INVALID_NAME')
        if (name.length > 3) expect(error.message).not.toContain(name)
      }
    }
    expect(counted.calls).toEqual({})
  })

  it('refuses empty and oversize values with INVALID_VALUE, and takes exactly 64 KiB', async () => {
    const name = fresh('values')
    const counted = instrument(postgresStore({ listen: false }))
    const client = makeClient({ store: counted.store })
    for (const value of ['', 'x'.repeat(65_537), `${'€'.repeat(21_845)}ab`]) {
      expect((await rejection(client.storeSecret(name, value))).code).toBe('INVALID_VALUE')
      expect((await rejection(client.rotateSecret(name, value))).code).toBe('INVALID_VALUE')
    }
    expect(counted.calls).toEqual({})

    const max = 'y'.repeat(65_536)
    await client.storeSecret(name, max)
    expect((await client.getSecret(name)).value).toBe(max)
  })

  it('refuses values PostgreSQL cannot hold as text (NUL, lone surrogates) with INVALID_VALUE', async () => {
    const name = fresh('unstorable')
    const counted = instrument(postgresStore({ listen: false }))
    const client = makeClient({ store: counted.store })
    for (const value of ['ab\u0000cd', 'ab\ud800cd', '\udc00abcd', 'abcd\ud83d']) {
      const error = await rejection(client.storeSecret(name, value))
      expect(error.code).toBe('INVALID_VALUE')
      expect((await rejection(client.rotateSecret(name, value))).code).toBe('INVALID_VALUE')
    }
    expect(counted.calls).toEqual({})
    // A well-formed astral character is fine.
    await client.storeSecret(name, 'key-\ud83d\udd11')
    expect((await client.getSecret(name)).value).toBe('key-\ud83d\udd11')
  })

  it('refuses a negative grace period with INVALID_ARGUMENT', async () => {
    const client = makeClient()
    const error = await rejection(
      client.rotateSecret('github_token', 'value', { gracePeriodSeconds: -1 }),
    )
    expect(error.code).toBe('INVALID_ARGUMENT')
  })

  it('records a failed rotation of a missing secret in the log, although SQL rolled it back', async () => {
    const name = fresh('rotate_missing')
    const accessedBy = fresh('rotate-missing')
    const client = makeClient({ accessedBy, audit: { flushIntervalMs: 60 * 60_000 } })
    const error = await rejection(client.rotateSecret(name, 'never-stored-value'))
    expect(error.code).toBe('SECRET_NOT_FOUND')
    expect(error.message).not.toContain('never-stored-value')
    // The SQL function raised, so its own audit row was rolled back with it.
    expect(await auditRows(admin, accessedBy)).toEqual([])

    await client.close()
    expect(await auditRows(admin, accessedBy)).toEqual([
      {
        secret_name: name,
        access_type: 'rotate',
        success: false,
        error_message: expect.stringMatching(/^SECRET_NOT_FOUND: /),
        event_count: 1,
        secret_version: null,
        source: null,
      },
    ])
  })
})

describe('preload', () => {
  it('caches the preloaded names with one getSecrets round trip', async () => {
    const first = fresh('preload_a')
    const second = fresh('preload_b')
    await seeder.storeSecret(first, 'preloaded-a')
    await seeder.storeSecret(second, 'preloaded-b')
    const counted = instrument(postgresStore({ listen: false }))
    const client = makeClient({ store: counted.store, preload: [first, second] })

    await until(
      'the preload',
      async () => (await client.health()).cache.size,
      (n) => n === 2,
    )
    expect(counted.batches).toEqual([[first, second]])
    expect(await client.getSecret(first)).toMatchObject({
      value: 'preloaded-a',
      source: 'cache',
    })
    expect((await client.getSecret(second)).source).toBe('cache')
    expect(counted.reads()).toBe(1)
  })
})

describe('health()', () => {
  it('reports the vault, the backend without its password, cache and audit stats', async () => {
    const password = `pw-${randomBytes(8).toString('hex')}`
    const proxy = await startTcpProxy({ host: '127.0.0.1', port: 5432 })
    try {
      const url = new URL(proxy.urlFor(db.url))
      url.password = password
      const client = makeClient({
        store: createPostgresStore({ connectionString: url.toString(), rootKey: db.rootKey }),
        accessedBy: 'health-check',
        cache: { ttlMs: 12_345 },
      })
      const name = fresh('health')
      await seeder.storeSecret(name, 'health-value')
      await client.getSecret(name)
      await client.getSecret(name)

      const health = await client.health()
      expect(health).toMatchObject({
        secret_source: 'vault',
        backend: { kind: 'postgres', reachable: true },
        accessed_by: 'health-check',
        cache: { size: 1, hits: 1, loads: 1, ttl_ms: 12_345 },
        audit: { buffered: 1, dropped: 0 },
        change_notifications: true,
        // The latest migration applied, as `keywarden status` and vault_health report it.
        schema_version: (await loadMigrations()).at(-1)?.version,
      })
      expect(health.backend.target).toContain(`127.0.0.1:${proxy.port}/${db.name}`)
      expect(health.backend.error).toBeUndefined()
      expect(JSON.stringify(health)).not.toContain(password)
      expect(JSON.stringify(health)).not.toContain('health-value')

      proxy.cut()
      const down = await client.health()
      expect(down.backend).toMatchObject({ reachable: false, error: 'VAULT_UNAVAILABLE' })
      expect(down.secret_source).toBe('none')
      expect(down.schema_version).toBeNull()
      expect(JSON.stringify(down)).not.toContain(password)
      const error = await rejection(client.getSecret(fresh('health_missing')))
      expect(error.code).toBe('VAULT_UNAVAILABLE')
      expect(JSON.stringify(error) + error.message).not.toContain(password)
      proxy.restore()
    } finally {
      await Promise.all(clients.splice(0).map((client) => client.close()))
      await proxy.close()
    }
  })

  it('says so when the store hears no changes', async () => {
    const client = makeClient({ store: postgresStore({ listen: false }) })
    expect((await client.health()).change_notifications).toBe(false)
  })

  it('reports a store configured from the environment without its password', async () => {
    const password = `pw-${randomBytes(8).toString('hex')}`
    const url = new URL(db.url)
    url.password = password
    const client = createVaultClient({
      env: { KEYWARDEN_DATABASE_URL: url.toString(), KEYWARDEN_ROOT_KEY: db.rootKey },
    })
    clients.push(client)
    const name = fresh('health_env')
    await seeder.storeSecret(name, 'configured-value')
    expect((await client.getSecret(name)).value).toBe('configured-value')
    const health = await client.health()
    expect(health.backend).toMatchObject({ kind: 'postgres', reachable: true })
    expect(JSON.stringify(health)).not.toContain(password)
  })
})

describe('vault outage (a real TCP cut)', () => {
  let outageDb: PostgresTestDatabase
  let outageAdmin: pg.Client
  let proxy: TcpProxy

  beforeAll(async () => {
    outageDb = await createPostgresTestDatabase()
    outageAdmin = await outageDb.connect()
    proxy = await startTcpProxy({ host: '127.0.0.1', port: 5432 })
  })

  // Runs before the suite's afterEach closes the clients, so their close() can flush.
  afterEach(() => {
    proxy?.restore()
  })

  afterAll(async () => {
    await proxy?.close()
    await outageAdmin?.end()
    await outageDb?.drop()
  })

  it('serves stale cache and env, buffers the audit, and writes every event once back', async () => {
    const writer = createVaultClient({
      store: createPostgresStore({
        connectionString: outageDb.url,
        rootKey: outageDb.rootKey,
        listen: false,
      }),
      env: {},
      accessedBy: 'outage-writer',
    })
    clients.push(writer)
    const cachedNames = ['deploy_key', 'openai_api_key', 'supabase_service_key']
    for (const name of cachedNames) await writer.storeSecret(name, `${name}-v1`)

    const password = `pw-${randomBytes(8).toString('hex')}`
    const url = new URL(proxy.urlFor(outageDb.url))
    url.password = password
    const store = () =>
      createPostgresStore({
        connectionString: url.toString(),
        rootKey: outageDb.rootKey,
        connectTimeoutMs: 2_000,
      })
    const clock = manualClock()
    const audit = { flushIntervalMs: 20, maxRetryDelayMs: 100 }
    const client = createVaultClient({
      store: store(),
      env: { GITHUB_TOKEN: 'ghp_env_during_outage' },
      accessedBy: 'outage-client',
      now: clock.now,
      cache: { ttlMs: 1_000 },
      audit,
    })
    // A client with no environment to fall back to.
    const bare = createVaultClient({ store: store(), env: {}, accessedBy: 'outage-bare', audit })
    clients.push(client, bare)

    for (const name of cachedNames) {
      expect(await client.getSecret(name)).toMatchObject({ source: 'vault', stale: false })
    }
    expect((await client.health()).secret_source).toBe('vault')
    expect((await bare.health()).secret_source).toBe('vault')
    clock.advance(1_001)

    proxy.cut()
    // Changed meanwhile, out of reach of the cut clients.
    await writer.storeSecret('deploy_key', 'deploy_key-v2')

    let staleServes = 0
    let envServes = 0
    for (const name of [...cachedNames, 'deploy_key']) {
      const result = await client.getSecret(name)
      expect(result).toEqual({
        name,
        value: `${name}-v1`,
        source: 'cache',
        stale: true,
        version: 1,
      })
      staleServes++
    }
    expect(await client.getSecret('github_token')).toEqual({
      name: 'github_token',
      value: 'ghp_env_during_outage',
      source: 'env',
      stale: false,
      version: null,
    })
    envServes++
    const many = await client.getSecrets(['openai_api_key', 'github_token'])
    expect(many.get('openai_api_key')).toMatchObject({ source: 'cache', stale: true })
    expect(many.get('github_token')).toMatchObject({
      source: 'env',
      value: 'ghp_env_during_outage',
    })
    staleServes++
    envServes++
    const unavailable = await rejection(client.getSecret('not_cached_no_env'))
    expect(unavailable.code).toBe('VAULT_UNAVAILABLE')
    expect(JSON.stringify(unavailable) + unavailable.message).not.toContain(password)
    const failures = 1

    const health = await client.health()
    expect(health.secret_source).toBe('env')
    expect(health.backend).toMatchObject({ reachable: false, error: 'VAULT_UNAVAILABLE' })
    expect(health.cache.stale_served).toBe(staleServes)
    expect(JSON.stringify(health)).not.toContain(password)
    expect((await rejection(bare.getSecret('github_token'))).code).toBe('VAULT_UNAVAILABLE')
    expect((await bare.health()).secret_source).toBe('none')

    const buffered = staleServes + envServes + failures
    const waiting = await until(
      'audit writes to fail',
      async () => (await client.health()).audit,
      (stats) => stats.failed_writes >= 2,
    )
    expect(waiting).toMatchObject({ buffered, written: 0, dropped: 0 })
    expect(waiting.last_error_code).toBe('VAULT_UNAVAILABLE')

    proxy.restore()
    const drained = await until(
      'the buffered audit to be written',
      async () => (await client.health()).audit,
      (stats) => stats.buffered === 0,
      10_000,
    )
    expect(drained).toMatchObject({ written: buffered, dropped: 0 })

    const rows = await auditRows(outageAdmin, 'outage-client')
    expect(countOf(rows, (row) => row.source === 'stale')).toBe(staleServes)
    expect(
      rows.filter((row) => row.source === 'stale').every((row) => row.access_type === 'read'),
    ).toBe(true)
    expect(countOf(rows, (row) => row.access_type === 'env_fallback')).toBe(envServes)
    expect(
      rows
        .filter((row) => row.access_type === 'env_fallback')
        .every((row) => row.error_message === 'VAULT_UNAVAILABLE' && row.source === 'env'),
    ).toBe(true)
    expect(
      rows.filter((row) => row.secret_name === 'not_cached_no_env').map((row) => row.success),
    ).toEqual([false])
    expect(rows.find((row) => row.secret_name === 'not_cached_no_env')?.error_message).toMatch(
      /^VAULT_UNAVAILABLE: /,
    )

    // Back online: fresh reads replace the stale values.
    expect(await client.getSecret('deploy_key')).toMatchObject({
      value: 'deploy_key-v2',
      source: 'vault',
      stale: false,
      version: 2,
    })
    expect(await client.getSecret('openai_api_key')).toMatchObject({
      value: 'openai_api_key-v1',
      stale: false,
    })
    expect((await client.getSecret('openai_api_key')).stale).toBe(false)
    expect((await client.health()).secret_source).toBe('vault')

    await bare.close()
    expect(await auditRows(outageAdmin, 'outage-bare')).toEqual([
      expect.objectContaining({ secret_name: 'github_token', success: false }),
    ])
  })
})

describe('property: values round-trip and redact', () => {
  it('stores and reads back any valid value, and redact() masks every form of it', async () => {
    const client = makeClient()
    const name = fresh('property')
    const value = fc.oneof(
      fc.string({ unit: 'binary', minLength: 1, maxLength: 40 }),
      fc.string({ unit: 'grapheme', minLength: 1, maxLength: 20 }),
      fc.string({ unit: fc.constantFrom('a', '/', '+', '=', ' ', '%', 'é'), minLength: 4 }),
    )
    await fc.assert(
      fc.asyncProperty(value, async (candidate) => {
        if (candidate.includes('\u0000') || /\p{Cs}/u.test(candidate)) {
          expect((await rejection(client.storeSecret(name, candidate))).code).toBe('INVALID_VALUE')
          return
        }
        await client.storeSecret(name, candidate)
        const read = await client.getSecret(name)
        expect(read.value).toBe(candidate)
        expect(read.source).toBe('vault')

        if ([...candidate].length < DEFAULT_MIN_REDACT_LENGTH) return
        const bytes = Buffer.from(candidate, 'utf8')
        const forms = [
          candidate,
          bytes.toString('base64'),
          bytes.toString('base64url'),
          bytes.toString('hex'),
          bytes.toString('hex').toUpperCase(),
          encodeURIComponent(candidate),
        ]
        const text = `Authorization: Basic ${forms[1]}\nurl=/x?t=${forms[5]}\nraw ${read.value} hex ${forms[3]} ${forms[4]} b64url ${forms[2]}`
        const masked = redact(text, [{ name, value: read.value }])
        const frame = `Authorization: Basic url=/x?t= raw hex b64url [REDACTED:${name}]`
        for (const form of forms) {
          if (frame.includes(form)) continue
          expect(masked).not.toContain(form)
        }
        expect(masked).toContain(`[REDACTED:${name}]`)
      }),
      { numRuns: 40 },
    )
  })
})

describe('the embedded store (PGlite)', () => {
  let home: string

  afterAll(async () => {
    if (home) await rm(home, { recursive: true, force: true })
  })

  it('serves vault then cache, hears rotations through NOTIFY, keeps the previous value', async () => {
    home = await mkdtemp(join(tmpdir(), 'keywarden-client-test-'))
    const shared = await createEmbeddedStore({ home, rootKey: randomRootKey() })
    const a = createVaultClient({ store: shared, env: {}, accessedBy: 'embedded-a' })
    const counted = instrument(shared, { keepOpen: true })
    const clock = manualClock()
    const b = createVaultClient({
      store: counted.store,
      env: {},
      accessedBy: 'embedded-b',
      now: clock.now,
      cache: { ttlMs: 60 * 60_000 },
    })
    try {
      await a.storeSecret('github_token', 'ghp_embedded_1')
      expect(await b.getSecret('github_token')).toMatchObject({
        value: 'ghp_embedded_1',
        source: 'vault',
        version: 1,
      })
      expect((await b.getSecret('github_token')).source).toBe('cache')
      expect((await a.health()).schema_version).toBe((await loadMigrations()).at(-1)?.version)
      const health = await b.health()
      expect(health).toMatchObject({
        secret_source: 'vault',
        backend: { kind: 'embedded', target: home, reachable: true },
        change_notifications: true,
      })

      await a.rotateSecret('github_token', 'ghp_embedded_2')
      const seen = await until(
        'B to hear the rotation',
        () => b.getSecret('github_token'),
        (result) => result.value === 'ghp_embedded_2',
      )
      expect(seen).toMatchObject({ source: 'vault', version: 2 })
      expect(clock.now()).toBe(clock.start)
      expect(counted.reads()).toBe(2)
      expect(await b.getSecret('github_token', { version: 'previous' })).toMatchObject({
        value: 'ghp_embedded_1',
        version: 1,
      })

      const { hits } = (await b.health()).cache
      expect(hits).toBeGreaterThanOrEqual(1)
      await b.close()
      const rows = await a.queryAudit({ secretName: 'github_token' })
      const hitRows = rows.filter(
        (row) => row.accessType === 'cache_hit' && row.accessedBy === 'embedded-b',
      )
      expect(hitRows.every((row) => row.source === 'cache')).toBe(true)
      expect(hitRows.reduce((sum, row) => sum + row.eventCount, 0)).toBe(hits)
    } finally {
      await b.close()
      await a.close()
    }
    // Creating a PGlite data directory takes seconds, tens of them on a loaded 2-core machine.
  }, 120_000)
})

describe('a vault migrated by a newer Keywarden', () => {
  it('ships LATEST_SCHEMA_VERSION as the last migration file', async () => {
    expect(LATEST_SCHEMA_VERSION).toBe((await loadMigrations()).at(-1)?.version)
  })

  it('is refused with SCHEMA_TOO_NEW on the first call, whatever the call', async () => {
    const database = await createPostgresTestDatabase()
    const env = { KEYWARDEN_DATABASE_URL: database.url, KEYWARDEN_ROOT_KEY: database.rootKey }
    try {
      const current = createVaultClient({ env, envFallback: false })
      await current.storeSecret('before_upgrade', 'value-before')
      await current.close()
      await database.asAdmin(
        "INSERT INTO supabase_migrations.schema_migrations (version, name, statements) VALUES ('29991231000000', 'future', '{}')",
      )
      const client = createVaultClient({ env, envFallback: false })
      try {
        for (const attempt of [
          () => client.listSecrets(),
          () => client.getSecret('before_upgrade'),
          () => client.updateSecretMetadata('before_upgrade', { description: 'x' }),
        ]) {
          const error = (await attempt().catch((caught: unknown) => caught)) as KeywardenError
          expect(isKeywardenError(error, 'SCHEMA_TOO_NEW')).toBe(true)
          expect(error.message).toContain('29991231000000')
          expect(error.message).toContain(LATEST_SCHEMA_VERSION)
        }
      } finally {
        // Its audit rows of the refusals can never be written there: do not wait for them.
        await client.close({ timeoutMs: 100 })
      }
    } finally {
      await database.drop()
    }
  })
})
