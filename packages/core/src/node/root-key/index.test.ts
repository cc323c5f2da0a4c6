/**
 * Where the root key lives, for real: under `dbus-run-session` with an unlocked gnome-keyring
 * (CI, `.ci/run`) the key must be in the Secret Service — checked with `secret-tool`, not
 * through the code under test — and in no file; without a session bus (or with
 * `KEYWARDEN_KEYCHAIN=off`) the same suite checks the 0600 file. Each home has its own
 * keychain account (its path), so suites running side by side never share an entry, and
 * every entry made here is deleted here.
 *
 * Most cases need no database: `loadRootKey` only looks at whether `data/` holds anything, so
 * a data directory with one file stands for a vault. One case opens a real one.
 */
import { execFile } from 'node:child_process'
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { randomRootKey } from '../../testing/databases.ts'
import { rejection } from '../../testing/expect.ts'
import {
  filesHoldingKey,
  keychainEnvironment,
  keychainExpected,
  requireKeychainWhenExpected,
  secretToolClear,
  secretToolLookup,
} from '../../testing/keychain.ts'
import { createEmbeddedStore } from '../embedded.ts'
import {
  describeRootKey,
  KEYCHAIN_SERVICE,
  keychainAccount,
  loadRootKey,
  moveRootKeyToKeychain,
  readRootKey,
  restoreRootKey,
} from './index.ts'

const run = promisify(execFile)
const BUILT_ENTRY = fileURLToPath(new URL('../../../dist/node/index.js', import.meta.url))
const KEYCHAIN = keychainExpected()
const MODE = KEYCHAIN ? 'keychain (Secret Service)' : 'file (no keychain in this run)'

describe(`the root key's home: ${MODE}`, () => {
  let scratch = ''
  let count = 0
  const homes: string[] = []

  /** A new home (0700, not created by the store), registered for keychain cleanup. */
  const newHome = async (options: { data?: boolean } = {}) => {
    const home = join(scratch, `h${count++}`)
    await mkdir(home, { mode: 0o700 })
    if (options.data) {
      await mkdir(join(home, 'data'), { mode: 0o700 })
      await writeFile(join(home, 'data', 'PG_VERSION'), '18\n', { mode: 0o600 })
    }
    homes.push(home)
    return home
  }
  const quiet = { warn: () => {} }

  beforeAll(async () => {
    await requireKeychainWhenExpected()
    scratch = await mkdtemp(join(tmpdir(), 'kw-root-key-'))
    vi.stubEnv('KEYWARDEN_ROOT_KEY', undefined)
  })
  afterAll(async () => {
    vi.unstubAllEnvs()
    if (KEYCHAIN) {
      for (const home of homes) await secretToolClear(keychainAccount(home)).catch(() => {})
    }
    if (scratch) await rm(scratch, { recursive: true, force: true })
  })

  it('makes a new key where this machine keeps keys, and reports where (never the key)', async () => {
    const home = await newHome()
    const { key, location } = await loadRootKey(home, quiet)
    expect(key).toMatch(/^[0-9a-f]{64}$/)
    const account = keychainAccount(home)
    expect(account).toBe(home)
    if (KEYCHAIN) {
      expect(location).toEqual({
        kind: 'keychain',
        keychain: 'Secret Service',
        service: KEYCHAIN_SERVICE,
        account,
      })
      expect(await secretToolLookup(account)).toBe(key)
      // In no file: not the home, not this suite's temporary directory.
      expect(await filesHoldingKey([home, scratch], key)).toEqual([])
    } else {
      expect(location).toEqual({ kind: 'file', path: join(home, 'root.key') })
      expect(await readFile(join(home, 'root.key'), 'utf8')).toBe(`${key}\n`)
      expect((await stat(join(home, 'root.key'))).mode & 0o777).toBe(0o600)
    }
    // The same key on the next open, and the report names the place, not the key.
    expect(await loadRootKey(home, quiet)).toEqual({ key, location })
    const report = await describeRootKey(home)
    expect(report).toMatchObject({ location, hasData: false, keychain: { available: KEYCHAIN } })
    expect(JSON.stringify(report)).not.toContain(key)
  })

  it('a real vault: its secrets open with the stored key, and no file holds it', async () => {
    const home = join(scratch, `vault${count++}`)
    homes.push(home)
    const store = await createEmbeddedStore({ home })
    try {
      await store.storeSecret('kept', 'kept-value', {}, 'test')
    } finally {
      await store.close()
    }
    const { key, location } = await readRootKey(home)
    expect(location.kind).toBe(KEYCHAIN ? 'keychain' : 'file')
    if (KEYCHAIN) {
      expect(await secretToolLookup(home)).toBe(key)
      // PGlite's files, the WAL and the agent-free lock included.
      expect(await filesHoldingKey([home, scratch], key)).toEqual([])
    }
    const reopened = await createEmbeddedStore({ home })
    try {
      expect((await reopened.getSecret('kept', 'test'))?.value).toBe('kept-value')
    } finally {
      await reopened.close()
    }
  })

  it('a vault whose stored key was deleted is refused with how to restore, and restores', async () => {
    const home = await newHome()
    const { key } = await loadRootKey(home, quiet)
    // The vault gets data; then the key goes (secret-tool clear, or rm root.key).
    await mkdir(join(home, 'data'), { mode: 0o700 })
    await writeFile(join(home, 'data', 'PG_VERSION'), '18\n')
    if (KEYCHAIN) await secretToolClear(home)
    else await rm(join(home, 'root.key'))

    const error = await rejection(loadRootKey(home, quiet), 'ROOT_KEY_MISSING')
    expect(error.message).toContain('keywarden key restore')
    expect(error.message).toContain('KEYWARDEN_ROOT_KEY')
    expect(error.message).toContain(join(home, 'root.key'))
    if (KEYCHAIN) expect(error.message).toContain(`account ${home}`)
    expect(error.exitCode).toBe(1)
    // No new key was made anywhere.
    expect(await secretToolLookupOrNull(home)).toBeNull()
    await expect(stat(join(home, 'root.key'))).rejects.toThrow()

    // Another key is not this vault's, but only the vault can tell: restore takes what it is
    // given; here it is the right one, and goes where keys are kept.
    const location = await restoreRootKey(home, key.toUpperCase())
    expect(location.kind).toBe(KEYCHAIN ? 'keychain' : 'file')
    expect((await loadRootKey(home, quiet)).key).toBe(key)
    // Restoring again is a no-op; restoring a different key over it is refused.
    expect(await restoreRootKey(home, key)).toEqual(location)
    const other = randomRootKey()
    const refused = await rejection(restoreRootKey(home, other), 'CONFIGURATION_ERROR')
    expect(refused.message).toContain('already holds another root key')
    expect(refused.message).not.toContain(other)
    expect((await loadRootKey(home, quiet)).key).toBe(key)
    await rejection(restoreRootKey(home, 'not-a-key'), 'ROOT_KEY_INVALID')
  })

  it('an existing root.key stays in use until moved, then is only in the keychain', async () => {
    const home = await newHome({ data: true })
    const key = randomRootKey()
    await writeFile(join(home, 'root.key'), `${key}\n`, { mode: 0o600 })
    expect(await loadRootKey(home, quiet)).toEqual({
      key,
      location: { kind: 'file', path: join(home, 'root.key') },
    })
    if (!KEYCHAIN) {
      const error = await rejection(moveRootKeyToKeychain(home), 'CONFIGURATION_ERROR')
      expect(error.message).toContain('no keychain is available')
      expect(await readFile(join(home, 'root.key'), 'utf8')).toBe(`${key}\n`)
      return
    }
    const location = await moveRootKeyToKeychain(home)
    expect(location).toMatchObject({ kind: 'keychain', account: home })
    expect(await secretToolLookup(home)).toBe(key)
    await expect(stat(join(home, 'root.key'))).rejects.toThrow()
    expect(await filesHoldingKey([home, scratch], key)).toEqual([])
    expect(await loadRootKey(home, quiet)).toEqual({ key, location })
    // Moving again finds it there already.
    expect(await moveRootKeyToKeychain(home)).toEqual(location)
  })

  it.runIf(KEYCHAIN)(
    'refuses to move a root.key over a keychain entry that holds another key',
    async () => {
      const home = await newHome({ data: true })
      const inKeychain = await restoreRootKey(home, randomRootKey())
      expect(inKeychain.kind).toBe('keychain')
      const other = randomRootKey()
      await writeFile(join(home, 'root.key'), `${other}\n`, { mode: 0o600 })
      const error = await rejection(moveRootKeyToKeychain(home), 'CONFIGURATION_ERROR')
      expect(error.message).toContain('already holds another root key')
      expect(error.message).not.toContain(other)
      // Both left as they were.
      expect(await readFile(join(home, 'root.key'), 'utf8')).toBe(`${other}\n`)
      expect(await secretToolLookup(home)).not.toBe(other)
    },
  )

  it('KEYWARDEN_KEYCHAIN=off keeps the key in the file; another value is refused', async () => {
    const home = await newHome()
    const before = process.env.KEYWARDEN_KEYCHAIN
    try {
      vi.stubEnv('KEYWARDEN_KEYCHAIN', 'off')
      await fileOnly(home)
      vi.stubEnv('KEYWARDEN_KEYCHAIN', 'sometimes')
      await rejection(loadRootKey(await newHome(), quiet), 'CONFIGURATION_ERROR')
    } finally {
      vi.stubEnv('KEYWARDEN_KEYCHAIN', before)
    }
  })

  async function fileOnly(home: string): Promise<void> {
    const { key, location } = await loadRootKey(home, quiet)
    expect(location).toEqual({ kind: 'file', path: join(home, 'root.key') })
    expect(await readFile(join(home, 'root.key'), 'utf8')).toBe(`${key}\n`)
    expect(await secretToolLookupOrNull(home)).toBeNull()
    expect((await describeRootKey(home)).keychain).toEqual({
      available: false,
      reason: 'KEYWARDEN_KEYCHAIN=off',
    })
  }

  describe('falls back to the file, in a process of its own (the built package)', () => {
    /** Makes a key for a new home in another process; returns where it went and the stderr. */
    const makeKeyElsewhere = async (
      env: Record<string, string>,
      nodeOptions: string[] = [],
      wrapper: string[] = [],
    ) => {
      const home = await newHome()
      const script = `
        const { loadRootKey } = await import(process.env.KW_ENTRY)
        const { location } = await loadRootKey(process.env.KW_HOME)
        process.stdout.write('\\n' + JSON.stringify(location))
      `
      // The last line: a gnome-keyring that D-Bus starts on the way prints its variables.
      const [command = process.execPath, ...prefix] = [...wrapper, process.execPath]
      const { stdout, stderr } = await run(
        command,
        [...prefix, ...nodeOptions, '--input-type=module', '-e', script],
        {
          env: {
            PATH: process.env.PATH,
            KW_ENTRY: pathToFileURL(BUILT_ENTRY).href,
            KW_HOME: home,
            ...env,
          },
          timeout: 30_000,
        },
      )
      return {
        home,
        location: JSON.parse(stdout.trim().split('\n').at(-1) ?? '') as { kind: string },
        stderr,
      }
    }

    it('when the platform has no keychain binding (the optional dependency is missing)', async () => {
      // A resolve hook that fails @napi-rs/keyring as npm leaves it when no prebuilt binary
      // matched the platform.
      const hooks = join(scratch, 'no-binding.mjs')
      await writeFile(
        hooks,
        `export async function resolve(specifier, context, next) {
          if (specifier === '@napi-rs/keyring') {
            throw Object.assign(new Error('Cannot find module @napi-rs/keyring-test-platform'), { code: 'ERR_MODULE_NOT_FOUND' })
          }
          return next(specifier, context)
        }`,
      )
      const register = join(scratch, 'register.mjs')
      await writeFile(
        register,
        `import { register } from 'node:module'; register(${JSON.stringify(pathToFileURL(hooks).href)})`,
      )
      const made = await makeKeyElsewhere(keychainEnvironment(), ['--import', register])
      expect(made.location).toEqual({ kind: 'file', path: join(made.home, 'root.key') })
      expect(made.stderr).toBe('')
      expect(await secretToolLookupOrNull(made.home)).toBeNull()
    })

    it.runIf(process.platform === 'linux')(
      'when no D-Bus session answers (a bus address with nothing behind it)',
      async () => {
        const made = await makeKeyElsewhere({
          DBUS_SESSION_BUS_ADDRESS: `unix:path=${join(scratch, 'no-bus')}`,
        })
        expect(made.location).toEqual({ kind: 'file', path: join(made.home, 'root.key') })
        expect(made.stderr).toBe('')
      },
    )

    it.runIf(process.platform === 'linux' && KEYCHAIN)(
      'when a Secret Service answers but cannot store (no login keyring), with one line on stderr',
      async () => {
        // A session bus of its own, where D-Bus activation starts a gnome-keyring with an empty
        // keyring directory and nobody to unlock (or create) a login keyring.
        const keyrings = await mkdtemp(join(tmpdir(), 'kw-no-keyring-'))
        try {
          const made = await makeKeyElsewhere(
            { XDG_DATA_HOME: keyrings },
            [],
            ['dbus-run-session', '--'],
          )
          expect(made.location).toEqual({ kind: 'file', path: join(made.home, 'root.key') })
          expect(made.stderr).toMatch(
            /^keywarden: the Secret Service did not take the new root key \(.+\); it is in .+root\.key \(0600\) instead\n/m,
          )
        } finally {
          await rm(keyrings, { recursive: true, force: true })
        }
      },
    )

    it.runIf(process.platform === 'linux')('when there is no session bus at all', async () => {
      const made = await makeKeyElsewhere({})
      expect(made.location).toEqual({ kind: 'file', path: join(made.home, 'root.key') })
      expect(made.stderr).toBe('')
    })
  })
})

/** secret-tool's answer, or null where there is no keychain to ask. */
async function secretToolLookupOrNull(account: string): Promise<string | null> {
  return KEYCHAIN ? secretToolLookup(account) : null
}
