/**
 * `wrapClientConfig`, the API `keywarden scan --fix` uses: one client file, a real vault on
 * PostgreSQL, in-process. It wraps what holds plaintext, asks before changing anything, and
 * refuses to overwrite a file that changed while it worked.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createVaultClient, type VaultClient } from '../../../../../packages/core/src/index.ts'
import {
  createPostgresTestDatabase,
  type PostgresTestDatabase,
} from '../../../../../packages/core/src/testing/databases.ts'
import { MCP_CLIENTS } from '../index.ts'
import { fixtures, TOKENS } from '../testing/fixtures.ts'
import { wrapClientConfig } from './index.ts'

let database: PostgresTestDatabase
let vault: VaultClient
let dir: string
let env: Record<string, string>
const cursor = fixtures().find((fixture) => fixture.client === 'cursor')

beforeAll(async () => {
  database = await createPostgresTestDatabase()
  dir = await mkdtemp(join(tmpdir(), 'kw-wrap-api-'))
  env = {
    KEYWARDEN_DATABASE_URL: database.url,
    KEYWARDEN_ROOT_KEY: database.rootKey,
    KEYWARDEN_HOME: join(dir, 'keywarden'),
  }
  vault = createVaultClient({ env, accessedBy: 'test', envFallback: false })
})

afterAll(async () => {
  await vault?.close()
  await database?.drop()
  if (dir) await rm(dir, { recursive: true, force: true })
})

describe('wrapClientConfig', () => {
  const file = () => join(dir, 'mcp.json')
  const options = () => ({ client: MCP_CLIENTS.cursor, file: file(), vault, env })

  it('does nothing when confirm says no', async () => {
    await writeFile(file(), cursor?.text ?? '')
    let asked: string[] = []
    const result = await wrapClientConfig({
      ...options(),
      confirm: async (plan) => {
        asked = plan.wrap.map((candidate) => candidate.ref.name)
        return false
      },
    })
    expect(asked).toEqual(['linear', 'probe'])
    expect(result).toMatchObject({ written: false, backup: null, wrapped: [] })
    expect(await readFile(file(), 'utf8')).toBe(cursor?.text)
    expect(await vault.listSecrets()).toEqual([])
  })

  it('refuses to overwrite a file edited while it worked', async () => {
    const edited = (cursor?.text ?? '').replace('"ENG"', '"OPS"')
    const attempt = wrapClientConfig({
      ...options(),
      confirm: async () => {
        await writeFile(file(), edited)
        return true
      },
    })
    await expect(attempt).rejects.toThrow(
      `${file()} changed while keywarden was working; it was left as it was`,
    )
    expect(await readFile(file(), 'utf8')).toBe(edited)
  })

  it('wraps the servers holding plaintext, keeping the comments', async () => {
    await writeFile(file(), cursor?.text ?? '')
    const result = await wrapClientConfig(options())
    expect(result).toMatchObject({
      client: 'cursor',
      file: file(),
      written: true,
      backup: `${file()}.backup`,
      refused: [],
    })
    expect(result.wrapped.map((w) => w.server)).toEqual(['linear', 'probe'])
    const text = await readFile(file(), 'utf8')
    for (const token of Object.values(TOKENS)) expect(text).not.toContain(token)
    for (const comment of cursor?.comments ?? []) expect(text).toContain(comment)
    vault.clearSecretCache()
    const stored = await vault.getSecrets(['linear_api_key', 'openai_api_key'])
    expect(stored.get('linear_api_key')?.value).toBe(TOKENS.linear)
    expect(stored.get('openai_api_key')?.value).toBe(TOKENS.openai)
  })
})
