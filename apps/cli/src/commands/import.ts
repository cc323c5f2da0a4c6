/**
 * `keywarden import FILE`: moves the secrets of a `.env` or shell rc file into the vault, and
 * with `--remove-from-source` takes them out of the file (after a backup).
 */
import { readFile } from 'node:fs/promises'
import { KeywardenError } from '@keywarden/core'
import type { CommandContext, CommandModule } from '../context.ts'
import { UsageError } from '../errors.ts'
import {
  type Comparison,
  compareWithVault,
  type Imported,
  importSecrets,
  type Removed,
  referencesLeft,
  removeFromSource,
  type Status,
  verifyStored,
} from '../import/apply.ts'
import {
  type ImportPlan,
  isDotenvFile,
  type PlannedSecret,
  parseAssignments,
  planImport,
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
