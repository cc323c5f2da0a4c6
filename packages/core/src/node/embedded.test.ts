/**
 * What only the embedded store has: its home directory, the generated root key file, and the
 * lock that keeps a second process (or a second store in this one) off the PGlite data
 * directory. Creating a PGlite database costs seconds, so the file makes one home and reopens
 * it; the checks that refuse to open never reach PGlite and use homes of their own.
 *
 * The second-process tests import the built package: run `npm run build -w @keywarden/core`
 * first.
 */
import { execFile, spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { chmod, chown, mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import type { SecretStore } from '../store/index.ts'
import { randomRootKey } from '../testing/databases.ts'
import { rejection } from '../testing/expect.ts'
import { createTemporaryHome } from '../testing/stores.ts'
import { createEmbeddedStore } from './embedded.ts'

const run = promisify(execFile)
const BUILT_ENTRY = fileURLToPath(new URL('../../dist/node/index.js', import.meta.url))

/** The file mode's permission bits. */
async function permissions(path: string): Promise<number> {
  return (await stat(path)).mode & 0o777
}

/** What another process sees when it opens `home` with the built package. */
async function openInAnotherProcess(
  home: string,
): Promise<{ opened: true } | { code: string; message: string }> {
  const script = `
    const { createEmbeddedStore } = await import(process.env.KW_ENTRY)
    try {
      const store = await createEmbeddedStore({ home: process.env.KW_HOME })
      await store.close()
      process.stdout.write(JSON.stringify({ opened: true }))
    } catch (error) {
      process.stdout.write(JSON.stringify({ code: error.code, message: error.message }))
    }
  `
  const { KEYWARDEN_ROOT_KEY: _unused, ...env } = process.env
  const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], {
    env: { ...env, KW_ENTRY: pathToFileURL(BUILT_ENTRY).href, KW_HOME: home },
    timeout: 30_000,
  })
  return JSON.parse(stdout) as { opened: true } | { code: string; message: string }
}

// As root (here, and in CI) a directory can be given to another user (`nobody`); a developer
// who is not root outside CI skips that one case, and its name says why.
const SKIP_CHOWN = process.getuid?.() !== 0 && !process.env.CI
const CHOWN_NOTE = SKIP_CHOWN ? ' [skipped: needs root to chown to another user]' : ''

/** The pid of a process that has exited. */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '0'], { stdio: 'ignore' })
  const pid = child.pid
  await new Promise<void>((resolve, reject) => {
    child.once('error', reject)
    child.once('exit', () => resolve())
  })
  if (pid === undefined) throw new Error('the child process got no pid')
  return pid
}

describe('the embedded store', () => {
  let parent: string
  let home: string
  let store: SecretStore | undefined

  const open = async (options: { rootKey?: string } = {}) => {
    await store?.close()
    store = undefined
    store = await createEmbeddedStore({ home, ...options })
    return store
  }
  const close = async () => {
    await store?.close()
    store = undefined
  }

  beforeAll(async () => {
    if (!existsSync(BUILT_ENTRY)) {
      throw new Error(`${BUILT_ENTRY} is missing: run \`npm run build -w @keywarden/core\` first`)
    }
    // The key must come from the home, whatever the environment running the tests says; these
    // cases are about its root.key file (the keychain has root-key/index.test.ts).
    vi.stubEnv('KEYWARDEN_ROOT_KEY', undefined)
    vi.stubEnv('KEYWARDEN_KEYCHAIN', 'off')
    parent = await createTemporaryHome()
    // A home that does not exist yet: the store makes it.
    home = join(parent, 'home')
    await open()
  })

  afterAll(async () => {
    await close()
    vi.unstubAllEnvs()
    if (parent) await rm(parent, { recursive: true, force: true })
  })

  it('makes a new home with a 0600 root key and a data directory', async () => {
    expect(await permissions(home)).toBe(0o700)
    const key = await readFile(join(home, 'root.key'), 'utf8')
    expect(key).toMatch(/^[0-9a-f]{64}\n$/)
    expect(await permissions(join(home, 'root.key'))).toBe(0o600)
    expect((await stat(join(home, 'data'))).isDirectory()).toBe(true)
    expect(await permissions(join(home, 'data'))).toBe(0o700)
    expect(await readFile(join(home, 'vault.lock'), 'utf8')).toBe(String(process.pid))
  })

  it('reopens with the same key, and the secrets persist', async () => {
    const key = await readFile(join(home, 'root.key'), 'utf8')
    await store?.storeSecret('persisted', 'still-here', { type: 'api_key' }, 'test')
    await close()
    expect(existsSync(join(home, 'vault.lock'))).toBe(false)

    const reopened = await open()
    expect(await readFile(join(home, 'root.key'), 'utf8')).toBe(key)
    expect(await reopened.getSecret('persisted', 'test')).toEqual({
      value: 'still-here',
      version: 1,
    })
    expect((await reopened.listSecrets('test')).map((secret) => secret.name)).toContain('persisted')
  })

  it('reports a closed store as unavailable', async () => {
    const closing = await open()
    await close()
    await rejection(closing.ping(), 'VAULT_UNAVAILABLE')
    await rejection(closing.getSecret('persisted', 'test'), 'VAULT_UNAVAILABLE')
    await open()
  })

  it('writes no root.key when the key is given, as an option or in KEYWARDEN_ROOT_KEY', async () => {
    const keyFile = join(home, 'root.key')
    const key = (await readFile(keyFile, 'utf8')).trim()
    await close()
    await rm(keyFile)
    try {
      const withOption = await open({ rootKey: key })
      expect(existsSync(keyFile)).toBe(false)
      expect((await withOption.getSecret('persisted', 'test'))?.value).toBe('still-here')

      vi.stubEnv('KEYWARDEN_ROOT_KEY', key)
      const fromEnvironment = await open()
      expect(existsSync(keyFile)).toBe(false)
      expect((await fromEnvironment.getSecret('persisted', 'test'))?.value).toBe('still-here')
      await close()
    } finally {
      vi.stubEnv('KEYWARDEN_ROOT_KEY', undefined)
      await close()
      await writeFile(keyFile, `${key}\n`, { mode: 0o600 })
    }

    // An empty KEYWARDEN_ROOT_KEY (`export KEYWARDEN_ROOT_KEY=`) counts as unset.
    vi.stubEnv('KEYWARDEN_ROOT_KEY', '')
    try {
      expect((await (await open()).getSecret('persisted', 'test'))?.value).toBe('still-here')
    } finally {
      vi.stubEnv('KEYWARDEN_ROOT_KEY', undefined)
    }
  })

  it('reads nothing under another root key', async () => {
    const other = await open({ rootKey: randomRootKey() })
    try {
      await rejection(other.getSecret('persisted', 'test'), 'DECRYPTION_FAILED')
    } finally {
      await open()
    }
  })

  it('refuses a root.key that other users can read', async () => {
    const exposed = join(parent, 'exposed')
    await mkdir(exposed, { mode: 0o700 })
    const key = randomRootKey()
    const keyFile = join(exposed, 'root.key')
    await writeFile(keyFile, `${key}\n`)
    for (const mode of [0o640, 0o604]) {
      await chmod(keyFile, mode)
      const error = await rejection(createEmbeddedStore({ home: exposed }), 'CONFIGURATION_ERROR')
      expect(error.message).toContain(`chmod 600 ${keyFile}`)
      expect(error.message).not.toContain(key)
    }
    // Refused before anything was opened or locked.
    expect(existsSync(join(exposed, 'data'))).toBe(false)
    expect(existsSync(join(exposed, 'vault.lock'))).toBe(false)
    expect(await readFile(keyFile, 'utf8')).toBe(`${key}\n`)
  })

  it('refuses a root.key that is not a 256-bit hex key, without quoting it', async () => {
    const broken = join(parent, 'broken')
    await mkdir(broken, { mode: 0o700 })
    await writeFile(join(broken, 'root.key'), 'not-a-key-but-maybe-a-secret\n', { mode: 0o600 })
    const error = await rejection(createEmbeddedStore({ home: broken }), 'ROOT_KEY_INVALID')
    expect(JSON.stringify(error)).not.toContain('not-a-key-but-maybe-a-secret')
    expect(existsSync(join(broken, 'vault.lock'))).toBe(false)
  })

  it('refuses a second store on the same home in this process, and keeps the first', async () => {
    const first = store ?? (await open())
    const error = await rejection(createEmbeddedStore({ home }), 'VAULT_UNAVAILABLE')
    expect(error.message).toMatch(/already open in this process/)
    // The refused attempt left the first store's lock and database alone.
    expect(await readFile(join(home, 'vault.lock'), 'utf8')).toBe(String(process.pid))
    expect((await first.getSecret('persisted', 'test'))?.value).toBe('still-here')
  })

  it('refuses another process while open, naming the holder, and lets it in once closed', async () => {
    await open()
    const refused = await openInAnotherProcess(home)
    expect(refused).toEqual({ code: 'VAULT_UNAVAILABLE', message: expect.any(String) })
    expect('message' in refused ? refused.message : '').toContain(`pid ${process.pid}`)
    expect(await readFile(join(home, 'vault.lock'), 'utf8')).toBe(String(process.pid))

    await close()
    expect(await openInAnotherProcess(home)).toEqual({ opened: true })
    expect(existsSync(join(home, 'vault.lock'))).toBe(false)
  })

  it('refuses a vault whose root.key was deleted, and makes no new key', async () => {
    await close()
    const keyFile = join(home, 'root.key')
    const kept = join(parent, 'root.key.backup')
    await rename(keyFile, kept)
    try {
      const error = await rejection(createEmbeddedStore({ home }), 'ROOT_KEY_MISSING')
      expect(error.message).toContain(keyFile)
      expect(error.message).toContain('KEYWARDEN_ROOT_KEY')
      expect(existsSync(keyFile)).toBe(false)
      expect(existsSync(join(home, 'vault.lock'))).toBe(false)
    } finally {
      await rename(kept, keyFile)
    }
    expect((await (await open()).getSecret('persisted', 'test'))?.value).toBe('still-here')
  })

  it('tightens a 0755 home and data/ to 0700 on the in-process path, and says so', async () => {
    await close()
    await chmod(home, 0o755)
    await chmod(join(home, 'data'), 0o755)
    const written: string[] = []
    const spy = vi.spyOn(process.stderr, 'write').mockImplementation((chunk) => {
      written.push(String(chunk))
      return true
    })
    try {
      await open()
    } finally {
      spy.mockRestore()
    }
    expect(await permissions(home)).toBe(0o700)
    expect(await permissions(join(home, 'data'))).toBe(0o700)
    expect(written.join('')).toMatch(/readable by other users \(mode 755\); it is now 0700/)
  })

  it('refuses a home that everyone can write, before touching it', async () => {
    const open777 = join(parent, 'open777')
    await mkdir(open777)
    await chmod(open777, 0o777)
    const error = await rejection(createEmbeddedStore({ home: open777 }), 'CONFIGURATION_ERROR')
    expect(error.message).toContain('writable by other users')
    expect(existsSync(join(open777, 'root.key'))).toBe(false)
    expect(existsSync(join(open777, 'data'))).toBe(false)
  })

  it.skipIf(SKIP_CHOWN)(`refuses a home owned by another user${CHOWN_NOTE}`, async () => {
    // The attack: another user's world-writable home, accepted in-process.
    const foreign = join(parent, 'foreign')
    await mkdir(foreign)
    await chmod(foreign, 0o777)
    await chown(foreign, 65534, 65534)
    const error = await rejection(createEmbeddedStore({ home: foreign }), 'CONFIGURATION_ERROR')
    expect(error.message).toContain('belongs to another user')
    expect(existsSync(join(foreign, 'root.key'))).toBe(false)
  })

  it('takes over a lock left by a process that died', async () => {
    await close()
    const lockFile = join(home, 'vault.lock')
    const dead = await deadPid()
    await writeFile(lockFile, String(dead), { mode: 0o600 })

    const reopened = await open()
    expect(await readFile(lockFile, 'utf8')).toBe(String(process.pid))
    expect((await reopened.getSecret('persisted', 'test'))?.value).toBe('still-here')
  })
})
