/**
 * Rewriting a user's own files (a shell rc, Claude Desktop's config) safely: a backup first,
 * then an atomic replace, each written durably with the original's mode.
 */
import { open, rename, unlink } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'

/** `FILE.backup`, or `FILE.backup.1`, `.2`… when an earlier backup is there. Returns its path. */
export async function writeBackup(file: string, content: Buffer, mode: number): Promise<string> {
  for (let attempt = 0; ; attempt++) {
    const path = attempt === 0 ? `${file}.backup` : `${file}.backup.${attempt}`
    try {
      await writeDurably(path, content, mode)
      return path
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error
    }
  }
}

/**
 * Replaces `target` with `content` through a temporary file beside it and a rename, so a crash
 * leaves the old file or the new one, never half of one. `check` runs just before the rename
 * (e.g. that nobody changed the file meanwhile); if it throws, nothing is replaced.
 */
export async function replaceAtomically(
  target: string,
  content: Buffer,
  mode: number,
  check: () => Promise<void> = async () => {},
): Promise<void> {
  const temporary = join(dirname(target), `.${basename(target)}.keywarden-${process.pid}`)
  try {
    await writeDurably(temporary, content, mode)
    await check()
    await rename(temporary, target)
  } catch (error) {
    await unlink(temporary).catch(() => {})
    throw error
  }
}

// Creates the file (failing if it exists), with the mode exactly (the umask would narrow it),
// and on disk before it returns.
async function writeDurably(path: string, content: Buffer, mode: number): Promise<void> {
  const handle = await open(path, 'wx', mode)
  try {
    await handle.writeFile(content)
    await handle.chmod(mode)
    await handle.sync()
  } finally {
    await handle.close()
  }
}
