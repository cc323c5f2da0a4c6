import { describe, expect, it } from 'vitest'
import { vaultAccessReason, withoutVaultAccess } from './index.ts'

const ROOT_KEY = 'ab'.repeat(32)
const URL = 'postgres://keywarden:s3cret-password@db.internal:5432/vault'

describe('withoutVaultAccess', () => {
  it("drops Keywarden's configuration and the store's credentials, and keeps the rest", () => {
    const env = {
      PATH: '/usr/bin',
      HOME: '/home/me',
      KEYWARDEN_ROOT_KEY: ROOT_KEY,
      KEYWARDEN_DATABASE_URL: URL,
      KEYWARDEN_HOME: '/home/me/.keywarden',
      KEYWARDEN_MCP_ALLOWED_COMMANDS: 'git',
      SUPABASE_SERVICE_ROLE_KEY: 'eyJhbGciOiJIUzI1NiJ9.service',
      SUPABASE_DB_URL: URL,
      POSTGRES_URL: URL,
      SUPABASE_URL: 'https://abc.supabase.co',
      PGPASSWORD: 'another-password',
      PGOPTIONS: `-c keywarden.root_key=${ROOT_KEY}`,
      DATABASE_URL: URL,
      APP_DATABASE_URL: 'postgres://app@localhost/app',
      COPY_OF_KEY: `key=${ROOT_KEY}`,
      ONLY_THE_PASSWORD: 's3cret-password',
      UNSET: undefined,
    }
    expect(withoutVaultAccess(env)).toEqual({
      PATH: '/usr/bin',
      HOME: '/home/me',
      SUPABASE_URL: 'https://abc.supabase.co',
      APP_DATABASE_URL: 'postgres://app@localhost/app',
    })
  })

  it('keeps PostgreSQL variables that are not the vault’s', () => {
    const env = {
      PGPASSWORD: 'app-password',
      PGOPTIONS: '-c statement_timeout=5s',
      DATABASE_URL: URL,
    }
    // No PostgreSQL vault configured: they belong to the user's own programs.
    expect(withoutVaultAccess(env)).toEqual(env)
    expect(vaultAccessReason('PGPASSWORD', { ...env, KEYWARDEN_DATABASE_URL: URL })).toBe(
      "the vault's database password",
    )
  })

  it('does not drop a variable for sharing a short string with a credential', () => {
    const env = { KEYWARDEN_ROOT_KEY: 'short', GREETING: 'a short note' }
    expect(withoutVaultAccess(env)).toEqual({ GREETING: 'a short note' })
  })
})
