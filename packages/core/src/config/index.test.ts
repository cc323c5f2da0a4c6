import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { isKeywardenError, KeywardenError } from '../errors/index.ts'
import { describeDatabaseUrl, openStore, resolveStoreConfig } from './index.ts'

const KEY = 'ab'.repeat(32)

function configError(env: Record<string, string>): KeywardenError {
  try {
    resolveStoreConfig(env)
  } catch (error) {
    if (error instanceof KeywardenError) return error
    throw error
  }
  throw new Error('expected a configuration error')
}

describe('resolveStoreConfig', () => {
  it('defaults to the embedded vault', () => {
    expect(resolveStoreConfig({})).toEqual({ kind: 'embedded' })
    expect(resolveStoreConfig({ KEYWARDEN_HOME: '/tmp/kw', KEYWARDEN_ROOT_KEY: KEY })).toEqual({
      kind: 'embedded',
      home: '/tmp/kw',
      rootKey: KEY,
    })
  })

  it('records the *_FILE variables for openStore to read, and refuses a secret set twice', () => {
    expect(resolveStoreConfig({ KEYWARDEN_ROOT_KEY_FILE: '/k' })).toEqual({
      kind: 'embedded',
      rootKeyFile: '/k',
    })
    expect(
      resolveStoreConfig({
        KEYWARDEN_DATABASE_URL: 'postgres://u@h/db',
        KEYWARDEN_DATABASE_PASSWORD_FILE: '/p',
        KEYWARDEN_ROOT_KEY_FILE: '/k',
      }),
    ).toMatchObject({ kind: 'postgres', passwordFile: '/p', rootKeyFile: '/k' })
    expect(
      resolveStoreConfig({
        SUPABASE_URL: 'https://x.supabase.co',
        SUPABASE_SERVICE_ROLE_KEY_FILE: '/s',
      }),
    ).toEqual({ kind: 'supabase', url: 'https://x.supabase.co', serviceRoleKeyFile: '/s' })
    const twice: Record<string, string>[] = [
      { KEYWARDEN_ROOT_KEY: KEY, KEYWARDEN_ROOT_KEY_FILE: '/k' },
      { KEYWARDEN_DATABASE_URL: 'postgres://u:pw@h/db', KEYWARDEN_DATABASE_PASSWORD_FILE: '/p' },
      {
        SUPABASE_URL: 'https://x.supabase.co',
        SUPABASE_SERVICE_ROLE_KEY: 'k',
        SUPABASE_SERVICE_ROLE_KEY_FILE: '/s',
      },
    ]
    for (const env of twice) {
      const error = configError(env)
      expect(error.code).toBe('CONFIGURATION_ERROR')
      expect(error.message).toContain('keep one')
      expect(error.message).not.toContain('pw')
    }
  })

  it('records KEYWARDEN_AGENT=0 as agent: false, and leaves the default to openStore', () => {
    expect(resolveStoreConfig({ KEYWARDEN_AGENT: '0' })).toEqual({ kind: 'embedded', agent: false })
    expect(resolveStoreConfig({ KEYWARDEN_AGENT: '1' })).toEqual({ kind: 'embedded' })
    expect(
      resolveStoreConfig({ KEYWARDEN_AGENT: '0', KEYWARDEN_DATABASE_URL: 'postgres://h/d' }),
    ).not.toHaveProperty('agent')
  })

  it('picks postgres from KEYWARDEN_DATABASE_URL, before anything else', () => {
    const config = resolveStoreConfig({
      KEYWARDEN_DATABASE_URL: 'postgres://u@h/db',
      SUPABASE_URL: 'https://x.supabase.co',
      SUPABASE_SERVICE_ROLE_KEY: 'k',
    })
    expect(config).toMatchObject({ kind: 'postgres', variable: 'KEYWARDEN_DATABASE_URL' })
  })

  it('prefers supabase over SUPABASE_DB_URL, as on an Edge Function where Supabase sets both', () => {
    const config = resolveStoreConfig({
      SUPABASE_URL: 'https://x.supabase.co',
      SUPABASE_SERVICE_ROLE_KEY: 'k',
      SUPABASE_DB_URL: 'postgresql://postgres@db/postgres',
    })
    expect(config).toEqual({ kind: 'supabase', url: 'https://x.supabase.co', serviceRoleKey: 'k' })
  })

  it('turns the supabase store’s Realtime change feed off with KEYWARDEN_REALTIME=0', () => {
    const config = resolveStoreConfig({
      SUPABASE_URL: 'https://x.supabase.co',
      SUPABASE_SERVICE_ROLE_KEY: 'k',
      KEYWARDEN_REALTIME: '0',
    })
    expect(config).toEqual({
      kind: 'supabase',
      url: 'https://x.supabase.co',
      serviceRoleKey: 'k',
      realtime: false,
    })
  })

  it('falls back to SUPABASE_DB_URL, then POSTGRES_URL', () => {
    expect(
      resolveStoreConfig({ SUPABASE_DB_URL: 'postgres://a@h/x', POSTGRES_URL: 'postgres://b@h/y' }),
    ).toMatchObject({ kind: 'postgres', variable: 'SUPABASE_DB_URL' })
    expect(resolveStoreConfig({ POSTGRES_URL: 'postgres://b@h/y' })).toMatchObject({
      kind: 'postgres',
      variable: 'POSTGRES_URL',
    })
  })

  it('honours KEYWARDEN_STORE over the order', () => {
    expect(
      resolveStoreConfig({ KEYWARDEN_STORE: 'embedded', KEYWARDEN_DATABASE_URL: 'postgres://h/d' }),
    ).toEqual({ kind: 'embedded' })
    expect(
      resolveStoreConfig({
        KEYWARDEN_STORE: 'postgres',
        SUPABASE_URL: 'https://x.supabase.co',
        SUPABASE_SERVICE_ROLE_KEY: 'k',
        POSTGRES_URL: 'postgres://h/d',
      }),
    ).toMatchObject({ kind: 'postgres', variable: 'POSTGRES_URL' })
  })

  it.each([
    [{ SUPABASE_URL: 'https://x.supabase.co' }, 'SUPABASE_SERVICE_ROLE_KEY'],
    [{ SUPABASE_SERVICE_ROLE_KEY: 'k' }, 'SUPABASE_URL'],
    [{ SUPABASE_URL: 'x.supabase.co', SUPABASE_SERVICE_ROLE_KEY: 'k' }, 'SUPABASE_URL'],
    [{ KEYWARDEN_DATABASE_URL: 'mysql://h/d' }, 'KEYWARDEN_DATABASE_URL'],
    [{ POSTGRES_URL: 'not a url' }, 'POSTGRES_URL'],
    [{ KEYWARDEN_STORE: 'postgres' }, 'KEYWARDEN_DATABASE_URL'],
    [{ KEYWARDEN_STORE: 'redis' }, 'KEYWARDEN_STORE'],
  ])('names the variable of a half-configured environment: %o', (env, variable) => {
    const error = configError(env)
    expect(error.code).toBe('CONFIGURATION_ERROR')
    expect(error.message).toContain(variable)
  })

  it('refuses a malformed root key without echoing it', () => {
    const error = configError({ KEYWARDEN_ROOT_KEY: 'not-hex-secret-material' })
    expect(error.code).toBe('ROOT_KEY_INVALID')
    expect(error.message).toContain('KEYWARDEN_ROOT_KEY')
    expect(error.message).not.toContain('not-hex-secret-material')
  })

  it('never puts a connection password or service key in an error', () => {
    const error = configError({ SUPABASE_URL: 'ftp://x', SUPABASE_SERVICE_ROLE_KEY: 'sk-SECRET' })
    expect(error.message).not.toContain('sk-SECRET')
    const pgError = configError({ KEYWARDEN_DATABASE_URL: 'mysql://u:hunter2@h/d' })
    expect(pgError.message).not.toContain('hunter2')
  })
})

// Which way openStore opens the embedded vault, told apart without starting PGlite or an
// agent: the vault lock names this very process, which each path refuses in its own words.
describe('openStore for the embedded vault', () => {
  let home: string

  beforeAll(async () => {
    home = await mkdtemp(join(tmpdir(), 'kw-config-'))
    await writeFile(join(home, 'vault.lock'), String(process.pid), { mode: 0o600 })
  })

  afterAll(async () => {
    await rm(home, { recursive: true, force: true })
  })

  async function refusal(config: Parameters<typeof openStore>[0]): Promise<string> {
    const error = await openStore(config).then(
      () => undefined,
      (reason: unknown) => reason,
    )
    expect(isKeywardenError(error, 'VAULT_UNAVAILABLE')).toBe(true)
    return (error as KeywardenError).message
  }

  it('goes through the local agent by default', async () => {
    expect(await refusal({ kind: 'embedded', home, rootKey: KEY })).toContain('KEYWARDEN_AGENT=0')
  })

  it('opens the vault in this process with agent: false, as KEYWARDEN_AGENT=0 asks', async () => {
    const direct = 'already open in this process'
    expect(await refusal({ kind: 'embedded', home, rootKey: KEY, agent: false })).toContain(direct)
    const fromEnv = resolveStoreConfig({
      KEYWARDEN_HOME: home,
      KEYWARDEN_ROOT_KEY: KEY,
      KEYWARDEN_AGENT: '0',
    })
    expect(await refusal(fromEnv)).toContain(direct)
  })
})

describe('describeDatabaseUrl', () => {
  it('drops the password, parameters and fragment', () => {
    expect(
      describeDatabaseUrl('postgres://user:hunter2@db:5432/app?sslmode=require&password=x#hunter2'),
    ).toBe('postgres://user@db:5432/app')
    expect(describeDatabaseUrl('not a url hunter2')).toBe('the database URL')
  })
})
