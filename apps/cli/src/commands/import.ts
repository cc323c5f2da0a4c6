/**
 * `keywarden import FILE`: moves the secrets of a `.env` or shell rc file into the vault, and
 * with `--remove-from-source` takes them out of the file (after a backup).
 */
import { readFile, realpath, stat } from 'node:fs/promises'
import { basename } from 'node:path'
import { KeywardenError, type VaultClient } from '@keywarden/core'
import type { CommandContext, CommandModule, ProcessIO } from '../context.ts'
import { UsageError } from '../errors.ts'
import { replaceAtomically, writeBackup } from '../files.ts'
import {
  type ImportPlan,
  isDotenvFile,
  type PlannedSecret,
  parseAssignments,
  planImport,
  removeLines,
} from '../import/parse.ts'
import { confirm } from '../input.ts'

/** Flags beside the global ones. */
export const options: CommandModule['options'] = {
  'dry-run': { type: 'boolean' },
  replace: { type: 'boolean' },
  'remove-from-source': { type: 'boolean' },
  yes: { type: 'boolean', short: 'y' },
}

/** The `--help` text. */
export const help = `Usage: keywarden import FILE [--dry-run] [--replace] [--remove-from-source] [--yes] [--json]

Imports the secrets of a .env file or a shell rc file (.zshrc, .bashrc, .profile) into the
vault. It shows what it will import - name, line and type, never a value - before it does.

In a .env file (.env, .env.local, prod.env) every literal assignment is imported. In a shell
file only top-level export NAME=value / NAME=value lines (or declare -x, typeset -x, readonly)
whose names look like secrets (TOKEN, KEY, SECRET, PASSWORD, PASS, PAT, CREDENTIAL, AUTH, DSN,
API) or whose values are (a Slack, Discord or Teams webhook URL, a URL with a password); aliases, functions, conditionals,
PATH edits and other settings are left alone, and values built from $VAR, $(...) or backticks
are skipped (they are not the secret itself). GITHUB_TOKEN becomes github_token. Importing a
value the vault already has changes nothing (no new version). A secret the vault holds with a
different value is refused, so nothing is imported, unless --replace: then it is rotated, and
the vault's value keeps serving as the previous one for the usual grace period (24 h).

Options:
  --dry-run              show what would be imported (and what would replace a different
                         value) and stop
  --replace              rotate the secrets whose value in the vault differs
  --remove-from-source   after importing, copy FILE to FILE.backup (mode 0600: it still holds
                         the values; delete it once checked) and take the imported lines out
                         of FILE, leaving every other byte as it was; asks first on a terminal
  -y, --yes              do not ask (needed with --remove-from-source when stdin is not a
                         terminal)
  --json                 {"file", "dry_run", "secrets": [{"name", "variable", "line", "type",
                         "status", "version"}], "skipped", "removed"}

Examples:
  keywarden import ~/.zshrc --dry-run
  keywarden import .env
  keywarden import ~/.zshrc --remove-from-source`

// Fewer entries than this finish before a progress bar would be worth drawing.
const PROGRESS_THRESHOLD = 20

type Status = 'created' | 'replaced' | 'unchanged'

interface Imported extends PlannedSecret {
  status: Status
  version: number | null
}

/** Runs `keywarden import`; resolves with the exit code. */
export const run: CommandModule['run'] = async (context, { positionals, values }) => {
  const [file, extra] = positionals
  if (file === undefined || extra !== undefined) {
    throw new UsageError('import takes one file; see keywarden import --help')
  }
  const { io, out } = context
  const dryRun = values['dry-run'] === true
  const replace = values.replace === true
  const remove = values['remove-from-source'] === true
  const yes = values.yes === true
  if (remove && !dryRun && !yes && !io.stdin.isTTY) {
    // Nobody to ask: refusing beats editing a file without consent or hanging on a pipe.
    throw new UsageError(
      `--remove-from-source asks before editing ${file} and stdin is not a terminal; pass --yes to go ahead without asking`,
    )
  }

  const original = await readSource(file)
  const dialect = isDotenvFile(file) ? 'dotenv' : 'shell'
  const plan = planImport(parseAssignments(original.toString('utf8'), dialect), dialect)
  // What the vault holds decides each secret's fate, so it is read before anything is shown.
  const statuses =
    plan.secrets.length > 0
      ? await compareWithVault(await context.client(), plan.secrets)
      : new Map()
  if (!out.json) showPlan(context, file, plan, dryRun, statuses)
  if (dryRun || plan.secrets.length === 0) {
    if (out.json) printJson(context, file, plan, plan.secrets.map(pending), dryRun, null, statuses)
    return 0
  }
  const differing = plan.secrets.filter(
    (secret) => statuses.get(secret.name)?.status === 'replaced',
  )
  if (differing.length > 0 && !replace) {
    // Storing would make the user's value in the vault a previous version with no grace: gone.
    throw new UsageError(
      `the vault holds a different value for ${differing.map((secret) => secret.name).join(', ')}; nothing was imported. Pass --replace to rotate ${differing.length === 1 ? 'it' : 'them'} (the vault's value stays readable as the previous one for 24 h)`,
    )
  }
  const lines = new Set(plan.secrets.flatMap((secret) => secret.lines))
  if (remove && !yes) {
    const question = `Import ${count(plan.secrets.length, 'secret')} and remove ${count(lines.size, 'line')} from ${file} (a backup is kept)?`
    if (!(await confirm(io, question))) {
      out.note('keywarden: nothing imported')
      return 1
    }
  }

  const client = await context.client()
  const imported = await importSecrets(client, plan.secrets, statuses, file, io, out.json)
  let removed: Removed | null = null
  if (remove) {
    await verifyStored(client, plan.secrets, file)
    const { backup, content } = await removeFromSource(file, original, lines)
    removed = {
      lines: [...lines].sort((a, b) => a - b),
      backup,
      references: referencesLeft(content, plan.secrets),
    }
  }

  if (out.json) {
    printJson(context, file, plan, imported, false, removed)
    return 0
  }
  for (const secret of imported) {
    const version = secret.version === null ? '' : ` (version ${secret.version})`
    out.line(`  ${secret.status.padEnd(9)} ${out.paint.bold(secret.name)}${version}`)
  }
  const tally = (['created', 'replaced', 'unchanged'] as const)
    .map(
      (status) => [status, imported.filter((secret) => secret.status === status).length] as const,
    )
    .filter(([, n]) => n > 0)
    .map(([status, n]) => `${n} ${status}`)
    .join(', ')
  out.line(`Imported ${count(imported.length, 'secret')} from ${file}: ${tally}.`)
  if (removed) {
    out.line(
      `Removed ${count(removed.lines.length, 'line')} from ${file}; the original is in ${removed.backup}.`,
    )
    out.line(
      out.paint.yellow(
        `${removed.backup} still holds the values (mode 0600): delete it once you have checked the import (rm ${removed.backup}).`,
      ),
    )
    for (const left of removed.references) {
      out.line(
        out.paint.yellow(
          `Line ${left.line} of ${file} still refers to $${left.variable}, which is no longer set there: keywarden run --only ${left.name} -- … sets it for a command.`,
        ),
      )
    }
  } else {
    out.line(
      out.paint.dim(
        `The values are still in ${file}: remove them there, or run again with --remove-from-source.`,
      ),
    )
  }
  return 0
}

async function readSource(file: string): Promise<Buffer> {
  try {
    return await readFile(file)
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    const why =
      code === 'ENOENT'
        ? 'no such file'
        : code === 'EACCES'
          ? 'permission denied'
          : code === 'EISDIR'
            ? 'it is a directory'
            : (code ?? 'unreadable')
    throw new KeywardenError('INTERNAL', `cannot read ${file}: ${why}`)
  }
}

// ---------------------------------------------------------------------------------------------
// Showing the plan
// ---------------------------------------------------------------------------------------------

function showPlan(
  context: CommandContext,
  file: string,
  plan: ImportPlan,
  dryRun: boolean,
  statuses: ReadonlyMap<string, Comparison>,
) {
  const { out } = context
  if (plan.secrets.length === 0) {
    out.line(`No secrets to import in ${file}.`)
  } else {
    out.line(
      `${dryRun ? 'Would import' : 'Importing'} ${count(plan.secrets.length, 'secret')} from ${file}:`,
    )
    out.table(
      [
        { key: 'name', header: 'NAME' },
        { key: 'variable', header: 'VARIABLE' },
        { key: 'line', header: 'LINE' },
        { key: 'type', header: 'TYPE' },
        { key: 'vault', header: 'VAULT' },
      ],
      plan.secrets.map((secret) => ({
        name: secret.name,
        variable: secret.variable,
        line: describeLines(secret),
        type: secret.type,
        vault: describeStatus(statuses.get(secret.name)?.status ?? 'created', dryRun),
      })),
    )
  }
  if (plan.skipped.length > 0) {
    out.line(`Skipped ${count(plan.skipped.length, 'assignment')}:`)
    for (const skip of plan.skipped)
      out.line(`  line ${skip.line}  ${skip.variable}: ${skip.reason}`)
  }
  if (plan.notSecrets.length > 0) {
    out.line(out.paint.dim(`Left alone (not secrets): ${plan.notSecrets.join(', ')}`))
  }
  if (dryRun) out.line('Dry run: nothing was written.')
}

// `12`, `12-14` for a value over several lines, `12 (also 3)` when it was assigned before.
function describeLines(secret: PlannedSecret): string {
  const own = secret.endLine > secret.line ? `${secret.line}-${secret.endLine}` : `${secret.line}`
  const earlier = secret.lines.filter((line) => line < secret.line)
  const starts = earlier.filter((line, index) => earlier[index - 1] !== line - 1)
  return starts.length > 0 ? `${own} (also ${starts.join(', ')})` : own
}

function count(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`
}

/** What the table says a secret's import does (or would do). */
function describeStatus(status: Status, dryRun: boolean): string {
  if (status === 'created') return dryRun ? 'would create' : 'new'
  if (status === 'unchanged') return 'unchanged (same value)'
  return dryRun ? 'would replace (value differs)' : 'differs'
}

function pending(secret: PlannedSecret): Imported {
  return { ...secret, status: 'created', version: null }
}

function printJson(
  context: CommandContext,
  file: string,
  plan: ImportPlan,
  secrets: readonly Imported[],
  dryRun: boolean,
  removed: Removed | null,
  statuses: ReadonlyMap<string, Comparison> = new Map(),
) {
  context.out.printJson({
    file,
    dry_run: dryRun,
    // Never the values.
    secrets: secrets.map((secret) => ({
      name: secret.name,
      variable: secret.variable,
      line: secret.line,
      lines: secret.lines,
      type: secret.type,
      status: dryRun ? 'planned' : secret.status,
      ...(dryRun ? { vault: statuses.get(secret.name)?.status ?? 'created' } : {}),
      version: secret.version,
    })),
    skipped: plan.skipped,
    not_secrets: plan.notSecrets,
    removed,
  })
}

// ---------------------------------------------------------------------------------------------
// Importing
// ---------------------------------------------------------------------------------------------

/** A secret's place in the vault before the import. */
interface Comparison {
  /** `created`: not in the vault; `unchanged`: the same value; `replaced`: another value. */
  status: Status
  version: number | null
}

/** What `--remove-from-source` did. */
interface Removed {
  lines: number[]
  backup: string
  /** Lines left in the file that refer to a variable whose assignment was removed. */
  references: Array<{ line: number; variable: string; name: string }>
}

/** Compares each planned value with the vault's (values stay in this process). */
async function compareWithVault(
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
async function importSecrets(
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
function referencesLeft(content: string, secrets: readonly PlannedSecret[]): Removed['references'] {
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
async function verifyStored(client: VaultClient, secrets: readonly PlannedSecret[], file: string) {
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
async function removeFromSource(
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
