/**
 * `keywarden scan`: finds secrets kept in plaintext where shells, MCP clients and tools keep
 * them, says where and what (never the value), whether the vault already has each, and with
 * `--fix` moves them into the vault.
 */
import { existsSync } from 'node:fs'
import { readFile, realpath, stat } from 'node:fs/promises'
import { homedir } from 'node:os'
import { join, resolve, sep } from 'node:path'
import { resolveStoreConfig, SECRET_NAME_PATTERN } from '@keywarden/core'
import type { CommandContext, CommandModule } from '../context.ts'
import { UsageError } from '../errors.ts'
import { tableCell } from '../format.ts'
import { secretNameFor } from '../import/parse.ts'
import { confirm } from '../input.ts'
import type { Detector } from '../scan/detect/index.ts'
import type { Finding, ScannedFile } from '../scan/finding.ts'
import { createFingerprinter } from '../scan/fingerprint/index.ts'
import type { AppliedFix, FixPlan } from '../scan/fix/index.ts'
import { createLocator } from '../scan/locate/index.ts'
import {
  findDotenvFiles,
  fishSnippets,
  homeTargets,
  type ScanTarget,
} from '../scan/sources/index.ts'
import { type Comparison, compareWithVault } from '../scan/vault/index.ts'

/** Flags beside the global ones. */
export const options: CommandModule['options'] = {
  dir: { type: 'string' },
  'respect-gitignore': { type: 'boolean' },
  fix: { type: 'boolean' },
  yes: { type: 'boolean', short: 'y' },
  'exit-code': { type: 'boolean' },
  'no-vault': { type: 'boolean' },
  'compare-all': { type: 'boolean' },
}

/** The `--help` text. */
export const help = `Usage: keywarden scan [--dir DIR] [--respect-gitignore] [--fix [--yes]] [--exit-code]
                      [--no-vault | --compare-all] [--json]

Finds secrets kept in plaintext where agents and shells keep them, and says for each its
file, line and kind, never its value: a fingerprint (the same for equal values within one
report) matches duplicates instead. Looked at, where they exist:

  shells        ~/.zshrc ~/.zshenv ~/.zprofile ~/.bashrc ~/.bash_profile ~/.bash_login
                ~/.profile, fish's config.fish and conf.d/*.fish
  MCP clients   Claude Desktop, Claude Code (~/.claude.json, DIR/.mcp.json), Cursor
                (~/.cursor/mcp.json, DIR/.cursor/mcp.json), VS Code (its user mcp.json,
                DIR/.vscode/mcp.json), Windsurf (~/.codeium/windsurf/mcp_config.json),
                Codex (~/.codex/config.toml), Gemini (~/.gemini/settings.json,
                DIR/.gemini/settings.json)
  tools         ~/.npmrc and DIR/.npmrc, ~/.netrc, gh's hosts.yml, ~/.docker/config.json
  the project   every .env* and *.env file under DIR (not inside .git or node_modules)

Detection is secretlint's recommended rule set (GitHub, GitLab, OpenAI, Anthropic, AWS, GCP,
Slack, Stripe, npm, private keys, connection strings with passwords, ...) plus Keywarden's
rules for Supabase service-role keys (JWT and sb_secret_), .netrc passwords and Docker
credentials. A line can opt out with a "secretlint-disable-line" comment.

Each finding says whether the vault has it: "same" (this value under its name), "differs",
"absent", or "-" when there is no name to compare (a .netrc password) or --no-vault. Only
the names the findings point at are read, in one call; each read is an audited access
(accessor cli), as for keywarden get. Nothing is compared on a new machine's empty vault.

--fix moves what it can into the vault, showing the plan first. A secret assigned in a shell
rc or .env file is imported as keywarden import does (GITHUB_TOKEN -> github_token) and its
line removed; a secret in an MCP server's env is moved by keywarden mcp-config --wrap, the
server then started through keywarden run. Each rewritten file is first copied to
FILE.backup (mode 0600: it still holds the values; delete it once checked) and replaced
atomically. A secret the vault holds with a different value is left where it is. What cannot
be moved automatically (a token in an alias, .netrc, a Codex config...) is listed with what to
do by hand.

Options:
  --dir DIR              the project directory (default: the current one)
  --respect-gitignore    skip what the project's .gitignore files ignore: the files git
                         would commit, which is where a secret must not be
  --fix                  move the secrets into the vault and rewrite their files; asks first
  -y, --yes              do not ask (needed with --fix when stdin is not a terminal)
  --exit-code            exit 1 when secrets are found (left after --fix), for CI
  --no-vault             do not compare with the vault
  --compare-all          read every secret of the vault to compare (audited, one access
                         each), so values without a name are matched too
  --json                 {"scanned", "findings": [{"file", "line", "column", "kind",
                         "variable", "name", "server", "fingerprint", "vault", "same_as"}],
                         "fix": null | {"applied", "left", "remaining"}}

Exit codes: 0, or 1 with --exit-code when secrets remain; 2 usage error.

Examples:
  keywarden scan
  keywarden scan --dir ~/code/app --respect-gitignore --json --exit-code
  keywarden scan --fix`

/** Files larger than this are not read: no configuration or .env file is this big. */
const MAX_FILE_BYTES = 4 * 1024 * 1024

/** Runs `keywarden scan`; resolves with the exit code. */
export const run: CommandModule['run'] = async (context, { positionals, values }) => {
  if (positionals.length > 0) {
    throw new UsageError('scan takes no arguments (use --dir DIR); see keywarden scan --help')
  }
  const { io, out } = context
  const fix = values.fix === true
  const yes = values.yes === true
  if (values['no-vault'] === true && values['compare-all'] === true) {
    throw new UsageError('--no-vault and --compare-all contradict each other')
  }
  if (fix && !yes && !io.stdin.isTTY) {
    // Nobody to ask: refusing beats editing files without consent or hanging on a pipe.
    throw new UsageError(
      '--fix asks before moving secrets and stdin is not a terminal; pass --yes to go ahead without asking',
    )
  }
  if (values.dir === '') throw new UsageError('--dir needs a directory')
  const home = context.env.HOME || homedir()
  const dir = resolve(typeof values.dir === 'string' ? values.dir : process.cwd())
  if (
    !(await stat(dir).then(
      (stats) => stats.isDirectory(),
      () => false,
    ))
  ) {
    throw new UsageError(`--dir ${dir}: no such directory`)
  }
  const sourceOptions = {
    home,
    env: context.env,
    dir,
    respectGitignore: values['respect-gitignore'] === true,
  }
  const targets = [
    ...homeTargets(sourceOptions),
    ...(await fishSnippets(sourceOptions)),
    ...(await findDotenvFiles(dir, sourceOptions)),
  ]

  const detector = await import('../scan/detect/index.ts').then((m) => m.createDetector())
  const fingerprint = createFingerprinter()
  const files = await scanFiles(context, targets, detector, fingerprint)
  const findings = files.flatMap((file) => file.findings)
  await compareFindings(context, findings, {
    skip: values['no-vault'] === true,
    all: values['compare-all'] === true,
  })

  if (!out.json) showFindings(context, files, home)
  let fixReport: FixReport | null = null
  if (fix && findings.length > 0) {
    const { planFix, applyFix } = await import('../scan/fix/index.ts')
    const plan = planFix(files)
    if (!out.json) showPlan(context, plan, home)
    if (plan.fixes.length > 0) {
      const question = `Move the secrets of ${count(plan.fixes.length, 'file')} into the vault and rewrite ${plan.fixes.length === 1 ? 'it' : 'them'} (backups are kept)?`
      if (!yes && !(await confirm(io, question))) {
        out.note('keywarden: nothing was changed')
        return 1
      }
      const applied = await applyFix(context, plan)
      const remaining = await remainingAfter(files, applied, detector)
      fixReport = { applied, left: plan.left, remaining }
      if (!out.json) showApplied(context, fixReport, home)
    } else {
      fixReport = { applied: [], left: plan.left, remaining: findings.length }
    }
  }

  if (out.json) printJson(context, files, fixReport)
  const remaining = fixReport?.remaining ?? findings.length
  return values['exit-code'] === true && remaining > 0 ? 1 : 0
}

// ---------------------------------------------------------------------------------------------
// Scanning
// ---------------------------------------------------------------------------------------------

/** Reads each target that exists (each file once, however many names lead to it) and detects. */
async function scanFiles(
  context: CommandContext,
  targets: readonly ScanTarget[],
  detector: Detector,
  fingerprint: (value: string) => string,
): Promise<ScannedFile[]> {
  const seen = new Set<string>()
  const files: ScannedFile[] = []
  for (const target of targets) {
    const original = await readTarget(context, target.path)
    if (original === undefined) continue
    const real = await realpath(target.path).catch(() => target.path)
    if (seen.has(real)) continue
    seen.add(real)
    const content = original.toString('utf8')
    const locate = createLocator(target.format, content)
    const findings = (await detector.detect(target.path, content)).map((detection): Finding => {
      const place = locate(detection.start, detection.line)
      const name = place.variable === undefined ? undefined : vaultName(place.variable)
      return {
        ...detection,
        ...place,
        ...(name === undefined ? {} : { name }),
        // The whole assigned value when there is one: what the vault would hold.
        value: place.value ?? detection.value,
        fingerprint: fingerprint(place.value ?? detection.value),
        vault: { state: 'unknown' },
      }
    })
    files.push({ ...target, original, findings })
  }
  return files
}

/** The file's bytes, or undefined when it is not there (or is not a file we can read). */
async function readTarget(context: CommandContext, path: string): Promise<Buffer | undefined> {
  try {
    const stats = await stat(path)
    if (!stats.isFile()) return undefined
    if (stats.size > MAX_FILE_BYTES) {
      context.out.note(`keywarden: skipped ${path}: larger than ${MAX_FILE_BYTES >> 20} MiB`)
      return undefined
    }
    return await readFile(path)
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    if (code !== 'ENOENT' && code !== 'ENOTDIR') {
      context.out.note(`keywarden: cannot read ${path} (${code ?? 'error'}); skipped`)
    }
    return undefined
  }
}

/** The vault name a variable gives (`GITHUB_TOKEN` → `github_token`), when it is a valid one. */
function vaultName(variable: string): string | undefined {
  const name = secretNameFor(variable)
  return SECRET_NAME_PATTERN.test(name) && !name.startsWith('keywarden_') ? name : undefined
}

/**
 * Fills in each finding's vault verdict. A new machine's embedded vault is not created just to
 * learn it is empty: everything with a name is then absent.
 */
async function compareFindings(
  context: CommandContext,
  findings: Finding[],
  options: { skip: boolean; all: boolean },
) {
  if (options.skip || findings.length === 0) return
  const config = resolveStoreConfig(context.env)
  if (config.kind === 'embedded') {
    const home = config.home ?? join(context.env.HOME || homedir(), '.keywarden')
    if (!existsSync(join(home, 'data'))) {
      for (const finding of findings) {
        finding.vault = { state: finding.name === undefined && !options.all ? 'unknown' : 'absent' }
      }
      return
    }
  }
  let verdicts: Comparison[]
  try {
    verdicts = await compareWithVault(await context.client(), findings, { all: options.all })
  } catch (error) {
    // The findings matter more than the verdicts: a vault that is down, or a door policy that
    // refuses a read, leaves them unknown rather than the scan unreported.
    const why = error instanceof Error ? error.message : String(error)
    context.out.note(`keywarden: not compared with the vault (${why})`)
    return
  }
  findings.forEach((finding, index) => {
    finding.vault = verdicts[index] ?? { state: 'unknown' }
  })
}

/** How many findings the files still hold after the fix: the fixed files are read again. */
async function remainingAfter(
  files: readonly ScannedFile[],
  applied: readonly AppliedFix[],
  detector: Detector,
): Promise<number> {
  let remaining = 0
  for (const file of files) {
    if (!applied.some((fix) => fix.file === file.path)) {
      remaining += file.findings.length
      continue
    }
    const content = await readFile(file.path, 'utf8').catch(() => '')
    remaining += (await detector.detect(file.path, content)).length
  }
  return remaining
}

// ---------------------------------------------------------------------------------------------
// Reporting
// ---------------------------------------------------------------------------------------------

interface FixReport {
  applied: AppliedFix[]
  left: FixPlan['left']
  remaining: number
}

/** `~/x` for a path in the home, for the table; JSON keeps absolute paths. */
function shortPath(path: string, home: string): string {
  return path.startsWith(home + sep) ? `~${path.slice(home.length)}` : path
}

function describeVault({ state, sameAs }: Comparison, name: string | undefined): string {
  if (state === 'same')
    return sameAs === undefined || sameAs === name ? 'same' : `same as ${sameAs}`
  if (state === 'differs') return sameAs === undefined ? 'differs' : `differs (same as ${sameAs})`
  if (state === 'absent') return sameAs === undefined ? 'absent' : `absent (same as ${sameAs})`
  return '-'
}

function showFindings(context: CommandContext, files: readonly ScannedFile[], home: string) {
  const { out } = context
  const found = files.filter((file) => file.findings.length > 0)
  const total = found.reduce((sum, file) => sum + file.findings.length, 0)
  if (total === 0) {
    out.line(`No plaintext secrets found in ${count(files.length, 'file')} scanned.`)
    return
  }
  out.table(
    [
      { key: 'where', header: 'FILE:LINE' },
      { key: 'kind', header: 'KIND' },
      { key: 'variable', header: 'VARIABLE' },
      { key: 'fingerprint', header: 'FINGERPRINT' },
      { key: 'vault', header: 'VAULT' },
    ],
    found.flatMap((file) =>
      file.findings.map((finding) => ({
        where: `${tableCell(shortPath(file.path, home), 70)}:${finding.line}`,
        kind: finding.kind,
        variable: tableCell(
          finding.server === undefined
            ? (finding.variable ?? '')
            : `${finding.server}.${finding.variable ?? ''}`,
          40,
        ),
        fingerprint: finding.fingerprint,
        vault: describeVault(finding.vault, finding.name),
      })),
    ),
  )
  out.line(
    `${count(total, 'plaintext secret')} in ${count(found.length, 'file')} (${files.length} scanned). ${out.paint.dim('Move them with keywarden scan --fix.')}`,
  )
}

function showPlan(context: CommandContext, plan: FixPlan, home: string) {
  const { out } = context
  out.line()
  if (plan.fixes.length > 0) out.line('Plan:')
  for (const fix of plan.fixes) {
    const file = shortPath(fix.file.path, home)
    if (fix.action === 'import') {
      const names = fix.secrets.map((s) => `${s.name} (line ${s.line})`).join(', ')
      out.line(`  ${file}: move ${names} into the vault and remove the lines`)
    } else {
      const servers = fix.servers.map((server) => JSON.stringify(tableCell(server, 40)))
      out.line(
        `  ${file}: move the env secrets of ${servers.join(', ')} into the vault (mcp-config --wrap); the servers then start through keywarden run`,
      )
    }
  }
  if (plan.left.length > 0) {
    out.line(plan.fixes.length > 0 ? 'Left as they are:' : 'Nothing can be moved automatically:')
    for (const { file, finding, reason } of plan.left) {
      out.line(`  ${shortPath(file.path, home)}:${finding.line} ${finding.kind}: ${reason}`)
    }
  }
}

function showApplied(context: CommandContext, report: FixReport, home: string) {
  const { out } = context
  out.line()
  for (const fix of report.applied) {
    const file = shortPath(fix.file, home)
    if (fix.moved.length > 0) {
      const names = fix.moved.map((m) => m.name).join(',')
      out.line(
        `${file}: ${count(fix.moved.length, 'secret')} in the vault (${names.replaceAll(',', ', ')}).`,
      )
      if (fix.action === 'import') {
        // The variables are no longer set by the file: this is how a command gets them now.
        out.line(out.paint.dim(`  keywarden run --only ${names} -- <command> sets them again.`))
      }
    }
    for (const problem of fix.problems) out.line(out.paint.yellow(`${file}: ${problem}`))
    if (fix.backup !== null) {
      out.line(
        out.paint.yellow(
          `${shortPath(fix.backup, home)} still holds the values (mode 0600): delete it once checked.`,
        ),
      )
    }
  }
  out.line(
    report.remaining === 0
      ? 'No plaintext secret is left in the scanned files.'
      : `${count(report.remaining, 'plaintext secret')} left in the scanned files.`,
  )
}

function printJson(context: CommandContext, files: readonly ScannedFile[], fix: FixReport | null) {
  context.out.printJson({
    scanned: files.map((file) => file.path),
    // Field by field: a finding's value never reaches the output.
    findings: files.flatMap((file) =>
      file.findings.map((finding) => ({
        file: file.path,
        group: file.group,
        client: file.client ?? null,
        line: finding.line,
        column: finding.column,
        kind: finding.kind,
        variable: finding.variable ?? null,
        name: finding.name ?? null,
        server: finding.server ?? null,
        fingerprint: finding.fingerprint,
        vault: finding.vault.state,
        same_as: finding.vault.sameAs ?? null,
      })),
    ),
    fix:
      fix === null
        ? null
        : {
            applied: fix.applied,
            left: fix.left.map(({ file, finding, reason }) => ({
              file: file.path,
              line: finding.line,
              kind: finding.kind,
              fingerprint: finding.fingerprint,
              reason,
            })),
            remaining: fix.remaining,
          },
  })
}

function count(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`
}
