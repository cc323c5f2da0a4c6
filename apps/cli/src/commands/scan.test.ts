/**
 * `keywarden scan`, as a user runs it: the built CLI spawned with HOME pointed at a generated
 * home holding tokens of every kind in every file scan reads, against a fresh database on the
 * real PostgreSQL server.
 */
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createVaultClient, type VaultClient } from '../../../../packages/core/src/index.ts'
import {
  createPostgresTestDatabase,
  type PostgresTestDatabase,
} from '../../../../packages/core/src/testing/databases.ts'
import { type FakeTokens, type Planted, plantFakeHome } from '../scan/testing/fake-home.ts'
import { expectOneErrorLine } from '../testing/command-suite.ts'
import { type CliResult, runCli } from '../testing/run-cli.ts'

let database: PostgresTestDatabase
let client: VaultClient
let home: string
let project: string
let env: Record<string, string>
let planted: Planted[]
let tokens: FakeTokens
const outputs: CliResult[] = []
/** Values planted by a test itself, beside the fake home's: no output may show them either. */
const moreValues: string[] = []

const keywarden = async (args: string[]) => {
  const result = await runCli(args, { env })
  outputs.push(result)
  return result
}

interface JsonFinding {
  file: string
  line: number
  kind: string
  variable: string | null
  name: string | null
  fingerprint: string
  vault: string
}

const relative = (file: string) => file.slice(home.length + 1)
const key = ({ file, line, kind }: { file: string; line: number; kind: string }) =>
  `${file}:${line} ${kind}`

beforeAll(async () => {
  database = await createPostgresTestDatabase()
  const vaultEnv = { KEYWARDEN_DATABASE_URL: database.url, KEYWARDEN_ROOT_KEY: database.rootKey }
  client = createVaultClient({
    env: vaultEnv,
    accessedBy: 'test',
    envFallback: false,
    cache: { ttlMs: 0 },
  })
  home = await mkdtemp(join(tmpdir(), 'kw-scan-home-'))
  project = join(home, 'project')
  ;({ planted, tokens } = await plantFakeHome(home))
  env = { ...vaultEnv, HOME: home }
  // One value the vault already has, one it holds differently.
  await client.storeSecret('github_token', tokens.githubClassic)
  await client.storeSecret('openai_api_key', 'a-different-value-of-the-key')
  // The .netrc password, kept under a name nothing in the files points at.
  await client.storeSecret('netrc_copy', tokens.netrcPassword)
})

afterAll(async () => {
  // No value reached any output, in any test.
  const values = [...planted.map((secret) => secret.value), ...moreValues]
  for (const { stdout, stderr } of outputs) {
    for (const value of values) {
      expect(stdout.includes(value) || stderr.includes(value)).toBe(false)
      // Nor the start of one: a PEM's first line, a token's first 24 characters.
      expect(stdout.includes(value.slice(0, 24))).toBe(false)
    }
  }
  await client?.close()
  await database?.drop()
  if (home) await rm(home, { recursive: true, force: true })
})

describe('keywarden scan', () => {
  it('finds each planted secret with its file, line and kind, and nothing else', async () => {
    const started = new Date(Date.now() - 1_000)
    const result = await keywarden(['scan', '--dir', project, '--json'])
    expect(result.code, result.stderr).toBe(0)
    const report = JSON.parse(result.stdout) as { findings: JsonFinding[]; scanned: string[] }
    expect(report.findings.map((f) => key({ ...f, file: relative(f.file) })).sort()).toEqual(
      planted.map(key).sort(),
    )
    expect(report.scanned.length).toBeGreaterThanOrEqual(new Set(planted.map((p) => p.file)).size)
    // The vault's verdicts: same value, a different one, absent, and no name to compare.
    const at = (file: string, variable: string) =>
      report.findings.find((f) => relative(f.file) === file && f.variable === variable)
    expect(at('.zshrc', 'GITHUB_TOKEN')?.vault).toBe('same')
    expect(at('.zshrc', 'OPENAI_API_KEY')?.vault).toBe('differs')
    expect(at('.bashrc', 'SLACK_BOT_TOKEN')?.vault).toBe('absent')
    expect(report.findings.find((f) => relative(f.file) === '.netrc')?.vault).toBe('unknown')
    // Equal values, equal fingerprints: the same connection string in two files.
    const urls = report.findings.filter((f) => f.kind.startsWith('database-connection-string'))
    expect(urls).toHaveLength(2)
    expect(urls[0]?.fingerprint).toBe(urls[1]?.fingerprint)
    expect(new Set(report.findings.map((f) => f.fingerprint)).size).toBe(
      new Set(planted.map((p) => p.value)).size,
    )
    // The comparison read only the names the findings point at that the vault has, once
    // each: one audited read per secret, none per finding, and not the unrelated netrc_copy.
    const reads = (await client.queryAudit({ since: started, limit: 1000 })).filter(
      (row) => row.accessedBy === 'cli' && row.accessType === 'read',
    )
    expect(reads.map((row) => row.secretName).sort()).toEqual(['github_token', 'openai_api_key'])
  })

  it('prints a table without values; --exit-code fails when secrets are found', async () => {
    const result = await keywarden(['scan', '--dir', project, '--exit-code'])
    expect(result.code).toBe(1)
    expect(result.stdout).toContain('~/.zshrc:12')
    expect(result.stdout).toContain('github/GITHUB_TOKEN')
    expect(result.stdout).toContain('~/.config/Claude/claude_desktop_config.json:7')
    expect(result.stdout).toMatch(/\d+ plaintext secrets in \d+ files/)
    const clean = await keywarden(['scan', '--dir', join(project, 'apps'), '--exit-code'])
    // Still the home's files: the project only narrows the .env walk.
    expect(clean.code).toBe(1)
  })

  it('--compare-all reads every secret, so a value without a name is matched too', async () => {
    const result = await keywarden(['scan', '--dir', project, '--json', '--compare-all'])
    expect(result.code, result.stderr).toBe(0)
    const { findings } = JSON.parse(result.stdout) as {
      findings: Array<JsonFinding & { same_as: string | null }>
    }
    const netrc = findings.find((f) => relative(f.file) === '.netrc')
    expect(netrc).toMatchObject({ vault: 'same', same_as: 'netrc_copy' })
    expect(findings.find((f) => relative(f.file) === '.docker/config.json')?.vault).toBe('absent')
  })

  it('--respect-gitignore leaves out the .env files git would not commit', async () => {
    const repo = join(home, 'repo')
    const committed = ['sb', '_secret_'].join('') + 'c'.repeat(12) + Date.now()
    const ignored = ['sb', '_secret_'].join('') + 'i'.repeat(12) + Date.now()
    await mkdir(join(repo, 'deploy'), { recursive: true })
    await writeFile(join(repo, '.gitignore'), '.env\n.env.*\n')
    await writeFile(join(repo, '.env'), `SUPABASE_SECRET_KEY=${ignored}\n`)
    await writeFile(join(repo, 'deploy', 'prod.env'), `SUPABASE_SECRET_KEY=${committed}\n`)
    moreValues.push(ignored, committed)
    const inRepo = async (args: string[]) => {
      const result = await keywarden(['scan', '--dir', repo, '--json', ...args])
      return (JSON.parse(result.stdout) as { findings: JsonFinding[] }).findings
        .map((f) => relative(f.file))
        .filter((file) => file.startsWith('repo/'))
    }
    expect(await inRepo([])).toEqual(['repo/.env', 'repo/deploy/prod.env'])
    expect(await inRepo(['--respect-gitignore'])).toEqual(['repo/deploy/prod.env'])
    await rm(repo, { recursive: true })
  })

  it('a vault that cannot be reached leaves the verdicts unknown, the findings reported', async () => {
    const result = await runCli(['scan', '--dir', project, '--json'], {
      env: { ...env, KEYWARDEN_DATABASE_URL: 'postgres://postgres@127.0.0.1:9/nothing' },
    })
    outputs.push(result)
    expect(result.code, result.stderr).toBe(0)
    const { findings } = JSON.parse(result.stdout) as { findings: JsonFinding[] }
    expect(findings).toHaveLength(planted.length)
    expect(new Set(findings.map((f) => f.vault))).toEqual(new Set(['unknown']))
    expect(result.stderr).toContain('not compared with the vault')
  })

  it('a --dir that does not exist is a usage error', async () => {
    const result = await keywarden(['scan', '--dir', join(home, 'nowhere')])
    expectOneErrorLine(result, /no such directory/)
    expect(result.code).toBe(2)
  })

  it('--fix refuses to edit without a terminal or --yes', async () => {
    const result = await keywarden(['scan', '--dir', project, '--fix'])
    expectOneErrorLine(result, /--yes/)
    expect(result.code).toBe(2)
  })

  it('--fix --yes moves the secrets into the vault and rewrites the files, backups 0600', async () => {
    const zshrcBefore = await readFile(join(home, '.zshrc'), 'utf8')
    const result = await keywarden(['scan', '--dir', project, '--fix', '--yes', '--json'])
    expect(result.code, result.stderr).toBe(0)
    const report = JSON.parse(result.stdout) as {
      fix: {
        applied: Array<{ file: string; backup: string | null; moved: Array<{ name: string }> }>
        left: Array<{ file: string; line: number; kind: string; reason: string }>
        remaining: number
      }
    }
    const moved = planted.filter(
      (secret) => secret.fixable && !(secret.file === '.zshrc' && secret.kind.startsWith('openai')),
    )
    const names = report.fix.applied.flatMap((fix) => fix.moved.map((m) => m.name))
    expect(names).toEqual(
      expect.arrayContaining([
        'github_token',
        'anthropic_api_key',
        'aws_secret_access_key',
        'slack_bot_token',
        'slack_webhook_url',
        'gitlab_token',
        'hf_token',
        'groq_api_key',
        'supabase_secret_key',
        'database_url',
        'deploy_hook',
        'databricks_token',
        'signing_key',
        'github_personal_access_token',
        'supabase_service_role_key',
        'notion_token',
        'vercel_token',
        'tailscale_api_key',
        'stripe_secret_key',
      ]),
    )
    // Every moved value is in the vault, exactly.
    const stored = await client.getSecrets(names)
    const storedValues = new Set([...stored.values()].map((r) => r.value))
    for (const secret of moved) expect(storedValues.has(secret.value), key(secret)).toBe(true)
    // The vault's different value was not overwritten.
    expect((await client.getSecret('openai_api_key')).value).toBe('a-different-value-of-the-key')

    // What is left: the differing key, and what cannot be moved automatically, each with why.
    const left = report.fix.left.map((l) => key({ ...l, file: relative(l.file) })).sort()
    expect(left).toEqual(
      planted
        .filter((secret) => !moved.includes(secret))
        .map(key)
        .sort(),
    )
    expect(report.fix.remaining).toBe(left.length)
    for (const entry of report.fix.left) expect(entry.reason.length).toBeGreaterThan(10)

    // The rc file lost exactly the moved lines; everything else is byte for byte there.
    const zshrc = await readFile(join(home, '.zshrc'), 'utf8')
    const movedLines = new Set(moved.filter((s) => s.file === '.zshrc').map((s) => s.line))
    expect(zshrc).toBe(
      `${zshrcBefore
        .split('\n')
        .filter((_, index) => !movedLines.has(index + 1))
        .join('\n')}`,
    )
    expect(zshrc).toContain("alias ll='ls -lah'")
    expect(zshrc).toContain(tokens.openai)

    // The MCP config now starts its servers through keywarden run and holds no token.
    const claude = await readFile(join(home, '.config/Claude/claude_desktop_config.json'), 'utf8')
    expect(claude).not.toContain(tokens.githubFineGrained)
    expect(claude).not.toContain(tokens.supabaseServiceRole)
    const servers = (JSON.parse(claude) as { mcpServers: Record<string, { args: string[] }> })
      .mcpServers
    expect(servers.github?.args).toEqual(expect.arrayContaining(['run', '--', 'npx']))

    // Each rewritten file has a backup, owner-only, holding the original.
    const backups = report.fix.applied.flatMap((fix) => (fix.backup ? [fix.backup] : []))
    expect(backups.length).toBe(report.fix.applied.length)
    for (const backup of backups) expect((await stat(backup)).mode & 0o777).toBe(0o600)
    expect(await readFile(`${join(home, '.zshrc')}.backup`, 'utf8')).toBe(zshrcBefore)

    // Scanning again finds what was left (lines moved up in rewritten files), and the
    // backups of the project's .env files, which still hold the values until deleted.
    const again = await keywarden(['scan', '--dir', project, '--json'])
    const findings = (JSON.parse(again.stdout) as { findings: JsonFinding[] }).findings
    const fileAndKind = ({ file, kind }: { file: string; kind: string }) => `${file} ${kind}`
    const backedUp = moved
      .filter((secret) => secret.file.startsWith('project/') && secret.file.includes('.env'))
      .map((secret) => ({ ...secret, file: `${secret.file}.backup` }))
    expect(findings.map((f) => fileAndKind({ ...f, file: relative(f.file) })).sort()).toEqual(
      [...planted.filter((secret) => !moved.includes(secret)), ...backedUp].map(fileAndKind).sort(),
    )
  })
})
