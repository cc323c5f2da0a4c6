/**
 * Moving planned secrets into the vault and out of their file: what `keywarden import` does
 * after it has shown its plan, and what `keywarden scan --fix` does for shell and .env files.
 * Values stay in this process; nothing here prints one.
 */
import { readFile, realpath, stat } from 'node:fs/promises'
import { basename } from 'node:path'
import { KeywardenError, type VaultClient } from '@keywarden/core'
import type { ProcessIO } from '../context.ts'
import { replaceAtomically, writeBackup } from '../files.ts'
import { type PlannedSecret, removeLines } from './parse.ts'

// Fewer entries than this finish before a progress bar would be worth drawing.
const PROGRESS_THRESHOLD = 20

/** What an import does to one secret: a new one, a rotation, or nothing (the same value). */
export type Status = 'created' | 'replaced' | 'unchanged'

/** A planned secret after its import, with the version the vault gave it. */
export interface Imported extends PlannedSecret {
  status: Status
  version: number | null
}

// ---------------------------------------------------------------------------------------------
// Importing
// ---------------------------------------------------------------------------------------------

/** A secret's place in the vault before the import. */
export interface Comparison {
  /** `created`: not in the vault; `unchanged`: the same value; `replaced`: another value. */
  status: Status
  version: number | null
}

/** What `--remove-from-source` did. */
export interface Removed {
  lines: number[]
  backup: string
  /** Lines left in the file that refer to a variable whose assignment was removed. */
  references: Array<{ line: number; variable: string; name: string }>
}

/** Compares each planned value with the vault's (values stay in this process). */
export async function compareWithVault(
  client: VaultClient,
  secrets: readonly PlannedSecret[],
): Promise<Map<string, Comparison>> {
  const before = new Map((await client.listSecrets()).map((secret) => [secret.name, secret]))
  const known = secrets.filter((secret) => before.has(secret.name)).map((secret) => secret.name)
  const current = known.length > 0 ? await client.getSecrets(known) : new Map()
  const statuses = new Map<string, Comparison>()
  for (const secret of secrets) {
    const existing = before.get(secret.name)
    const stored = current.get(secret.name)
    if (!existing) statuses.set(secret.name, { status: 'created', version: null })
    else if (stored?.source !== 'env' && stored?.value === secret.value)
      statuses.set(secret.name, { status: 'unchanged', version: existing.version })
    else statuses.set(secret.name, { status: 'replaced', version: existing.version })
  }
  return statuses
}

/**
 * Stores what is new and rotates what differs (the caller has the user's --replace). A value the
 * vault already has is not stored again: the SQL would keep its version anyway, but skipping it
 * also keeps a `store` row out of the audit log for a change that did not happen.
 */
export async function importSecrets(
  client: VaultClient,
  secrets: readonly PlannedSecret[],
  statuses: ReadonlyMap<string, Comparison>,
  file: string,
  io: ProcessIO,
  json: boolean,
): Promise<Imported[]> {
  const progress = createProgress(io, secrets.length, json)
  const results: Imported[] = []
  try {
    for (const secret of secrets) {
      const { status, version } = statuses.get(secret.name) ?? { status: 'created', version: null }
      if (status === 'unchanged') {
        results.push({ ...secret, status, version })
      } else if (status === 'replaced') {
        // A rotation, so the vault's value keeps serving as the previous one for the grace
        // period; the secret keeps its metadata, which the user may have set on purpose.
        await client.rotateSecret(secret.name, secret.value)
        results.push({ ...secret, status, version: null })
      } else {
        await client.storeSecret(secret.name, secret.value, {
          type: secret.type,
          description: `imported from ${basename(file)}`,
        })
        results.push({ ...secret, status, version: null })
      }
      progress.tick()
    }
  } finally {
    progress.done()
  }
  if (results.some((result) => result.status !== 'unchanged')) {
    const after = new Map((await client.listSecrets()).map((secret) => [secret.name, secret]))
    for (const result of results) result.version ??= after.get(result.name)?.version ?? null
  }
  return results
}

/**
 * The lines left in `content` that expand a variable whose assignment was removed
 * (`export HOMEBREW_GITHUB_API_TOKEN="$GITHUB_TOKEN"`): they now expand to nothing.
 */
export function referencesLeft(
  content: string,
  secrets: readonly PlannedSecret[],
): Removed['references'] {
  const found: Removed['references'] = []
  const lines = content.split(/\r?\n/)
  for (const secret of secrets) {
    const pattern = new RegExp(`\\$(\\{${secret.variable}\\b|${secret.variable}(?![A-Za-z0-9_]))`)
    lines.forEach((line, index) => {
      if (pattern.test(line))
        found.push({ line: index + 1, variable: secret.variable, name: secret.name })
    })
  }
  return found.sort((a, b) => a.line - b.line)
}

/** A bar on stderr, only on a terminal and only when there are enough entries to wait for. */
function createProgress(io: ProcessIO, total: number, json: boolean) {
  const shown = io.stderr.isTTY === true && total > PROGRESS_THRESHOLD && !json
  const width = 30
  let done = 0
  const draw = () => {
    const filled = Math.round((done / total) * width)
    io.stderr.write(`\r[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${done}/${total}`)
  }
  if (shown) draw()
  return {
    tick() {
      done++
      if (shown) draw()
    },
    done() {
      // Erase the bar: what stays on the screen is the result.
      if (shown) io.stderr.write('\r\u001b[K')
    },
  }
}

// ---------------------------------------------------------------------------------------------
// Removing from the source
// ---------------------------------------------------------------------------------------------

/** Reads every value back from the vault before the file's copy is deleted: it may be the last. */
export async function verifyStored(
  client: VaultClient,
  secrets: readonly PlannedSecret[],
  file: string,
) {
  client.clearSecretCache()
  const stored = await client.getSecrets(secrets.map((secret) => secret.name))
  const different = secrets.filter((secret) => {
    const result = stored.get(secret.name)
    return result?.source !== 'vault' || result.value !== secret.value
  })
  if (different.length > 0) {
    throw new KeywardenError(
      'INTERNAL',
      `the vault did not return the imported value of ${different.map((s) => s.name).join(', ')}; ${file} was left as it was`,
    )
  }
}

/**
 * Writes the backup (a byte-identical copy, mode 0600), then replaces the file with its content
 * minus `lines`. Returns the backup's path and the new content.
 */
export async function removeFromSource(
  file: string,
  original: Buffer,
  lines: ReadonlySet<number>,
): Promise<{ backup: string; content: string }> {
  // An edit made while we were importing would be lost by the rewrite.
  const now = await readFile(file)
  if (!now.equals(original)) {
    throw new KeywardenError(
      'INTERNAL',
      `${file} changed while importing; it was left as it was (the secrets are in the vault)`,
    )
  }
  const mode = (await stat(file)).mode & 0o7777
  // 0600 whatever the file's mode: the backup holds every value that was just moved out.
  const backup = await writeBackup(file, original, 0o600)
  // Through symlinks: ~/.zshrc is often a link into a dotfiles repository, and renaming over
  // the link would replace it with a plain file.
  const target = await realpath(file)
  const content = Buffer.from(removeLines(original, lines))
  await replaceAtomically(target, content, mode)
  return { backup, content: content.toString('utf8') }
}
