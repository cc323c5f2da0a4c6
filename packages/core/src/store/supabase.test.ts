/**
 * The supabase store where Supabase's Data API differs from a direct connection:
 * - its 1000-row cap: through the PostgREST double set up like Supabase (`maxRows` 1000), every
 *   listing, audit query, metric, alert and expiry comes back whole at 2,500 rows and more;
 * - its change feed through Realtime, client half: the Realtime server cannot run here, so the
 *   store gets a channel of the test's own, fed with the broadcasts the database half recorded
 *   (`testing/realtime.ts`), and the vault client above it must evict, and flush on rejoin.
 */
import { randomBytes } from 'node:crypto'
import type pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createVaultClient, type VaultClient } from '../client/index.ts'
import { createPostgresTestDatabase, type PostgresTestDatabase } from '../testing/databases.ts'
import {
  type PostgrestDouble,
  SUPABASE_MAX_ROWS,
  signTestJwt,
  startPostgrestDouble,
} from '../testing/postgrest/index.ts'
import {
  RECORDED_BROADCASTS_SQL,
  type RecordedBroadcast,
  SUPABASE_REALTIME_SQL,
} from '../testing/realtime.ts'
import { createTestStore, type SupabaseTestStore } from '../testing/stores.ts'
import type { SecretStore } from './index.ts'
import {
  type ChangeChannel,
  REALTIME_EVENT,
  REALTIME_TOPIC,
  type RealtimeBroadcast,
} from './realtime.ts'
import { createSupabaseStore } from './supabase.ts'

const MANY = 2_500
const DAY_MS = 86_400_000

describe('the supabase store past the Data API’s 1000-row cap', () => {
  let t: SupabaseTestStore
  let owner: pg.Client

  beforeAll(async () => {
    t = await createTestStore('supabase')
    owner = await t.database.connect()
    // In bulk through the SQL API, as the owner: 2,500 HTTP calls would only add minutes.
    await owner.query(
      `SELECT public.store_secret(pg_catalog.format('bulk_%s', pg_catalog.lpad(i::text, 4, '0')),
                                  'value-' || i, secret_type => 'api_key',
                                  expires_at => now() + interval '1 day')
         FROM pg_catalog.generate_series(1, $1) AS i`,
      [MANY],
    )
    await owner.query(
      `INSERT INTO public.secret_access_log (secret_name, accessed_by, access_type, success)
       SELECT pg_catalog.format('bulk_%s', pg_catalog.lpad((1 + i % $1)::text, 4, '0')),
              'svc-' || (i % 7), 'read', true
         FROM pg_catalog.generate_series(1, $1 + 100) AS i`,
      [MANY],
    )
  }, 120_000)

  afterAll(async () => {
    await owner?.end()
    await t?.cleanup()
  })

  const expectedNames = () =>
    Array.from({ length: MANY }, (_, i) => `bulk_${String(i + 1).padStart(4, '0')}`)

  it('is tested through a double that really cuts set-returning calls at 1000 rows', async () => {
    const response = await fetch(`${t.url}/rest/v1/rpc/list_secret_names`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${t.serviceRoleKey}`, 'Content-Type': 'application/json' },
      body: '{}',
    })
    expect(((await response.json()) as unknown[]).length).toBe(SUPABASE_MAX_ROWS)
  })

  it('lists every secret exactly once', async () => {
    const names = (await t.store.listSecrets('test')).map((each) => each.name)
    expect(names).toEqual(expectedNames())
  })

  it('reports every expiring secret exactly once', async () => {
    const expiring = await t.store.checkExpiringSecrets(7, 'test')
    expect(expiring.map((each) => each.name).sort()).toEqual(expectedNames())
    expect(expiring.every((each) => each.reason === 'expires')).toBe(true)
  })

  it('gives metrics for every secret exactly once', async () => {
    const metrics = await t.store.secretMetrics()
    expect(metrics.map((each) => each.name)).toEqual(expectedNames())
    expect(metrics.reduce((sum, each) => sum + each.accesses7d, 0)).toBe(MANY + 100)
  })

  it('raises every alert exactly once', async () => {
    // 100 days on, each api_key secret is both expired and overdue for rotation (90 days).
    const alerts = await t.store.secretAlerts({ now: new Date(Date.now() + 100 * DAY_MS) })
    const keys = alerts.map((each) => each.key)
    expect(new Set(keys).size).toBe(keys.length)
    for (const kind of ['secret_expired', 'rotation_overdue'] as const) {
      expect(
        alerts
          .filter((each) => each.kind === kind)
          .map((each) => each.secretName)
          .sort(),
      ).toEqual(expectedNames())
    }
  })

  it('returns every audit row exactly once, while rows are being appended', async () => {
    const { rows } = await owner.query<{ id: string }>(
      'SELECT id::text FROM public.secret_access_log',
    )
    const before = new Set(rows.map((row) => Number(row.id)))
    expect(before.size).toBeGreaterThan(2 * MANY)

    // Another client keeps appending while the query runs.
    let appending = true
    const appender = (async () => {
      let written = 0
      while (appending && written < 50) {
        written += await t.store.logAccessBatch([
          {
            secret_name: 'bulk_0001',
            accessed_by: 'svc-late',
            access_type: 'cache_hit',
            success: true,
            created_at: new Date().toISOString(),
          },
        ])
      }
      return written
    })()
    const records = await t.store.queryAudit({ limit: 100_000 })
    appending = false
    expect(await appender).toBeGreaterThan(0)

    const ids = records.map((each) => each.id)
    expect(new Set(ids).size).toBe(ids.length)
    for (const id of before) expect(ids).toContain(id)
    // Newest first, as the SQL function orders them.
    expect(ids).toEqual([...ids].sort((a, b) => b - a))
  })
})

/** A Realtime channel of the test's own: it records the store's calls and replays messages. */
interface FakeChannel extends ChangeChannel {
  readonly topic: string
  readonly events: string[]
  unsubscribed: boolean
  deliver(message: RealtimeBroadcast): void
  status(status: string): void
}

function fakeChannel(topic: string): FakeChannel {
  const broadcasts: ((message: RealtimeBroadcast) => void)[] = []
  const statuses: ((status: string) => void)[] = []
  const channel: FakeChannel = {
    topic,
    events: [],
    unsubscribed: false,
    on(_type, filter, callback) {
      channel.events.push(filter.event)
      broadcasts.push(callback)
      return channel
    },
    subscribe(callback) {
      statuses.push(callback)
      return channel
    },
    async unsubscribe() {
      channel.unsubscribed = true
      return 'ok'
    },
    deliver(message) {
      if (channel.unsubscribed) return
      for (const callback of broadcasts) callback(message)
    },
    status(status) {
      for (const callback of statuses) callback(status)
    },
  }
  return channel
}

describe('the supabase store’s Realtime change feed (client half)', () => {
  const jwtSecret = randomBytes(32).toString('hex')
  let database: PostgresTestDatabase
  let double: PostgrestDouble
  let owner: pg.Client
  let store: SecretStore
  let client: VaultClient
  const channels: FakeChannel[] = []
  let seen = 0

  beforeAll(async () => {
    database = await createPostgresTestDatabase({ prepare: SUPABASE_REALTIME_SQL })
    double = await startPostgrestDouble({
      databaseUrl: database.url,
      rootKey: database.rootKey,
      jwtSecret,
      maxRows: SUPABASE_MAX_ROWS,
    })
    owner = await database.connect()
    store = createSupabaseStore({
      url: double.url,
      serviceRoleKey: signTestJwt({ role: 'service_role' }, jwtSecret),
      openChannel(topic) {
        const channel = fakeChannel(topic)
        channels.push(channel)
        return channel
      },
    })
    client = createVaultClient({ store, envFallback: false, accessedBy: 'test' })
  })

  afterAll(async () => {
    await client?.close()
    await owner?.end()
    await double?.close()
    await database?.drop()
  })

  /** What the database half recorded since the last call, as Realtime would deliver it. */
  const recorded = async (): Promise<RealtimeBroadcast[]> => {
    const { rows } = await owner.query<RecordedBroadcast>(RECORDED_BROADCASTS_SQL, [seen])
    seen = rows.at(-1)?.id ?? seen
    return rows.map((row) => ({ type: 'broadcast', event: row.event, payload: row.payload }))
  }

  /** A change made by another client: straight through SQL, so this client hears no eviction. */
  const rotateElsewhere = (name: string, value: string) =>
    owner.query('SELECT * FROM public.rotate_secret($1, $2)', [name, value])

  it('joins the private change topic for the change event', async () => {
    await client.storeSecret('joined', 'v1')
    expect(channels.map((each) => [each.topic, each.events])).toEqual([
      [REALTIME_TOPIC, [REALTIME_EVENT]],
    ])
    expect((await client.health()).change_notifications).toBe(true)
  })

  it('evicts the secret a recorded broadcast names, and no other', async () => {
    const channel = channels[0] as FakeChannel
    await client.storeSecret('rotated', 'v1')
    await client.storeSecret('untouched', 'u1')
    expect((await client.getSecret('rotated')).source).toBe('vault')
    expect((await client.getSecret('untouched')).source).toBe('vault')
    await recorded()

    await rotateElsewhere('rotated', 'v2')
    // Until the broadcast arrives, the cache serves what it has: the feed is what evicts.
    expect(await client.getSecret('rotated')).toMatchObject({ value: 'v1', source: 'cache' })

    const messages = await recorded()
    expect(messages.map((each) => each.payload)).toEqual([
      { name: 'rotated', version: 2, op: 'update' },
    ])
    for (const message of messages) channel.deliver(message)

    expect(await client.getSecret('rotated')).toMatchObject({ value: 'v2', source: 'vault' })
    expect(await client.getSecret('untouched')).toMatchObject({ value: 'u1', source: 'cache' })
  })

  it('flushes the whole cache each time the channel rejoins', async () => {
    const channel = channels[0] as FakeChannel
    await client.storeSecret('first', 'a1')
    await client.storeSecret('second', 'b1')
    await client.getSecret('first')
    await client.getSecret('second')
    expect((await client.getSecret('first')).source).toBe('cache')

    // Disconnected: changes made meanwhile are never delivered.
    channel.status('CHANNEL_ERROR')
    await rotateElsewhere('first', 'a2')
    await rotateElsewhere('second', 'b2')
    expect((await client.getSecret('first')).value).toBe('a1')

    channel.status('SUBSCRIBED')
    expect(await client.getSecret('first')).toMatchObject({ value: 'a2', source: 'vault' })
    expect(await client.getSecret('second')).toMatchObject({ value: 'b2', source: 'vault' })
  })

  it('drops everything for a broadcast that names no valid secret', async () => {
    const channel = channels[0] as FakeChannel
    await client.storeSecret('odd', 'o1')
    await client.getSecret('odd')
    await rotateElsewhere('odd', 'o2')
    channel.deliver({ event: REALTIME_EVENT, payload: { name: 'Not A Name!' } })
    expect(await client.getSecret('odd')).toMatchObject({ value: 'o2', source: 'vault' })
  })

  it('leaves the channel when the client closes', async () => {
    const channel = channels[0] as FakeChannel
    await client.close()
    expect(channel.unsubscribed).toBe(true)
  })
})
