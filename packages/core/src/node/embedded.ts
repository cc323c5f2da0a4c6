/**
 * The embedded store: PGlite (PostgreSQL compiled to WebAssembly) in `KEYWARDEN_HOME`, the
 * zero-setup default on a laptop. The very same migrations run on open.
 *
 * PGlite is one process's database: two processes writing one data directory would corrupt
 * it. A lock file holding the owner's pid keeps a second process out, with an explanation; a
 * lock left by a process that died is taken over.
 */
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises'
import { homedir } from 'node:os'
import { join } from 'node:path'
import { KeywardenError } from '../errors/index.ts'
import { runMigrations } from '../migrate/index.ts'
import type { SecretStore } from '../store/index.ts'
import { createSqlStore } from '../store/sql.ts'
import { pgliteConnection } from './connections.ts'
import { checkVaultHome, DATA_DIR } from './home/index.ts'
import { loadMigrations } from './migrations.ts'
import { openPglite } from './pglite.ts'
import { loadRootKey } from './root-key/index.ts'

/** Options for {@link createEmbeddedStore}. */
export interface EmbeddedStoreOptions {
  /** Where the vault lives (default `KEYWARDEN_HOME`, else `~/.keywarden`). */
  home?: string
  /**
   * The root key (64 hex); default `KEYWARDEN_ROOT_KEY`, else the home's stored key (its
   * `root.key`, else the OS keychain; see `loadRootKey`), made on first use.
   */
  rootKey?: string
}

/** The default home: `KEYWARDEN_HOME`, else `~/.keywarden`. */
export function defaultKeywardenHome(
  env: Record<string, string | undefined> = process.env,
): string {
  return env.KEYWARDEN_HOME || join(homedir(), '.keywarden')
}

/**
 * Opens (creating on first use) the embedded vault and applies the migrations. The home must
 * pass {@link checkVaultHome} first, and a vault that has data but no key is refused with
 * `ROOT_KEY_MISSING`: a new key would open none of its secrets. The stored key is read (or
 * made) holding the vault lock, so two processes opening a new vault at once cannot each
 * make one.
 */
export async function createEmbeddedStore(
  options: EmbeddedStoreOptions = {},
): Promise<SecretStore> {
  return (await openEmbeddedVault(options)).store
}

/** An open embedded vault and the root key it was opened with (for the agent's fingerprint). */
export interface EmbeddedVault {
  store: SecretStore
  rootKey: string
}

/** {@link createEmbeddedStore}, also answering which key it used (read once, under the lock). */
export async function openEmbeddedVault(
  options: EmbeddedStoreOptions = {},
): Promise<EmbeddedVault> {
  const home = options.home ?? defaultKeywardenHome()
  await checkVaultHome(home, { create: true })
  // An empty KEYWARDEN_ROOT_KEY counts as unset, as it does in resolveStoreConfig.
  const givenKey = options.rootKey ?? (process.env.KEYWARDEN_ROOT_KEY?.trim() || undefined)
  checkRootKey(givenKey)

  const lockPath = join(home, 'vault.lock')
  await acquireLock(lockPath, home)
  try {
    const rootKey = givenKey ?? (await loadRootKey(home)).key
    // Made here, 0700, before PGlite would make it with the umask's 0755: names and
    // descriptions sit in its WAL.
    await mkdir(join(home, DATA_DIR), { recursive: true, mode: 0o700 })
    const db = await openPglite({ dataDir: join(home, DATA_DIR), rootKey })
    await runMigrations(pgliteConnection(db), await loadMigrations())
    const store = createSqlStore({
      kind: 'embedded',
      target: home,
      async query(sql, params) {
        return (await db.query<Record<string, unknown>>(sql, params)).rows
      },
      async subscribe(onChange) {
        return db.listen('keywarden_secrets', onChange)
      },
      async close() {
        try {
          await db.close()
        } finally {
          await rm(lockPath, { force: true })
        }
      },
    })
    return { store, rootKey }
  } catch (error) {
    await rm(lockPath, { force: true })
    throw error
  }
}

function checkRootKey(rootKey: string | undefined): void {
  if (rootKey !== undefined && !/^[0-9a-fA-F]{64}$/.test(rootKey)) {
    throw new KeywardenError('ROOT_KEY_INVALID', 'the vault root key must be 64 hex characters')
  }
}

async function acquireLock(lockPath: string, home: string): Promise<void> {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      await writeFile(lockPath, String(process.pid), { flag: 'wx', mode: 0o600 })
      return
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error
    }
    const owner = Number.parseInt(await readFile(lockPath, 'utf8').catch(() => ''), 10)
    if (owner === process.pid) {
      throw new KeywardenError(
        'VAULT_UNAVAILABLE',
        `the embedded vault in ${home} is already open in this process; share one client`,
      )
    }
    if (Number.isInteger(owner) && owner > 0 && isAlive(owner)) {
      throw new KeywardenError(
        'VAULT_UNAVAILABLE',
        `the embedded vault in ${home} is open in another process (pid ${owner}); ` +
          'PGlite serves one process at a time. Close that process, or point every tool at ' +
          'one PostgreSQL server with KEYWARDEN_DATABASE_URL.',
      )
    }
    // The owner died without cleaning up: take the lock over.
    await rm(lockPath, { force: true })
  }
  throw new KeywardenError('VAULT_UNAVAILABLE', `could not lock the embedded vault in ${home}`)
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}
