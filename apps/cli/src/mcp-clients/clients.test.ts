/**
 * `keywarden mcp-config --client NAME` on a realistic file of every client (../testing/
 * fixtures.ts), as a user runs it: the built CLI spawned against a fresh database on the real
 * PostgreSQL server. For each format: --wrap moves the tokens into the vault and keeps every
 * comment and every other setting; the file, parsed back (JSONC by jsonc-parser, TOML by
 * smol-toml, an independent parser), holds entries that, spawned with exactly their command,
 * args and env, hand the server its token through `keywarden run`; --unwrap gives back the
 * original document; --write adds keywarden-mcp as the client spells it. Then --client all does
 * every file on a fake machine with one plan.
 */
import { spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { parse as parseJsonc } from 'jsonc-parser'
import { parse as parseToml } from 'smol-toml'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  createPostgresTestDatabase,
  type PostgresTestDatabase,
} from '../../../../packages/core/src/testing/databases.ts'
import { shellQuote } from '../format.ts'
import { CLI_PATH, type CliResult, runCli } from '../testing/run-cli.ts'
import { type Fixture, fixtures, TOKENS } from './testing/fixtures.ts'

interface Entry {
  type?: string
  command: string
  args: string[]
  env?: Record<string, string>
}
type Document = Record<string, unknown>

const databases: PostgresTestDatabase[] = []
const outputs: CliResult[] = []
let dir: string

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kw-mcp-clients-'))
})

afterAll(async () => {
  for (const database of databases) await database.drop()
  if (dir) await rm(dir, { recursive: true, force: true })
})

/** A fresh vault on its own database, and the environment that points at it. */
async function freshVault(name: string): Promise<Record<string, string>> {
  const database = await createPostgresTestDatabase()
  databases.push(database)
  return {
    KEYWARDEN_DATABASE_URL: database.url,
    KEYWARDEN_ROOT_KEY: database.rootKey,
    // Where the root key's 0600 file goes: never the developer's own ~/.keywarden.
    KEYWARDEN_HOME: join(dir, name, 'keywarden'),
  }
}

async function keywarden(
  args: string[],
  env: Record<string, string>,
  cwd?: string,
): Promise<CliResult> {
  const result = await runCli(['mcp-config', ...args], { env, ...(cwd ? { cwd } : {}) })
  outputs.push(result)
  return result
}

function parseFile(fixture: Pick<Fixture, 'client'>, text: string): Document {
  if (fixture.client === 'codex') return parseToml(text) as Document
  const errors: unknown[] = []
  const parsed = parseJsonc(text, errors as never, { allowTrailingComma: true }) as Document
  expect(errors).toEqual([])
  return parsed
}

function serversOf(fixture: Fixture, document: Document): Record<string, Entry> {
  return fixture.servers.reduce<unknown>(
    (value, key) => (value as Record<string, unknown>)[key],
    document,
  ) as Record<string, Entry>
}

function entryOf(fixture: Fixture, document: Document, server: string): Entry | undefined {
  const [name, project] = server.split('@')
  if (project !== undefined) {
    const projects = document.projects as Record<string, { mcpServers: Record<string, Entry> }>
    return projects[project]?.mcpServers[name ?? '']
  }
  return serversOf(fixture, document)[name ?? '']
}

/** Starts `entry` exactly as written, with nothing but its env (as the clients give it). */
function spawnEntry(
  entry: Entry,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(entry.command, entry.args, {
      env: entry.env ?? {},
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: 60_000,
    })
    let stdout = ''
    let stderr = ''
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk
    })
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk
    })
    child.on('error', reject)
    child.on('close', (code) => resolve({ code, stdout, stderr }))
  })
}

const proof = (token: string) =>
  `${token.length}:${createHash('sha256').update(token).digest('hex')}`

describe.each(fixtures())('mcp-config --client $client', (fixture) => {
  let env: Record<string, string>
  let file: string
  let original: Document

  beforeAll(async () => {
    env = await freshVault(fixture.client)
    file = join(dir, fixture.client, fixture.path)
    await mkdir(dirname(file), { recursive: true })
    await writeFile(file, fixture.text, { mode: 0o644 })
    original = parseFile(fixture, fixture.text)
  })

  const client = () => ['--client', fixture.client, '--scope', fixture.scope, '--config', file]

  it('--wrap moves the tokens into the vault and keeps the comments and everything else', async () => {
    const result = await keywarden([...client(), '--wrap', '--yes', '--json'], env)
    expect(result.stderr).toBe('')
    expect(result.code).toBe(0)
    const report = JSON.parse(result.stdout) as {
      client: string
      wrapped: Array<{ server: string; where?: string }>
      backup: string
    }
    expect(report.client).toBe(fixture.client)
    expect(
      report.wrapped.map((w) =>
        w.where ? `${w.server}@${w.where.replace(/^project /, '')}` : w.server,
      ),
    ).toEqual(fixture.wrapped)

    const text = await readFile(file, 'utf8')
    for (const token of Object.values(TOKENS)) expect(text).not.toContain(token)
    for (const comment of fixture.comments) expect(text).toContain(comment)
    expect((await readFile(report.backup, 'utf8')) === fixture.text).toBe(true)
    expect((await stat(report.backup)).mode & 0o777).toBe(0o600)
    expect((await stat(file)).mode & 0o777).toBe(0o644)

    const written = parseFile(fixture, text)
    for (const server of fixture.wrapped) {
      const entry = entryOf(fixture, written, server)
      const before = entryOf(fixture, original, server)
      expect(entry?.command).toBe(process.execPath)
      expect(entry?.args.slice(0, 3)).toEqual([CLI_PATH, 'run', '--only'])
      // The original command line follows `--`, whole.
      expect(entry?.args.slice(entry.args.indexOf('--') + 1)).toEqual([
        before?.command,
        ...(before?.args ?? []),
      ])
      // The entry's other keys stay as they were (type, trust, timeout, disabled...).
      const { command: _c, args: _a, env: _e, ...rest } = before ?? ({} as Entry)
      expect(entry).toMatchObject(rest)
    }
    // Servers without plaintext (references, remote ones) and every other setting are untouched.
    const unwrappedNames = Object.keys(serversOf(fixture, original)).filter(
      (name) => !fixture.wrapped.includes(name),
    )
    for (const name of unwrappedNames) {
      expect(serversOf(fixture, written)[name]).toEqual(serversOf(fixture, original)[name])
    }
    const { [fixture.servers[0] ?? '']: _servers, projects: _projects, ...settings } = original
    expect(written).toMatchObject(settings)
  })

  it('the wrapped probe, spawned with exactly its command, args and env, gets its token', async () => {
    const written = parseFile(fixture, await readFile(file, 'utf8'))
    const probe = entryOf(fixture, written, 'probe')
    if (probe === undefined) throw new Error('no probe entry')
    expect(JSON.stringify(probe)).not.toContain(fixture.probe.token)
    const result = await spawnEntry(probe)
    expect(result.stderr).toBe('')
    expect(result.code).toBe(0)
    expect(result.stdout).toBe(proof(fixture.probe.token))
  })

  it('a second --wrap changes nothing', async () => {
    const before = await readFile(file)
    const result = await keywarden([...client(), '--wrap', '--yes', '--json'], env)
    expect(result.code).toBe(0)
    expect(JSON.parse(result.stdout)).toMatchObject({ written: false, wrapped: [], refused: [] })
    expect((await readFile(file)).equals(before)).toBe(true)
  })

  it('--unwrap restores the original entries, values from the vault, comments kept', async () => {
    const result = await keywarden([...client(), '--unwrap', '--yes', '--json'], env)
    expect(result.stderr).toBe('')
    expect(result.code).toBe(0)
    const report = JSON.parse(result.stdout) as { unwrapped: unknown[] }
    expect(report.unwrapped).toHaveLength(fixture.wrapped.length)
    const text = await readFile(file, 'utf8')
    for (const comment of fixture.comments) expect(text).toContain(comment)
    expect(parseFile(fixture, text)).toEqual(original)
  })

  it('--write adds keywarden-mcp as this client spells it, and it starts', async () => {
    const result = await keywarden([...client(), '--write'], env)
    expect(result.code).toBe(0)
    expect(result.stdout).toContain(`Added the keywarden server to ${file}.`)
    const text = await readFile(file, 'utf8')
    for (const comment of fixture.comments) expect(text).toContain(comment)
    const written = parseFile(fixture, text)
    const entry = serversOf(fixture, written).keywarden
    expect(entry?.command).toBe(process.execPath)
    expect(entry?.args).toEqual([expect.stringMatching(/[\\/]mcp-server[\\/]dist[\\/]bin\.js$/)])
    if (fixture.client === 'vscode' || fixture.client === 'claude-code') {
      expect(entry?.type).toBe('stdio')
    }
    expect(entry?.env?.KEYWARDEN_ROOT_KEY_FILE).toBe(join(env.KEYWARDEN_HOME ?? '', 'mcp-root.key'))
    const { keywarden: _added, ...others } = serversOf(fixture, written)
    expect(others).toEqual(serversOf(fixture, original))
    const version = await spawnEntry({
      ...(entry as Entry),
      args: [...(entry?.args ?? []), '--version'],
    })
    expect(version.stdout).toMatch(/^\d+\.\d+\.\d+/)
  })
})

describe('mcp-config --client all', () => {
  let env: Record<string, string>
  let home: string
  let project: string
  const placed: Array<{ fixture: Fixture; file: string }> = []

  beforeAll(async () => {
    home = join(dir, 'all', 'home')
    project = join(dir, 'all', 'project')
    env = { ...(await freshVault('all')), HOME: home }
    for (const fixture of fixtures()) {
      if (!['claude-desktop', 'cursor', 'vscode', 'codex'].includes(fixture.client)) continue
      const file = join(fixture.scope === 'user' ? home : project, fixture.path)
      await mkdir(dirname(file), { recursive: true })
      await writeFile(file, fixture.text)
      placed.push({ fixture, file })
    }
  })

  it.skipIf(process.platform !== 'linux')(
    'on a terminal: one plan for every file, one question; n changes nothing',
    async () => {
      const command = [process.execPath, CLI_PATH, 'mcp-config', '--client', 'all', '--wrap']
        .map(shellQuote)
        .join(' ')
      const screen = await new Promise<string>((resolve, reject) => {
        // util-linux script: a pseudo-terminal, as a person runs it.
        const child = spawn('script', ['-qec', command, '/dev/null'], {
          cwd: project,
          env: { PATH: process.env.PATH, TERM: 'xterm', NO_COLOR: '1', ...env },
          stdio: ['pipe', 'pipe', 'pipe'],
          timeout: 60_000,
        })
        let output = ''
        let answered = false
        child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
          output += chunk
          if (!answered && output.includes('[y/N]')) {
            answered = true
            child.stdin.write('n\r')
          }
        })
        child.on('error', reject)
        child.on('close', () => resolve(output))
      })
      outputs.push({ code: 0, signal: null, stdout: screen, stderr: '' })
      expect(screen.match(/\[y\/N\]/g)).toHaveLength(1)
      const question = screen.indexOf('[y/N]')
      for (const { file } of placed) {
        const shown = screen.indexOf(`in ${file} (`)
        expect(shown).toBeGreaterThanOrEqual(0)
        expect(shown).toBeLessThan(question)
      }
      expect(screen).toContain(`rewrite 8 servers in ${placed.length} files (backups are kept)?`)
      expect(screen).toContain('nothing was changed')
      for (const { fixture, file } of placed) {
        expect(await readFile(file, 'utf8')).toBe(fixture.text)
      }
    },
  )

  it('--wrap finds every config on the machine and shows one plan before changing any', async () => {
    const result = await keywarden(['--client', 'all', '--wrap', '--yes'], env, project)
    expect(result.stderr).toBe('')
    expect(result.code).toBe(0)
    const plan = result.stdout.slice(0, result.stdout.indexOf('Moved '))
    for (const { fixture, file } of placed) {
      expect(plan).toContain(`in ${file} (`)
      const text = await readFile(file, 'utf8')
      for (const token of Object.values(TOKENS)) expect(text).not.toContain(token)
      for (const comment of fixture.comments) expect(text).toContain(comment)
    }
    // The token three files share went into the vault once.
    expect(result.stdout).toMatch(
      /github +GITHUB_PERSONAL_ACCESS_TOKEN +github_personal_access_token +new\n/,
    )
    expect(result.stdout.match(/ new\n/g)?.length).toBe(
      new Set([
        'github_personal_access_token',
        'openai_api_key',
        'linear_api_key',
        'slack_bot_token',
        'anthropic_api_key',
      ]).size,
    )
    const listed = JSON.parse((await runCli(['list', '--json'], { env })).stdout) as Array<{
      name: string
    }>
    expect(listed.map((s) => s.name).sort()).toEqual([
      'anthropic_api_key',
      'github_personal_access_token',
      'linear_api_key',
      'openai_api_key',
      'slack_bot_token',
    ])
  })

  it('--unwrap --json puts every file back', async () => {
    const result = await keywarden(['--client', 'all', '--unwrap', '--yes', '--json'], env, project)
    expect(result.code).toBe(0)
    const report = JSON.parse(result.stdout) as { files: Array<{ file: string; written: boolean }> }
    expect(report.files.map((f) => f.file).sort()).toEqual(placed.map((p) => p.file).sort())
    for (const { fixture, file } of placed) {
      expect(parseFile(fixture, await readFile(file, 'utf8'))).toEqual(
        parseFile(fixture, fixture.text),
      )
    }
  })
})

describe('mcp-config --client: what it refuses', () => {
  it('an unknown client, a scope the client lacks, --wrap with --unwrap, all without a flag', async () => {
    const env = { HOME: join(dir, 'usage-home'), KEYWARDEN_HOME: join(dir, 'usage-home', 'kw') }
    const cases: Array<[string[], RegExp]> = [
      [
        ['--client', 'zed'],
        /^keywarden: --client takes claude-desktop, claude-code, .* or all, not "zed"\n$/,
      ],
      [
        ['--client', 'windsurf', '--scope', 'project'],
        /^keywarden: Windsurf has no project config file/,
      ],
      [['--scope', 'team'], /^keywarden: --scope takes user or project\n$/],
      [['--wrap', '--unwrap', '--yes'], /^keywarden: --wrap and --unwrap undo each other/],
      [['--client', 'all'], /^keywarden: --client all needs --write, --wrap or --unwrap\n$/],
      [
        ['--client', 'all', '--wrap', '--config', 'x.json'],
        /^keywarden: --client all finds the files itself/,
      ],
      [
        ['--client', 'codex', '--unwrap'],
        /^keywarden: --unwrap asks before moving secrets back into .*config\.toml and stdin is not a terminal; pass --yes/,
      ],
    ]
    for (const [args, message] of cases) {
      const result = await keywarden(args, env)
      expect(result.stdout).toBe('')
      expect(result.stderr).toMatch(message)
      expect(result.code).toBe(2)
    }
  })

  it('prints the entry as the client spells it: a [mcp_servers.keywarden] table for Codex', async () => {
    const env = { HOME: join(dir, 'usage-home'), KEYWARDEN_HOME: join(dir, 'usage-home', 'kw') }
    const codex = await keywarden(['--client', 'codex'], env)
    expect(codex.code).toBe(0)
    expect(parseToml(codex.stdout)).toEqual({
      mcp_servers: {
        keywarden: {
          command: process.execPath,
          args: [expect.stringMatching(/[\\/]mcp-server[\\/]dist[\\/]bin\.js$/)],
          env: { KEYWARDEN_HOME: env.KEYWARDEN_HOME },
        },
      },
    })
    const vscode = await keywarden(['--client', 'vscode', '--scope', 'project'], env)
    expect(JSON.parse(vscode.stdout)).toMatchObject({ servers: { keywarden: { type: 'stdio' } } })
  })
})

it('never printed a token', () => {
  expect(outputs.length).toBeGreaterThanOrEqual(30)
  for (const { stdout, stderr } of outputs) {
    for (const token of Object.values(TOKENS)) {
      expect(stdout).not.toContain(token)
      expect(stderr).not.toContain(token)
    }
  }
})
