/**
 * The trust check of a vault home (`KEYWARDEN_HOME`, default `~/.keywarden`), one for every
 * path that opens it: the in-process embedded store (`KEYWARDEN_AGENT=0`), the agent that
 * serves it, and the agent's clients before they trust its socket.
 *
 * Why: whoever can write the home can delete `root.key` (and the next run would make a new
 * one that opens none of the existing secrets), plant a socket that answers for the vault, or
 * swap the data; whoever can read `data/` reads secret names and descriptions in the WAL.
 *
 * The rules, and what happens when one is broken:
 * - The home, `data/` and `root.key` belong to the current user: else refused.
 * - None of them is writable by group or others: refused, because someone else may already
 *   have changed them; the user checks, then runs the `chmod` the message gives.
 * - `root.key` is readable by nobody else: refused, because the key may already be copied
 *   (rotate it, then `chmod 600`).
 * - The home and `data/` are readable by nobody else: *tightened* to 0700, with a line on
 *   stderr. Reading is all others could have done; the user owns the directories, so fixing it
 *   for them is safe, and refusing would only stop the vault until they typed the same chmod.
 *
 * On platforms without POSIX owners (Windows) only the kind of file is checked.
 * @module
 */
import { chmod, mkdir, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { KeywardenError } from '../../errors/index.ts'

/** The file holding the embedded vault's root key, in the home. */
export const ROOT_KEY_FILE = 'root.key'

/** The embedded vault's PGlite data directory, in the home. */
export const DATA_DIR = 'data'

/** Options for {@link checkVaultHome}. */
export interface VaultHomeOptions {
  /** Create the home (mode 0700) when it does not exist. Default false. */
  create?: boolean
  /** Where a tightened mode is reported. Default: a `keywarden:` line on stderr. */
  warn?: (message: string) => void
}

const GROUP_OTHER_WRITE = 0o022
const GROUP_OTHER_ANY = 0o077

const stderrWarning = (message: string) => {
  process.stderr.write(`keywarden: ${message}\n`)
}

/**
 * Checks that `home` may be trusted with the vault (see the module's rules), creating it when
 * asked. Resolves false when it does not exist (and was not created), true when it passed;
 * rejects with `CONFIGURATION_ERROR` naming the path and the fix when it may not be trusted.
 */
export async function checkVaultHome(
  home: string,
  options: VaultHomeOptions = {},
): Promise<boolean> {
  const warn = options.warn ?? stderrWarning
  if (options.create) await mkdir(home, { recursive: true, mode: 0o700 })
  if (!(await checkDirectory(home, 'the vault home', warn))) return false
  await checkDirectory(join(home, DATA_DIR), 'the vault data directory', warn)
  await checkRootKeyFile(join(home, ROOT_KEY_FILE))
  return true
}

type Stats = Awaited<ReturnType<typeof stat>>

async function statOrUndefined(path: string): Promise<Stats | undefined> {
  try {
    return await stat(path)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw error
  }
}

function refuse(message: string): never {
  throw new KeywardenError('CONFIGURATION_ERROR', message)
}

/** Owner and write checks shared by the directories and the key file. */
function checkOwnerAndWriters(path: string, what: string, info: Stats, fix: string): void {
  const uid = process.getuid?.()
  if (uid === undefined) return
  if (info.uid !== uid) {
    refuse(
      `${what} ${path} belongs to another user (uid ${info.uid}, you are ${uid}); ` +
        'a vault must live in a directory of your own (set KEYWARDEN_HOME)',
    )
  }
  if ((Number(info.mode) & GROUP_OTHER_WRITE) !== 0) {
    refuse(
      `${what} ${path} is writable by other users, who may have changed it; check it, ` +
        `then run \`${fix}\``,
    )
  }
}

async function checkDirectory(
  path: string,
  what: string,
  warn: (message: string) => void,
): Promise<boolean> {
  const info = await statOrUndefined(path)
  if (!info) return false
  if (!info.isDirectory()) refuse(`${what} ${path} is not a directory`)
  checkOwnerAndWriters(path, what, info, `chmod 700 ${path}`)
  if (process.getuid?.() !== undefined && (Number(info.mode) & GROUP_OTHER_ANY) !== 0) {
    await chmod(path, 0o700)
    warn(
      `${what} ${path} was readable by other users (mode ${(Number(info.mode) & 0o777).toString(8)}); ` +
        'it is now 0700',
    )
  }
  return true
}

async function checkRootKeyFile(path: string): Promise<void> {
  const info = await statOrUndefined(path)
  if (!info) return
  checkPrivateFileInfo(path, 'the root key', info)
}

/**
 * Checks a file that holds a secret (a root key, a database password, a service role key),
 * with the root key's rules: a regular file of the current user that nobody else may write or
 * read. Rejects with `CONFIGURATION_ERROR` naming the path and the fix, also when it is missing.
 */
export async function checkPrivateFile(path: string, what: string): Promise<void> {
  const info = await statOrUndefined(path)
  if (!info) refuse(`${what} ${path} does not exist`)
  checkPrivateFileInfo(path, what, info)
}

function checkPrivateFileInfo(path: string, what: string, info: Stats): void {
  if (!info.isFile()) refuse(`${what} ${path} is not a regular file`)
  checkOwnerAndWriters(path, what, info, `chmod 600 ${path}`)
  if (process.getuid?.() !== undefined && (Number(info.mode) & GROUP_OTHER_ANY) !== 0) {
    refuse(
      `${what} ${path} is readable by other users, so it may have been copied; ` +
        `run \`chmod 600 ${path}\`, and treat what it holds as exposed to whoever could read it`,
    )
  }
}
