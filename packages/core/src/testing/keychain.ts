/**
 * Test-only: the OS keychain as the suites see it, checked independently of the code under
 * test. On Linux the keychain is a Secret Service on the D-Bus session (CI runs the tests in
 * `dbus-run-session` with an unlocked gnome-keyring, see `.ci/run`), and `secret-tool`
 * (libsecret) reads and deletes entries without going through `@napi-rs/keyring`.
 *
 * Which path a run exercises: the keychain where a session bus is set and `KEYWARDEN_KEYCHAIN`
 * is not `off`, else the file. In CI a run that should have a keychain and has none fails
 * ({@link requireKeychainWhenExpected}); it never quietly tests the file path instead.
 */
import { execFile } from 'node:child_process'
import { existsSync } from 'node:fs'
import { readdir, readFile, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, sep } from 'node:path'
import { promisify } from 'node:util'
import { KEYCHAIN_SERVICE } from '../node/root-key/index.ts'

const run = promisify(execFile)

/** Whether this run should find the root key in the keychain (else in `root.key`). */
export function keychainExpected(env: NodeJS.ProcessEnv = process.env): boolean {
  const setting = env.KEYWARDEN_KEYCHAIN?.trim().toLowerCase()
  if (setting === 'off' || setting === '0') return false
  // macOS and Windows always have theirs; these suites check entries with secret-tool (Linux).
  if (process.platform !== 'linux') return true
  return Boolean(env.DBUS_SESSION_BUS_ADDRESS)
}

/**
 * The environment variables a spawned process needs to reach the same keychain as this one
 * (the tests' child processes get a minimal environment of their own).
 */
export function keychainEnvironment(env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const passed: Record<string, string> = {}
  for (const name of ['DBUS_SESSION_BUS_ADDRESS', 'XDG_RUNTIME_DIR', 'KEYWARDEN_KEYCHAIN']) {
    const value = env[name]
    if (value !== undefined) passed[name] = value
  }
  return passed
}

/**
 * In CI on Linux, fails unless a Secret Service answers through `secret-tool` (a store, a
 * lookup and a clear of a throwaway entry), or `KEYWARDEN_KEYCHAIN=off` says to test the file.
 * Outside CI the run tests whichever path this machine has.
 */
export async function requireKeychainWhenExpected(): Promise<void> {
  if (!process.env.CI || process.platform !== 'linux' || !keychainWanted()) return
  if (!process.env.DBUS_SESSION_BUS_ADDRESS) {
    throw new Error(
      'CI=true but DBUS_SESSION_BUS_ADDRESS is not set: run the tests in dbus-run-session with an ' +
        'unlocked gnome-keyring-daemon (see .ci/run), or set KEYWARDEN_KEYCHAIN=off to test the file',
    )
  }
  const account = `probe-${process.pid}-${Date.now()}`
  const probe = ['service', `${KEYCHAIN_SERVICE}-probe`, 'username', account]
  try {
    await runWithInput('secret-tool', ['store', '--label=keywarden probe', ...probe], 'probe')
    const { stdout } = await run('secret-tool', ['lookup', ...probe])
    if (stdout !== 'probe') throw new Error(`secret-tool lookup returned ${stdout.length} bytes`)
  } catch (error) {
    throw new Error(
      `CI=true but no Secret Service answers on ${process.env.DBUS_SESSION_BUS_ADDRESS}: ${String(error)}`,
    )
  } finally {
    await run('secret-tool', ['clear', ...probe]).catch(() => {})
  }
}

function keychainWanted(): boolean {
  const setting = process.env.KEYWARDEN_KEYCHAIN?.trim().toLowerCase()
  return setting !== 'off' && setting !== '0'
}

function runWithInput(command: string, args: string[], input: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = execFile(command, args, (error) => (error ? reject(error) : resolve()))
    child.stdin?.end(input)
  })
}

/** The keychain's entry for a vault home, read with `secret-tool`; null when there is none. */
export async function secretToolLookup(account: string): Promise<string | null> {
  try {
    const { stdout } = await run('secret-tool', [
      'lookup',
      'service',
      KEYCHAIN_SERVICE,
      'username',
      account,
    ])
    return stdout === '' ? null : stdout
  } catch (error) {
    // secret-tool exits 1, printing nothing, when no entry matches.
    if ((error as { code?: number }).code === 1) return null
    throw error
  }
}

/** Deletes a vault home's keychain entry with `secret-tool`, as a user (or a mishap) would. */
export async function secretToolClear(account: string): Promise<void> {
  await run('secret-tool', ['clear', 'service', KEYCHAIN_SERVICE, 'username', account])
}

/** The encodings a root key could be written in: hex (both cases), raw bytes, base64. */
function keyEncodings(key: string): Buffer[] {
  const raw = Buffer.from(key, 'hex')
  return [
    Buffer.from(key.toLowerCase()),
    Buffer.from(key.toUpperCase()),
    raw,
    Buffer.from(raw.toString('base64')),
    Buffer.from(raw.toString('base64url')),
  ]
}

/** Every file under `dirs` whose bytes hold `key` in one of its encodings. */
export async function filesHoldingKey(dirs: readonly string[], key: string): Promise<string[]> {
  const needles = keyEncodings(key)
  const found: string[] = []
  const visit = async (path: string): Promise<void> => {
    const info = await stat(path).catch(() => undefined)
    if (!info) return
    if (info.isDirectory()) {
      for (const name of await readdir(path).catch(() => [])) await visit(join(path, name))
      return
    }
    if (!info.isFile()) return
    const bytes = await readFile(path).catch(() => undefined)
    if (bytes && needles.some((needle) => bytes.includes(needle))) found.push(path)
  }
  for (const dir of dirs) await visit(dir)
  return found
}

/**
 * Vitest global teardown: deletes the keychain entries of vault homes that were temporary
 * directories and are gone, so test runs leave nothing in the keychain. Entries of homes that
 * still exist (another package's suite may be running) and of real homes are left alone.
 */
export async function teardown(): Promise<void> {
  let binding: typeof import('@napi-rs/keyring')
  try {
    binding = await import('@napi-rs/keyring')
  } catch {
    return
  }
  const temporary = `${tmpdir()}${sep}`
  let credentials: { account: string }[]
  try {
    credentials = await binding.findCredentialsAsync(KEYCHAIN_SERVICE)
  } catch {
    return
  }
  for (const { account } of credentials) {
    if (!account.startsWith(temporary) || existsSync(account)) continue
    await new binding.AsyncEntry(KEYCHAIN_SERVICE, account, { linux: { store: 'secret-service' } })
      .deletePassword()
      .catch(() => false)
  }
}
