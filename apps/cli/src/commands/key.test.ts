/**
 * `keywarden key` and the root key's place, with the real CLI and its agent: under
 * `dbus-run-session` with an unlocked gnome-keyring (CI) the key must be in the Secret Service
 * (checked with `secret-tool`) and in no file; without a session bus, or with
 * `KEYWARDEN_KEYCHAIN=off`, the same cases check the 0600 file. In CI a run that should have a
 * keychain and has none fails in beforeAll.
 */
import { randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { stopAgent } from '@keywarden/core/node'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  filesHoldingKey,
  keychainExpected,
  requireKeychainWhenExpected,
  secretToolClear,
  secretToolLookup,
} from '../../../../packages/core/src/testing/keychain.ts'
import { expectOneErrorLine } from '../testing/command-suite.ts'
import { runCli } from '../testing/run-cli.ts'
import { runInTerminal } from '../testing/terminal.ts'

const KEYCHAIN = keychainExpected()
const MODE = KEYCHAIN ? 'in the keychain (Secret Service)' : 'in the file (no keychain in this run)'

describe(`the root key ${MODE}`, () => {
  let scratch = ''
  let count = 0
  const homes: string[] = []

  /** A vault home with one secret in it, made by the CLI. */
  const newVault = async (env: Record<string, string> = {}) => {
    const home = join(scratch, `v${count++}`)
    homes.push(home)
    const stored = await runCli(['set', 'github_token'], {
      env: { KEYWARDEN_HOME: home, ...env },
      input: 'ghp_keychain_test_value',
    })
    expect(stored.code, stored.stderr).toBe(0)
    return home
  }
  /** The key as stored, read around the CLI: secret-tool, or the file. */
  const storedKey = async (home: string) =>
    KEYCHAIN
      ? await secretToolLookup(home)
      : await readFile(join(home, 'root.key'), 'utf8').then(
          (text) => text.trim(),
          () => null,
        )
  const json = <T>(text: string) => JSON.parse(text) as T

  beforeAll(async () => {
    await requireKeychainWhenExpected()
    scratch = await mkdtemp(join(tmpdir(), 'kw-cli-key-'))
  })
  afterAll(async () => {
    for (const home of homes) {
      await stopAgent(home)
      if (KEYCHAIN) await secretToolClear(home).catch(() => {})
    }
    if (scratch) await rm(scratch, { recursive: true, force: true, maxRetries: 3 })
  })

  it('a new vault keeps its key there; status and `key` say where, never the key', async () => {
    const home = await newVault()
    const key = await storedKey(home)
    expect(key).toMatch(/^[0-9a-f]{64}$/)
    const expected = KEYCHAIN
      ? { kind: 'keychain', keychain: 'Secret Service', service: 'keywarden', account: home }
      : { kind: 'file', path: join(home, 'root.key') }
    if (KEYCHAIN) {
      expect(existsSync(join(home, 'root.key'))).toBe(false)
      // Not in the home (PGlite's files and WAL, the agent's log), nor anywhere in this suite's
      // temporary directory.
      expect(await filesHoldingKey([home, scratch], key ?? '')).toEqual([])
    } else {
      expect((await stat(join(home, 'root.key'))).mode & 0o777).toBe(0o600)
    }

    const env = { KEYWARDEN_HOME: home }
    const status = await runCli(['status', '--json'], { env })
    expect(status.code, status.stderr).toBe(0)
    expect(json<{ root_key: unknown }>(status.stdout).root_key).toEqual(expected)
    const people = await runCli(['status'], { env })
    expect(people.stdout).toMatch(
      KEYCHAIN ? /^Root key +keychain: Secret Service/m : /^Root key +file /m,
    )

    const where = await runCli(['key', '--json'], { env })
    expect(where.code, where.stderr).toBe(0)
    expect(json(where.stdout)).toMatchObject({
      home,
      root_key: expected,
      keychain: { available: KEYCHAIN },
      has_data: true,
    })
    for (const output of [status, people, where]) {
      expect(output.stdout + output.stderr).not.toContain(key ?? '')
    }
  })

  it('losing the stored key: every command fails (exit 1) with how to restore, and restore brings the data back', async () => {
    const home = await newVault()
    const env = { KEYWARDEN_HOME: home }
    const copy = join(scratch, `copy${count++}.key`)
    const exported = await runCli(['key', 'export', '--out', copy], { env })
    expect(exported.code, exported.stderr).toBe(0)
    expect((await stat(copy)).mode & 0o777).toBe(0o600)
    const key = await storedKey(home)
    expect(await readFile(copy, 'utf8')).toBe(`${key}\n`)
    expect(exported.stdout).not.toContain(key ?? '')

    // The agent holds the key while it runs; the loss shows at the next start.
    await stopAgent(home)
    if (KEYCHAIN) await secretToolClear(home)
    else await rm(join(home, 'root.key'))
    const dataBefore = await readdir(join(home, 'data'))

    for (const args of [['get', 'github_token'], ['list']]) {
      const failed = await runCli(args, { env })
      expect(failed.code, args.join(' ')).toBe(1)
      expectOneErrorLine(failed, /has data but its root key .*keywarden key restore FILE/)
      expect(failed.stdout).toBe('')
    }
    const status = await runCli(['status', '--json'], { env })
    expect(status.code).toBe(1)
    expect(json<{ root_key: unknown }>(status.stdout).root_key).toEqual({ kind: 'missing' })
    // Nothing was made in its place, and the data is untouched.
    expect(await storedKey(home)).toBeNull()
    expect(existsSync(join(home, 'root.key'))).toBe(false)
    expect(await readdir(join(home, 'data'))).toEqual(dataBefore)

    const restored = await runCli(['key', 'restore', copy], { env })
    expect(restored.code, restored.stderr).toBe(0)
    expect(restored.stdout).toContain(KEYCHAIN ? 'keychain: Secret Service' : 'file ')
    expect(await storedKey(home)).toBe(key)
    const read = await runCli(['get', 'github_token'], { env })
    expect(read.code, read.stderr).toBe(0)
    expect(read.stdout).toBe('ghp_keychain_test_value')

    // Restoring another key over a stored one is refused, without echoing it.
    const other = randomBytes(32).toString('hex')
    const refused = await runCli(['key', 'restore'], { env, input: other })
    expect(refused.code).toBe(1)
    expectOneErrorLine(refused, /already holds another root key; nothing was changed/)
    expect(refused.stderr).not.toContain(other)
    expect(await storedKey(home)).toBe(key)
  })

  it('`key move` moves an existing root.key into the keychain and deletes it (refused without one)', async () => {
    // A vault made where the keychain was off: its key is in root.key.
    const home = await newVault({ KEYWARDEN_KEYCHAIN: 'off' })
    // Its agent runs with KEYWARDEN_KEYCHAIN=off; later commands must start their own.
    await stopAgent(home)
    const file = join(home, 'root.key')
    const key = (await readFile(file, 'utf8')).trim()
    const env = { KEYWARDEN_HOME: home }
    const moved = await runCli(['key', 'move'], { env })
    if (!KEYCHAIN) {
      expect(moved.code).toBe(1)
      expectOneErrorLine(moved, /no keychain is available/)
      expect(await readFile(file, 'utf8')).toBe(`${key}\n`)
      return
    }
    expect(moved.code, moved.stderr).toBe(0)
    expect(moved.stdout).toContain(`keychain: Secret Service (service keywarden, account ${home})`)
    expect(moved.stderr).toContain('keywarden key export --out FILE')
    expect(existsSync(file)).toBe(false)
    expect(await secretToolLookup(home)).toBe(key)
    expect(await filesHoldingKey([home, scratch], key)).toEqual([])
    const read = await runCli(['get', 'github_token'], { env })
    expect(read.stdout).toBe('ghp_keychain_test_value')
  })

  it('export shows the key only on a terminal, else only into a new 0600 file', async () => {
    const home = await newVault()
    const env = { KEYWARDEN_HOME: home }
    const key = await storedKey(home)
    const piped = await runCli(['key', 'export'], { env })
    expect(piped.code).toBe(2)
    expectOneErrorLine(piped, /only on a terminal; write it to a file with --out FILE/)
    expect(piped.stdout).toBe('')

    const taken = join(scratch, 'taken.key')
    await writeFile(taken, 'something else\n', { mode: 0o600 })
    const refused = await runCli(['key', 'export', '--out', taken], { env })
    expect(refused.code).toBe(1)
    expectOneErrorLine(refused, /exists; choose a new file/)
    expect(await readFile(taken, 'utf8')).toBe('something else\n')

    if (process.platform === 'linux') {
      const shown = await runInTerminal(['key', 'export'], env)
      expect(shown.code).toBe(0)
      expect(shown.screen).toContain('it is not shown again')
      expect(shown.screen).toContain(`${key}\r\n`)
    }
  })

  it('KEYWARDEN_ROOT_KEY_FILE and KEYWARDEN_ROOT_KEY take precedence; `key` says so and leaves the stored key', async () => {
    const home = await newVault()
    const key = await storedKey(home)
    const keyFile = join(scratch, `file${count++}.key`)
    await writeFile(keyFile, `${key}\n`, { mode: 0o600 })
    // The stored key stays, but the file named is what the vault is opened with.
    if (KEYCHAIN) await stopAgent(home)
    const fileEnv = { KEYWARDEN_HOME: home, KEYWARDEN_ROOT_KEY_FILE: keyFile }
    const fromFile = await runCli(['status', '--json'], { env: fileEnv })
    expect(fromFile.code, fromFile.stderr).toBe(0)
    expect(json<{ root_key: unknown }>(fromFile.stdout).root_key).toEqual({
      kind: 'file',
      path: keyFile,
      variable: 'KEYWARDEN_ROOT_KEY_FILE',
    })
    expect((await runCli(['get', 'github_token'], { env: fileEnv })).stdout).toBe(
      'ghp_keychain_test_value',
    )

    const override = randomBytes(32).toString('hex')
    const env = { KEYWARDEN_HOME: home, KEYWARDEN_ROOT_KEY: override }
    const where = await runCli(['key', '--json'], { env })
    expect(json<{ root_key: unknown }>(where.stdout).root_key).toEqual({
      kind: 'environment',
      variable: 'KEYWARDEN_ROOT_KEY',
    })
    expect(where.stdout).not.toContain(override)
    for (const task of ['move', 'export']) {
      const refused = await runCli(
        ['key', task, ...(task === 'export' ? ['--out', join(scratch, 'x')] : [])],
        { env },
      )
      expect(refused.code).toBe(1)
      expectOneErrorLine(refused, /KEYWARDEN_ROOT_KEY is set and takes precedence/)
    }
  })
})
