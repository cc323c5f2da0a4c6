/**
 * Reading a client's config file and writing it back: an existing file is copied first to a
 * 0600 backup (it holds the tokens being moved), the new text replaces it atomically, and a
 * file that changed while Keywarden worked is left alone.
 */
import { access, mkdir, readFile, realpath, stat } from 'node:fs/promises'
import { dirname } from 'node:path'
import { KeywardenError } from '@keywarden/core'
import { replaceAtomically, writeBackup } from '../../files.ts'
import { type ConfigDocument, type DocumentFormat, parseDocument } from '../document/index.ts'

/** A config file as read, with its document to edit. */
export interface ConfigFile {
  file: string
  existed: boolean
  /** The bytes read: backed up, and compared before the write to catch a change meanwhile. */
  original: Buffer
  bom: boolean
  document: ConfigDocument
}

/** Options for {@link readConfigFile}. */
export interface ReadConfigOptions {
  /** A missing file is an error (there is nothing to wrap) instead of an empty document. */
  mustExist?: boolean
}

/** Reads and parses `file`; a missing one is an empty document unless `mustExist`. */
export async function readConfigFile(
  file: string,
  format: DocumentFormat,
  { mustExist = false }: ReadConfigOptions = {},
): Promise<ConfigFile> {
  let original: Buffer
  try {
    original = await readFile(file)
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    if (code === 'ENOENT' && !mustExist) {
      return {
        file,
        existed: false,
        original: Buffer.alloc(0),
        bom: false,
        document: parseDocument('', format, file),
      }
    }
    const why =
      code === 'ENOENT'
        ? 'no such file, so nothing to wrap'
        : code === 'EACCES'
          ? 'permission denied'
          : code === 'EISDIR'
            ? 'it is a directory'
            : (code ?? 'unreadable')
    throw new KeywardenError('INTERNAL', `cannot read ${file}: ${why}`)
  }
  let text = original.toString('utf8')
  const bom = text.startsWith('\uFEFF')
  if (bom) text = text.slice(1)
  return { file, existed: true, original, bom, document: parseDocument(text, format, file) }
}

/** The bytes the file would hold now. */
export function configBytes(source: ConfigFile): Buffer {
  return Buffer.from(`${source.bom ? '\uFEFF' : ''}${source.document.text()}`)
}

/** Whether writing would change the file (or create it). */
export function configChanged(source: ConfigFile): boolean {
  return !source.existed || !configBytes(source).equals(source.original)
}

/**
 * Writes the edited document. An existing file is first copied to a 0600 backup; the new
 * content goes to a temporary file beside it that is renamed over it, so a crash leaves the
 * old file or the new one, never half of one. Returns the backup's path, or null for a new file.
 */
export async function writeConfigFile(source: ConfigFile): Promise<string | null> {
  const { file } = source
  const content = configBytes(source)
  if (!source.existed) {
    await mkdir(dirname(file), { recursive: true })
    // Owner-only: MCP client configs tend to collect tokens.
    await replaceAtomically(file, content, 0o600, async () => {
      if (await exists(file)) throw changedMeanwhile(file)
    })
    return null
  }
  const mode = (await stat(file)).mode & 0o7777
  // An edit made meanwhile (by the client itself, or a person) would be lost by the rewrite.
  if (!(await readFile(file)).equals(source.original)) throw changedMeanwhile(file)
  // The backup holds the tokens being moved out: owner-only whatever the file's own mode.
  const backup = await writeBackup(file, source.original, 0o600)
  // Through symlinks: a config kept in a dotfiles repository stays a link.
  await replaceAtomically(await realpath(file), content, mode, async () => {
    if (!(await readFile(file)).equals(source.original)) throw changedMeanwhile(file)
  })
  return backup
}

function changedMeanwhile(file: string): KeywardenError {
  return new KeywardenError(
    'INTERNAL',
    `${file} changed while keywarden was working; it was left as it was`,
  )
}

function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  )
}
