/**
 * Secrets named by `*_FILE` variables, on real files with real modes: read when the file is the
 * user's own and private, refused otherwise — also through `openStore`, which is where every
 * door reads them.
 */
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { openStore, resolveStoreConfig } from '../../config/index.ts'
import { rejection } from '../../testing/expect.ts'
import { readSecretFile } from './index.ts'

const KEY = 'cd'.repeat(32)

describe('readSecretFile', () => {
  let dir: string
  let count = 0
  const file = async (content: string, mode = 0o600) => {
    const path = join(dir, `secret-${count++}`)
    await writeFile(path, content, { mode })
    await chmod(path, mode)
    return path
  }

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kw-secret-files-'))
  })
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  it('reads a 0600 file of this user without its final line break', async () => {
    expect(await readSecretFile(await file(`${KEY}\n`), 'KEYWARDEN_ROOT_KEY_FILE')).toBe(KEY)
    expect(await readSecretFile(await file('pa ss\r\n'), 'X')).toBe('pa ss')
  })

  it('refuses a file others can read or write, a missing one and an empty one', async () => {
    for (const mode of [0o644, 0o640, 0o660, 0o604]) {
      const path = await file(KEY, mode)
      const error = await rejection(
        readSecretFile(path, 'KEYWARDEN_ROOT_KEY_FILE'),
        'CONFIGURATION_ERROR',
      )
      expect(error.message).toContain(path)
      expect(error.message).toContain('chmod 600')
      expect(error.message).not.toContain(KEY)
    }
    const missing = await rejection(readSecretFile(join(dir, 'nope'), 'X'), 'CONFIGURATION_ERROR')
    expect(missing.message).toContain('does not exist')
    const empty = await rejection(readSecretFile(await file('\n'), 'X'), 'CONFIGURATION_ERROR')
    expect(empty.message).toContain('is empty')
  })

  it('openStore reads each named file and refuses a readable one before connecting', async () => {
    const loose = await file(KEY, 0o644)
    const cases = [
      { KEYWARDEN_HOME: join(dir, 'home'), KEYWARDEN_AGENT: '0', KEYWARDEN_ROOT_KEY_FILE: loose },
      {
        KEYWARDEN_DATABASE_URL: 'postgres://u@127.0.0.1:1/db',
        KEYWARDEN_DATABASE_PASSWORD_FILE: loose,
      },
      { SUPABASE_URL: 'http://127.0.0.1:1', SUPABASE_SERVICE_ROLE_KEY_FILE: loose },
    ]
    for (const env of cases) {
      const error = await rejection(openStore(resolveStoreConfig(env)), 'CONFIGURATION_ERROR')
      expect(error.message).toContain('readable by other users')
    }
    const notHex = await file('not a key')
    const error = await rejection(
      openStore(
        resolveStoreConfig({
          KEYWARDEN_HOME: join(dir, 'h2'),
          KEYWARDEN_AGENT: '0',
          KEYWARDEN_ROOT_KEY_FILE: notHex,
        }),
      ),
      'ROOT_KEY_INVALID',
    )
    expect(error.message).toContain(notHex)
    expect(error.message).not.toContain('not a key')
  })

  it('opens an embedded vault with the key from the file, and the same vault from the variable', async () => {
    const home = join(dir, 'vault')
    const keyFile = await file(`${KEY}\n`)
    const byFile = await openStore(
      resolveStoreConfig({
        KEYWARDEN_HOME: home,
        KEYWARDEN_AGENT: '0',
        KEYWARDEN_ROOT_KEY_FILE: keyFile,
      }),
    )
    await byFile.storeSecret('k', 'v1', { type: 'api_key' }, 'test')
    await byFile.close()
    const byVariable = await openStore(
      resolveStoreConfig({ KEYWARDEN_HOME: home, KEYWARDEN_AGENT: '0', KEYWARDEN_ROOT_KEY: KEY }),
    )
    try {
      expect((await byVariable.getSecret('k', 'test'))?.value).toBe('v1')
    } finally {
      await byVariable.close()
    }
  })
})
