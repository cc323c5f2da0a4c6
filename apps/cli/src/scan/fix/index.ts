/**
 * `keywarden scan --fix`: what can be moved into the vault, how, and doing it. Shell rc and
 * `.env` files go through `keywarden import`'s logic (the assignment imported, its line
 * removed, a 0600 backup kept); MCP configurations through `keywarden mcp-config --wrap`
 * (`./mcp.ts`: the secret moved, the server run through `keywarden run`). Everything else is
 * left, with what to do by hand.
 */
import type { CommandContext } from '../../context.ts'
import {
  compareWithVault as compareImport,
  importSecrets,
  removeFromSource,
  verifyStored,
} from '../../import/apply.ts'
import {
  looksLikeSecret,
  type PlannedSecret,
  parseAssignments,
  planImport,
} from '../../import/parse.ts'
import type { Finding, ScannedFile } from '../finding.ts'
import { wrapMcpServers } from './mcp.ts'

/** What will be done with one file. */
export type FileFix =
  | { action: 'import'; file: ScannedFile; secrets: PlannedSecret[] }
  | { action: 'wrap'; file: ScannedFile; servers: string[] }

/** A finding `--fix` will not move, and why (in words that never quote the value). */
export interface LeftFinding {
  file: ScannedFile
  finding: Finding
  reason: string
}

/** The whole plan, shown before anything is changed. */
export interface FixPlan {
  fixes: FileFix[]
  left: LeftFinding[]
}

/** What applying one file's fix did. */
export interface AppliedFix {
  file: string
  action: FileFix['action']
  /** The original's copy (mode 0600; it still holds the values), or null. */
  backup: string | null
  /** The secrets now in the vault: name, and for imports whether it was new. */
  moved: Array<{ name: string; variable: string; status: string }>
  /** Why part or all of it was not done. */
  problems: string[]
}

/** Decides, file by file, what `--fix` does with each finding. */
export function planFix(files: readonly ScannedFile[]): FixPlan {
  const plan: FixPlan = { fixes: [], left: [] }
  for (const file of files) {
    if (file.findings.length === 0) continue
    if (file.format === 'shell' || file.format === 'dotenv') planImportFix(file, plan)
    else if (file.group === 'mcp' && file.format === 'json') planWrapFix(file, plan)
    else {
      for (const finding of file.findings) {
        plan.left.push({ file, finding, reason: byHand(file, finding) })
      }
    }
  }
  return plan
}

function planImportFix(file: ScannedFile, plan: FixPlan) {
  const dialect = file.format === 'dotenv' ? 'dotenv' : 'shell'
  const parsed = parseAssignments(file.original.toString('utf8'), dialect)
  const covers = (line: number, endLine: number) =>
    file.findings.some((finding) => line <= finding.line && finding.line <= endLine)
  // Only the assignments that hold a finding, each imported whatever its variable's name
  // (planned as a .env file is): the detector, not the name, said it is a secret.
  const assignments = parsed.assignments.filter(({ line, endLine }) => covers(line, endLine))
  const { secrets, skipped } = planImport({ assignments, skipped: parsed.skipped }, 'dotenv')
  const accepted: PlannedSecret[] = []
  for (const secret of secrets) {
    const findings = file.findings.filter((f) => secret.lines.includes(f.line))
    if (findings.some((finding) => finding.vault.state === 'differs')) {
      for (const finding of findings) {
        plan.left.push({
          file,
          finding,
          reason: `the vault's ${secret.name} holds a different value; make them agree (keywarden rotate ${secret.name}, or keywarden rm ${secret.name}) and run --fix again`,
        })
      }
    } else accepted.push(secret)
  }
  for (const finding of file.findings) {
    const moved = accepted.some((secret) => secret.lines.includes(finding.line))
    const refused = plan.left.some((left) => left.finding === finding)
    if (moved || refused) continue
    const skip =
      skipped.find((s) => s.line === finding.line) ??
      parsed.skipped.find((s) => s.line === finding.line)
    plan.left.push({
      file,
      finding,
      reason: skip
        ? `${skip.variable} is not moved: ${skip.reason}`
        : 'it is not a plain assignment on a line of its own (an alias, a command, a comment…); move it by hand',
    })
  }
  if (accepted.length > 0) plan.fixes.push({ action: 'import', file, secrets: accepted })
}

function planWrapFix(file: ScannedFile, plan: FixPlan) {
  const servers = new Set<string>()
  for (const finding of file.findings) {
    const path = finding.path ?? []
    const [top, server, field, variable] = path
    const inEnv =
      top === 'mcpServers' && typeof server === 'string' && field === 'env' && path.length === 4
    if (inEnv && typeof variable === 'string' && looksLikeSecret(variable)) {
      servers.add(server)
      continue
    }
    let reason: string
    if (inEnv) {
      reason = `its variable ${String(variable)} does not look like a secret to mcp-config --wrap; store it with keywarden set and wrap the server by hand`
    } else if (top === 'mcpServers' && typeof server === 'string') {
      reason = `it is in server ${JSON.stringify(server)}'s ${String(field ?? 'entry')}, not its env, where keywarden run cannot inject it; move it by hand`
    } else if (file.client === 'vscode' || top === 'projects') {
      reason = `scan --fix wraps only a top-level "mcpServers" for now; move it by hand (keywarden set, then keywarden run in the entry)`
    } else {
      reason = 'it is not in an MCP server entry; move it by hand'
    }
    plan.left.push({ file, finding, reason })
  }
  if (servers.size > 0) plan.fixes.push({ action: 'wrap', file, servers: [...servers] })
}

/** What to do by hand with a secret in a file that `--fix` does not rewrite. */
function byHand(file: ScannedFile, finding: Finding): string {
  switch (file.format) {
    case 'fish':
      return `fish files are not rewritten: keywarden set ${finding.name ?? 'NAME'}, then delete line ${finding.line}`
    case 'toml':
      return 'Codex configurations are not rewritten yet: keywarden set NAME, then run the server through keywarden run'
    case 'npmrc':
      // biome-ignore lint/suspicious/noTemplateCurlyInString: npm's own syntax, written as is
      return 'write ${NPM_TOKEN} in its place (npm expands it) and keep the token in the vault: keywarden set npm_token, keywarden run --only npm_token -- npm …'
    case 'netrc':
      return '.netrc has no way to refer to a secret; keep it in the vault and remove it here by hand'
    case 'yaml':
      return 'gh keeps its token in the OS keychain when logged in with gh auth login --secure-storage; or set GH_TOKEN through keywarden run'
    default:
      return file.path.endsWith('config.json')
        ? 'use a Docker credential helper (credsStore) instead of "auth" in config.json'
        : 'move it by hand'
  }
}

/** Applies the plan file by file; a file that fails is reported and the others still go. */
export async function applyFix(context: CommandContext, plan: FixPlan): Promise<AppliedFix[]> {
  const applied: AppliedFix[] = []
  for (const fix of plan.fixes) {
    try {
      applied.push(
        fix.action === 'import' ? await applyImport(context, fix) : await applyWrap(context, fix),
      )
    } catch (error) {
      applied.push({
        file: fix.file.path,
        action: fix.action,
        backup: null,
        moved: [],
        problems: [error instanceof Error ? error.message : String(error)],
      })
    }
  }
  return applied
}

async function applyImport(
  context: CommandContext,
  fix: Extract<FileFix, { action: 'import' }>,
): Promise<AppliedFix> {
  const client = await context.client()
  const path = fix.file.path
  // Asked again now: the scan's verdict came before the plan was confirmed.
  const statuses = await compareImport(client, fix.secrets)
  const differing = fix.secrets.filter((s) => statuses.get(s.name)?.status === 'replaced')
  const secrets = fix.secrets.filter((secret) => !differing.includes(secret))
  const problems = differing.map(
    (secret) => `the vault's ${secret.name} now holds a different value; line ${secret.line} left`,
  )
  if (secrets.length === 0)
    return { file: path, action: 'import', backup: null, moved: [], problems }
  const imported = await importSecrets(
    client,
    secrets,
    statuses,
    path,
    context.io,
    context.out.json,
  )
  await verifyStored(client, secrets, path)
  const lines = new Set(secrets.flatMap((secret) => secret.lines))
  const { backup } = await removeFromSource(path, fix.file.original, lines)
  return {
    file: path,
    action: 'import',
    backup,
    moved: imported.map(({ name, variable, status }) => ({ name, variable, status })),
    problems,
  }
}

async function applyWrap(
  context: CommandContext,
  fix: Extract<FileFix, { action: 'wrap' }>,
): Promise<AppliedFix> {
  const result = await wrapMcpServers(context, fix.file.path)
  return {
    file: fix.file.path,
    action: 'wrap',
    backup: result.backup,
    moved: result.wrapped.flatMap(({ server, variables }) =>
      variables.map(({ variable, secret }) => ({
        name: secret,
        variable,
        status: `server ${server}`,
      })),
    ),
    problems: result.refused.map(
      ({ server, reason }) => `server ${JSON.stringify(server)}: ${reason}`,
    ),
  }
}
