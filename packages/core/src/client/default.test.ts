/**
 * The seed's module-level functions (`import { getSecret } from '@keywarden/core'`), bound to a
 * default client configured from process.env: here, KEYWARDEN_DATABASE_URL and
 * KEYWARDEN_ROOT_KEY pointing at a fresh PostgreSQL database. The environment is restored after.
 */
import type pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { isKeywardenError } from '../errors/index.ts'
import { createPostgresStore } from '../store/postgres.ts'
import { createPostgresTestDatabase, type PostgresTestDatabase } from '../testing/databases.ts'
import { until } from '../testing/expect.ts'
import {
  clearSecretCache,
  closeDefaultVaultClient,
  getDefaultVaultClient,
  getSecret,
  getSecrets,
} from './default.ts'
import { createVaultClient, type VaultClient } from './index.ts'

// Every variable the default client's configuration or these tests read.
const VARIABLES = [
  'KEYWARDEN_STORE',
  'KEYWARDEN_DATABASE_URL',
  'KEYWARDEN_ROOT_KEY',
  'KEYWARDEN_HOME',
  'SUPABASE_URL',
  'SUPABASE_SERVICE_ROLE_KEY',
  'SUPABASE_DB_URL',
  'POSTGRES_URL',
  'DEFAULT_ENV_ONLY',
] as const

const saved = new Map<string, string | undefined>()
let db: PostgresTestDatabase
let admin: pg.Client
let writer: VaultClient

beforeAll(async () => {
  db = await createPostgresTestDatabase()
  admin = await db.connect()
  for (const name of VARIABLES) {
    saved.set(name, process.env[name])
    delete process.env[name]
  }
  process.env.KEYWARDEN_DATABASE_URL = db.url
  process.env.KEYWARDEN_ROOT_KEY = db.rootKey

  // Stored before the default client exists, so no NOTIFY from it can reach that client.
  writer = createVaultClient({
    store: createPostgresStore({ connectionString: db.url, rootKey: db.rootKey, listen: false }),
    env: {},
    accessedBy: 'default-test-writer',
  })
  await writer.storeSecret('default_github_token', 'ghp_default_1')
  await writer.storeSecret('default_openai_key', 'sk-default-1')
  await writer.storeSecret('default_batch_key', 'batch-1')
})

afterAll(async () => {
  await closeDefaultVaultClient()
  await writer?.close()
  for (const [name, value] of saved) {
    if (value === undefined) delete process.env[name]
    else process.env[name] = value
  }
  await admin?.end()
  await db?.drop()
})

describe('the default client, configured from process.env', () => {
  it('does nothing on clearSecretCache() before any client exists', () => {
    expect(() => clearSecretCache()).not.toThrow()
    expect(() => clearSecretCache('default_github_token')).not.toThrow()
  })

  it('reads through the vault, then the cache, of the database the environment names', async () => {
    expect(await getSecret('default_github_token')).toEqual({
      name: 'default_github_token',
      value: 'ghp_default_1',
      source: 'vault',
      stale: false,
      version: 1,
    })
    expect(await getSecret('default_github_token')).toMatchObject({
      value: 'ghp_default_1',
      source: 'cache',
    })

    const client = getDefaultVaultClient()
    expect(getDefaultVaultClient()).toBe(client)
    const health = await client.health()
    expect(health).toMatchObject({
      secret_source: 'vault',
      backend: { kind: 'postgres', reachable: true },
      accessed_by: 'keywarden',
      change_notifications: true,
    })
    expect(health.backend.target).toContain(`/${db.name}`)
  })

  it('reloads after clearSecretCache(name) and clearSecretCache()', async () => {
    await getSecret('default_openai_key')
    expect((await getSecret('default_openai_key')).source).toBe('cache')
    expect((await getSecret('default_github_token')).source).toBe('cache')

    clearSecretCache('default_openai_key')
    expect((await getSecret('default_openai_key')).source).toBe('vault')
    expect((await getSecret('default_github_token')).source).toBe('cache')

    clearSecretCache()
    expect((await getSecret('default_openai_key')).source).toBe('vault')
    expect((await getSecret('default_github_token')).source).toBe('vault')
  })

  it('getSecrets: cache, vault and process.env in one call; names found nowhere are absent', async () => {
    process.env.DEFAULT_ENV_ONLY = 'env-only-value'
    const results = await getSecrets([
      'default_github_token',
      'default_batch_key',
      'default_env_only',
      'default_nowhere',
    ])
    expect([...results.keys()].sort()).toEqual(
      ['default_batch_key', 'default_env_only', 'default_github_token'].sort(),
    )
    expect(results.get('default_github_token')?.source).toBe('cache')
    expect(results.get('default_batch_key')).toMatchObject({ value: 'batch-1', source: 'vault' })
    expect(results.get('default_env_only')).toMatchObject({
      value: 'env-only-value',
      source: 'env',
      version: null,
    })
    expect(await getSecret('default_env_only')).toMatchObject({ source: 'env' })
    const error = await getSecret('default_nowhere').catch((caught: unknown) => caught)
    expect(isKeywardenError(error, 'SECRET_NOT_FOUND')).toBe(true)
  })

  it('hears a rotation made by another client', async () => {
    expect((await getSecret('default_batch_key')).source).toBe('cache')
    await writer.rotateSecret('default_batch_key', 'batch-2')
    const seen = await until(
      'the default client to see the rotation',
      () => getSecret('default_batch_key'),
      (result) => result.value === 'batch-2',
    )
    expect(seen).toMatchObject({ source: 'vault', version: 2 })
  })

  it('flushes its audit on closeDefaultVaultClient(), and the next call makes a new client', async () => {
    const before = getDefaultVaultClient()
    await getSecret('default_github_token')
    const { hits } = (await before.health()).cache
    expect(hits).toBeGreaterThan(0)

    await closeDefaultVaultClient()
    const rows = await admin.query<{ total: number }>(
      `SELECT coalesce(sum(event_count), 0)::int AS total FROM public.secret_access_log
        WHERE accessed_by = 'keywarden' AND access_type = 'cache_hit'`,
    )
    expect(rows.rows[0]?.total).toBe(hits)
    const envRows = await admin.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM public.secret_access_log
        WHERE accessed_by = 'keywarden' AND access_type = 'env_fallback'`,
    )
    expect(envRows.rows[0]?.n).toBe(2)

    expect(await getSecret('default_github_token')).toMatchObject({
      value: 'ghp_default_1',
      source: 'vault',
    })
    expect(getDefaultVaultClient()).not.toBe(before)
  })

  it('rejects (never throws synchronously) when the environment is misconfigured', async () => {
    await closeDefaultVaultClient()
    process.env.KEYWARDEN_ROOT_KEY = 'not-a-hex-key'
    try {
      let pending: Promise<unknown> | undefined
      expect(() => {
        pending = getSecret('default_github_token')
      }).not.toThrow()
      const error = await pending?.catch((caught: unknown) => caught)
      expect(isKeywardenError(error, 'ROOT_KEY_INVALID')).toBe(true)

      let batch: Promise<unknown> | undefined
      expect(() => {
        batch = getSecrets(['default_github_token'])
      }).not.toThrow()
      const batchError = await batch?.catch((caught: unknown) => caught)
      expect(isKeywardenError(batchError, 'ROOT_KEY_INVALID')).toBe(true)
    } finally {
      process.env.KEYWARDEN_ROOT_KEY = db.rootKey
    }
    // Fixed configuration is picked up: no failed client was remembered.
    expect((await getSecret('default_github_token')).value).toBe('ghp_default_1')
  })
})
