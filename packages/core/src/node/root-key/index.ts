/**
 * Where the embedded vault's root key lives: the OS keychain (macOS Keychain, Windows
 * Credential Manager, Linux Secret Service) by default where one is reachable, else the 0600
 * file `<home>/root.key` as before.
 *
 * Why: `root.key` sits beside the data it decrypts, readable by any process of the user (an
 * agent with a filesystem tool included) and copied into every backup of the home. In the
 * keychain it is encrypted at rest under the user's login, and only a program that asks the
 * keychain service gets it. That does not stop a program of the same user that asks (see
 * docs/architecture.md, "The root key in the OS keychain").
 *
 * The binding is `@napi-rs/keyring` (keyring-rs, prebuilt per platform as optional
 * dependencies). It is imported only when an embedded vault needs its key, so nothing else
 * loads a native module, and a platform without a prebuilt binary, a session without D-Bus or
 * a Secret Service that refuses the write falls back to the file.
 *
 * Rules, in order, for a home (KEYWARDEN_ROOT_KEY and KEYWARDEN_ROOT_KEY_FILE come first, in
 * the configuration, and never reach here):
 * 1. a `root.key` file in the home is used (an existing vault keeps its key where it is, until
 *    `keywarden key move`);
 * 2. else the keychain entry (service `keywarden`, account: the home's absolute path, so every
 *    vault, and every test's temporary one, has its own);
 * 3. else, when the vault has data, `ROOT_KEY_MISSING` with how to restore: never a new key,
 *    which would open none of the existing secrets;
 * 4. else a new key, in the keychain (read back before it is trusted), or the file.
 *
 * `KEYWARDEN_KEYCHAIN=off` turns the keychain off (rules 2 and 4 use the file).
 * @module
 */
import { randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { chmod, open, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { KeywardenError } from '../../errors/index.ts'
import { DATA_DIR, ROOT_KEY_FILE } from '../home/index.ts'

/** The keychain service every Keywarden root key is stored under. */
export const KEYCHAIN_SERVICE = 'keywarden'

/** The environment this module reads (`KEYWARDEN_KEYCHAIN`, and the keychain's own). */
export type RootKeyEnvironment = Readonly<Record<string, string | undefined>>

/** Where a root key is kept. Never the key. */
export type RootKeyLocation =
  | { kind: 'keychain'; keychain: string; service: string; account: string }
  | { kind: 'file'; path: string }

/** Whether a keychain can be used here, and if not, why. */
export type KeychainAvailability =
  | { available: true; keychain: string; service: string; account: string }
  | { available: false; reason: string }

/** A root key and where it came from. */
export interface LoadedRootKey {
  key: string
  location: RootKeyLocation
}

/** Options shared by this module's functions. */
export interface RootKeyOptions {
  /** Where `KEYWARDEN_KEYCHAIN` is read. Default `process.env`. */
  env?: RootKeyEnvironment
  /** Where a fallback from the keychain to the file is reported. Default: a stderr line. */
  warn?: (message: string) => void
}

const HEX_KEY = /^[0-9a-fA-F]{64}$/

const stderrWarning = (message: string) => {
  process.stderr.write(`keywarden: ${message}\n`)
}

/** One keychain entry: the root key of one home. */
interface KeychainEntry {
  readonly availability: Extract<KeychainAvailability, { available: true }>
  get(): Promise<string | null>
  set(key: string): Promise<void>
  remove(): Promise<boolean>
}

/** The keychain account of a home: its absolute path. */
export function keychainAccount(home: string): string {
  return resolve(home)
}

/** Whether `KEYWARDEN_KEYCHAIN` allows the keychain (unset, `auto`, `on`) or not (`off`, `0`). */
function keychainEnabled(env: RootKeyEnvironment = process.env): boolean {
  const setting = env.KEYWARDEN_KEYCHAIN?.trim().toLowerCase() ?? ''
  if (setting === '' || setting === 'auto' || setting === 'on' || setting === '1') return true
  if (setting === 'off' || setting === '0') return false
  throw new KeywardenError('CONFIGURATION_ERROR', 'KEYWARDEN_KEYCHAIN must be auto or off')
}

function platformKeychain(): string {
  if (process.platform === 'darwin') return 'macOS Keychain'
  if (process.platform === 'win32') return 'Windows Credential Manager'
  return 'Secret Service'
}

/** The first line of an error's message, for a reason shown to the user. */
function reasonOf(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error)
  return message.split('\n')[0]?.trim() || 'unknown error'
}

/**
 * The keychain entry for `home`, or why there is none: turned off, no binding for this
 * platform, or no keychain service reachable (on Linux: no D-Bus session, or no Secret
 * Service on it).
 */
async function openKeychainEntry(
  home: string,
  env: RootKeyEnvironment,
): Promise<KeychainEntry | { available: false; reason: string }> {
  if (!keychainEnabled(env)) return { available: false, reason: 'KEYWARDEN_KEYCHAIN=off' }
  let binding: typeof import('@napi-rs/keyring')
  try {
    binding = await import('@napi-rs/keyring')
  } catch (error) {
    return {
      available: false,
      reason: `no keychain binding for ${process.platform}-${process.arch} (@napi-rs/keyring: ${reasonOf(error)})`,
    }
  }
  const account = keychainAccount(home)
  let entry: InstanceType<typeof binding.AsyncEntry>
  try {
    // Linux: the Secret Service only. keyring-rs would otherwise fall back to the kernel
    // keyring, which forgets the key at logout or reboot.
    entry = new binding.AsyncEntry(KEYCHAIN_SERVICE, account, {
      linux: { store: 'secret-service' },
    })
  } catch (error) {
    return { available: false, reason: `${platformKeychain()} unreachable: ${reasonOf(error)}` }
  }
  return {
    availability: {
      available: true,
      keychain: platformKeychain(),
      service: KEYCHAIN_SERVICE,
      account,
    },
    get: () => entry.getPassword(),
    set: (key) => entry.setPassword(key),
    remove: () => entry.deletePassword(),
  }
}

/** Reads the entry; a keychain that cannot be read counts as unavailable, with the reason. */
async function readEntry(
  entry: KeychainEntry,
): Promise<{ ok: true; value: string | null } | { ok: false; reason: string }> {
  try {
    return { ok: true, value: await entry.get() }
  } catch (error) {
    return { ok: false, reason: `${entry.availability.keychain}: ${reasonOf(error)}` }
  }
}

function fileLocation(home: string): RootKeyLocation {
  return { kind: 'file', path: join(home, ROOT_KEY_FILE) }
}

function keychainLocation(entry: KeychainEntry): RootKeyLocation {
  const { keychain, service, account } = entry.availability
  return { kind: 'keychain', keychain, service, account }
}

/** The file's key, trimmed; undefined when there is no file. Owner and mode: checkVaultHome. */
async function readKeyFile(path: string): Promise<string | undefined> {
  try {
    return (await readFile(path, 'utf8')).trim()
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw error
  }
}

function checkedKey(key: string, where: string): string {
  if (!HEX_KEY.test(key)) {
    throw new KeywardenError(
      'ROOT_KEY_INVALID',
      `the vault root key in ${where} must be 64 hex characters`,
    )
  }
  return key
}

function describeLocation(location: RootKeyLocation): string {
  return location.kind === 'file'
    ? location.path
    : `the ${location.keychain} (service ${location.service}, account ${location.account})`
}

/** Whether the home holds a vault already: a data directory with anything in it. */
async function vaultHasData(home: string): Promise<boolean> {
  const dir = join(home, DATA_DIR)
  if (!existsSync(dir)) return false
  return (await readdir(dir)).length > 0
}

/**
 * The stored root key of `home` (file, else keychain), or undefined when there is none;
 * `keychain` says why the keychain was not asked or could not answer.
 */
async function findRootKey(
  home: string,
  env: RootKeyEnvironment,
): Promise<{ found?: LoadedRootKey; entry?: KeychainEntry; keychain: KeychainAvailability }> {
  const file = fileLocation(home)
  const opened = await openKeychainEntry(home, env)
  const fromFile = await readKeyFile(join(home, ROOT_KEY_FILE))
  const keychain: KeychainAvailability =
    'availability' in opened ? opened.availability : { available: false, reason: opened.reason }
  if (fromFile !== undefined) {
    return {
      found: { key: checkedKey(fromFile, describeLocation(file)), location: file },
      ...('availability' in opened ? { entry: opened } : {}),
      keychain,
    }
  }
  if (!('availability' in opened)) return { keychain }
  const read = await readEntry(opened)
  if (!read.ok) return { keychain: { available: false, reason: read.reason } }
  if (read.value === null) return { entry: opened, keychain }
  const location = keychainLocation(opened)
  return {
    found: { key: checkedKey(read.value.trim(), describeLocation(location)), location },
    entry: opened,
    keychain,
  }
}

function missingKeyError(home: string, keychain: KeychainAvailability): KeywardenError {
  const file = join(home, ROOT_KEY_FILE)
  const where = keychain.available
    ? `is in neither ${file} nor the ${keychain.keychain} (service ${keychain.service}, account ${keychain.account})`
    : `${file} is missing, and the keychain was not asked (${keychain.reason}); if the key was ` +
      'in the keychain, run this where the keychain is reachable'
  return new KeywardenError(
    'ROOT_KEY_MISSING',
    `the vault in ${home} has data but its root key ${where}. Restore it from your recovery ` +
      'copy with `keywarden key restore FILE` (or set KEYWARDEN_ROOT_KEY, or ' +
      'KEYWARDEN_ROOT_KEY_FILE, to it). A new key would open none of the existing secrets, ' +
      'so none is made.',
  )
}

/**
 * The root key of the embedded vault in `home` (see the module's rules), made on first use.
 * Call it holding the vault lock: only the lock holder may make the key, so two processes
 * starting at once cannot each store their own.
 */
export async function loadRootKey(
  home: string,
  options: RootKeyOptions = {},
): Promise<LoadedRootKey> {
  const env = options.env ?? process.env
  const { found, entry, keychain } = await findRootKey(home, env)
  if (found) return found
  if (await vaultHasData(home)) throw missingKeyError(home, keychain)
  const key = randomBytes(32).toString('hex')
  if (entry) {
    try {
      await storeInKeychain(entry, key)
      return { key, location: keychainLocation(entry) }
    } catch (error) {
      // A Secret Service that answers reads but has no collection to write to (no login
      // keyring), or one the user refused: the file, as where there is no keychain.
      ;(options.warn ?? stderrWarning)(
        `the ${entry.availability.keychain} did not take the new root key (${reasonOf(error)}); ` +
          `it is in ${join(home, ROOT_KEY_FILE)} (0600) instead`,
      )
    }
  }
  return {
    key: await writeNewKeyFile(join(home, ROOT_KEY_FILE), key),
    location: fileLocation(home),
  }
}

/** Stores `key` and reads it back: a keychain that silently dropped it must not be trusted. */
async function storeInKeychain(entry: KeychainEntry, key: string): Promise<void> {
  await entry.set(key)
  if ((await entry.get())?.trim() !== key) {
    await entry.remove().catch(() => false)
    throw new Error('the key read back differs from the key written')
  }
}

/** Writes a new key file (0600, never over an existing one); returns the key it holds. */
async function writeNewKeyFile(path: string, key: string): Promise<string> {
  try {
    await writeFile(path, `${key}\n`, { mode: 0o600, flag: 'wx' })
    await chmod(path, 0o600)
    return key
  } catch (error) {
    // Only the lock holder writes it; an existing file is someone's key: refuse to guess.
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') {
      throw new KeywardenError('CONFIGURATION_ERROR', `${path} appeared while the key was made`)
    }
    throw error
  }
}

/** Where the root key of `home` is, and whether a keychain could hold it. Never the key. */
export interface RootKeyReport {
  /** Where the key is; undefined when there is none yet (or it is lost: see `hasData`). */
  location?: RootKeyLocation
  keychain: KeychainAvailability
  /** Whether the vault holds data (a missing key is then an error, not a first run). */
  hasData: boolean
}

/** Where the root key of `home` is kept (see the module's rules). Reads, never creates. */
export async function describeRootKey(
  home: string,
  options: RootKeyOptions = {},
): Promise<RootKeyReport> {
  const { found, keychain } = await findRootKey(home, options.env ?? process.env)
  return {
    ...(found ? { location: found.location } : {}),
    keychain,
    hasData: await vaultHasData(home),
  }
}

/** The stored root key of `home`, for a recovery copy; `ROOT_KEY_MISSING` when there is none. */
export async function readRootKey(
  home: string,
  options: RootKeyOptions = {},
): Promise<LoadedRootKey> {
  const { found, keychain } = await findRootKey(home, options.env ?? process.env)
  if (found) return found
  if (await vaultHasData(home)) throw missingKeyError(home, keychain)
  throw new KeywardenError(
    'ROOT_KEY_MISSING',
    `the vault in ${home} has no root key yet (it is made by the first command that opens it)`,
  )
}

function keychainRequired(home: string, keychain: KeychainAvailability): KeywardenError {
  return new KeywardenError(
    'CONFIGURATION_ERROR',
    `no keychain is available for the vault in ${home}: ${keychain.available ? '' : keychain.reason}`,
  )
}

/**
 * Moves `<home>/root.key` into the keychain: stores it, reads it back and compares, and only
 * then overwrites the file and deletes it. An entry already holding another key is refused
 * (it may be the key of data this file does not open). Resolves the new location.
 */
export async function moveRootKeyToKeychain(
  home: string,
  options: RootKeyOptions = {},
): Promise<RootKeyLocation> {
  const env = options.env ?? process.env
  const path = join(home, ROOT_KEY_FILE)
  const fromFile = await readKeyFile(path)
  const opened = await openKeychainEntry(home, env)
  if (!('availability' in opened)) {
    throw keychainRequired(home, { available: false, reason: opened.reason })
  }
  const location = keychainLocation(opened)
  if (fromFile === undefined) {
    const read = await readEntry(opened)
    if (read.ok && read.value !== null) return location
    throw new KeywardenError('ROOT_KEY_MISSING', `there is no ${path} to move`)
  }
  const key = checkedKey(fromFile, path)
  const current = await readEntry(opened)
  if (!current.ok) throw keychainRequired(home, { available: false, reason: current.reason })
  if (current.value !== null && current.value.trim().toLowerCase() !== key.toLowerCase()) {
    throw new KeywardenError(
      'CONFIGURATION_ERROR',
      `${describeLocation(location)} already holds another root key; ${path} was left as it ` +
        'is. Find out which key opens this vault before removing either.',
    )
  }
  if (current.value === null) await storeInKeychain(opened, key)
  await destroyFile(path)
  return location
}

/**
 * Overwrites a file's bytes, flushes them and deletes it, so the key does not stay readable in
 * the freed blocks of a plain filesystem. (Copy-on-write filesystems, SSD remapping, snapshots
 * and backups may still hold old copies: the docs say so.)
 */
async function destroyFile(path: string): Promise<void> {
  const handle = await open(path, 'r+')
  try {
    const { size } = await handle.stat()
    await handle.write(Buffer.alloc(size), 0, size, 0)
    await handle.sync()
  } finally {
    await handle.close()
  }
  await rm(path)
}

/**
 * Stores a recovered root key for `home`: in the keychain where one is available, else in
 * `<home>/root.key` (0600). Refuses when a different key is already stored (the same key is
 * a no-op), so a restore can never replace a working key. Resolves where it went.
 */
export async function restoreRootKey(
  home: string,
  key: string,
  options: RootKeyOptions = {},
): Promise<RootKeyLocation> {
  const env = options.env ?? process.env
  const restored = checkedKey(key.trim(), 'the recovery copy').toLowerCase()
  const { found, entry } = await findRootKey(home, env)
  if (found) {
    if (found.key.toLowerCase() === restored) return found.location
    throw new KeywardenError(
      'CONFIGURATION_ERROR',
      `${describeLocation(found.location)} already holds another root key; nothing was changed`,
    )
  }
  if (entry) {
    await storeInKeychain(entry, restored)
    return keychainLocation(entry)
  }
  await writeNewKeyFile(join(home, ROOT_KEY_FILE), restored)
  return fileLocation(home)
}
