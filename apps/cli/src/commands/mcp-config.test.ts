/**
 * `keywarden mcp-config`, as a user runs it: the built CLI spawned against a fresh database on
 * the real PostgreSQL server, editing a Claude Desktop config in a temporary folder given with
 * --config. Ends by starting a wrapped server exactly as Claude Desktop would, from the
 * rewritten file, to prove it still receives its token.
 */
import { spawn } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { chmod, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  createPostgresTestDatabase,
  type PostgresTestDatabase,
} from '../../../../packages/core/src/testing/databases.ts'
import { shellQuote } from '../format.ts'
import { claudeDesktopConfigPath } from '../mcp-clients/claude-desktop/index.ts'
import { CLI_PATH, type CliResult, runCli } from '../testing/run-cli.ts'

// Long and random: a prefix no output could contain by chance.
const CANARY = `ghp_kwcanary${randomBytes(20).toString('hex')}`
const OTHER_TOKEN = `sk-kwcanary${randomBytes(20).toString('hex')}`
const PASSWORD = 'pw-never-printed-51d2'

interface Entry {
  command: string
  args: string[]
  env?: Record<string, string>
}
interface Config {
  mcpServers: Record<string, Entry>
  [key: string]: unknown
}

// The probe stands in for the GitHub server when the wrapped entry is started for real: it
// prints the length and SHA-256 of the token it received, which prove the value without being
// one of the forms `keywarden run` masks.
const PROBE = `const t = process.env.GITHUB_PERSONAL_ACCESS_TOKEN; process.stdout.write(t.length + ':' + require('node:crypto').createHash('sha256').update(t).digest('hex'))`

/** A config as people have them: several servers, only some with tokens, and other settings. */
function realisticConfig(): Config {
  return {
    globalShortcut: 'Alt+Space',
    mcpServers: {
      github: {
        command: 'npx',
        args: ['-y', '@modelcontextprotocol/server-github'],
        env: { GITHUB_PERSONAL_ACCESS_TOKEN: CANARY, GITHUB_HOST: 'github.com' },
      },
      filesystem: {
        command: 'npx',
        args: ['-y', '@modelcontextprotocol/server-filesystem', '/Users/me/Desktop'],
      },
      logger: { command: 'uvx', args: ['mcp-logger'], env: { LOG_LEVEL: 'debug' } },
      probe: {
        command: process.execPath,
        args: ['-e', PROBE],
        env: { GITHUB_PERSONAL_ACCESS_TOKEN: CANARY },
      },
    },
    preferences: { theme: 'dark', recentFiles: ['a', 'b'] },
  }
}

const json = (value: unknown) => `${JSON.stringify(value, null, 2)}\n`

let database: PostgresTestDatabase
let env: Record<string, string>
let dir: string
const outputs: CliResult[] = []

const keywarden = async (args: string[], extraEnv: Record<string, string> = {}) => {
  const result = await runCli(['mcp-config', ...args], { env: { ...env, ...extraEnv } })
  outputs.push(result)
  return result
}

const exists = (path: string) =>
  stat(path).then(
    () => true,
    () => false,
  )

/** `mcp-config --wrap` on a pseudo-terminal (util-linux script), answering the question. */
function wrapOnTerminal(
  file: string,
  answer: string,
): Promise<{ code: number | null; screen: string }> {
  const command = [process.execPath, CLI_PATH, 'mcp-config', '--wrap', '--config', file]
    .map(shellQuote)
    .join(' ')
  return new Promise((resolve, reject) => {
    const child = spawn('script', ['-qec', command, '/dev/null'], {
      env: { PATH: process.env.PATH, TERM: 'xterm', NO_COLOR: '1', ...env },
      stdio: ['pipe', 'pipe', 'pipe'],
      timeout: 30_000,
    })
    let screen = ''
    let answered = false
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      screen += chunk
      // Typed only once the question shows, as a person would.
      if (!answered && screen.includes('[y/N]')) {
        answered = true
        child.stdin.write(`${answer}\r`)
      }
    })
    child.on('error', reject)
    child.on('close', (code) => resolve({ code, screen }))
  })
}

beforeAll(async () => {
  database = await createPostgresTestDatabase()
  dir = await mkdtemp(join(tmpdir(), 'kw-mcp-config-'))
  env = {
    KEYWARDEN_DATABASE_URL: database.url,
    KEYWARDEN_ROOT_KEY: database.rootKey,
    // Where --write puts the key file: never the developer's own ~/.keywarden.
    KEYWARDEN_HOME: join(dir, 'home'),
  }
})

afterAll(async () => {
  await database?.drop()
  if (dir) await rm(dir, { recursive: true, force: true })
})

describe('keywarden mcp-config', () => {
  it('prints the mcpServers entry: node and the keywarden-mcp bin, non-secret env only', async () => {
    const result = await keywarden([])
    expect(result.code).toBe(0)
    const printed = JSON.parse(result.stdout) as Config
    expect(Object.keys(printed)).toEqual(['mcpServers'])
    const entry = printed.mcpServers.keywarden
    expect(entry?.command).toBe(process.execPath)
    expect(entry?.args).toEqual([expect.stringMatching(/[\\/]mcp-server[\\/]dist[\\/]bin\.js$/)])
    expect(entry?.env).toEqual({
      KEYWARDEN_STORE: 'postgres',
      KEYWARDEN_DATABASE_URL: database.url,
    })
    // The root key is a secret: left out, and said so in one line.
    expect(result.stdout).not.toContain(database.rootKey)
    expect(result.stderr).toBe(
      'keywarden: KEYWARDEN_ROOT_KEY holds a secret and is not written to the config; keywarden mcp-config --write puts it in 0600 files in the vault home and the entry names the files\n',
    )
    // The command line works: it is the real keywarden-mcp.
    const version = await new Promise<string>((resolve, reject) => {
      const child = spawn(entry?.command ?? '', [...(entry?.args ?? []), '--version'])
      let out = ''
      child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
        out += chunk
      })
      child.on('error', reject)
      child.on('close', () => resolve(out))
    })
    expect(version).toMatch(/^\d+\.\d+\.\d+/)
  })

  it('leaves out a database URL with a password, and makes a relative --home absolute', async () => {
    const url = new URL(database.url)
    url.password = PASSWORD
    const withPassword = await keywarden(['--json'], { KEYWARDEN_DATABASE_URL: url.toString() })
    expect(withPassword.code).toBe(0)
    const report = JSON.parse(withPassword.stdout) as { mcpServers: Config['mcpServers'] }
    expect(report.mcpServers.keywarden?.env).toEqual({ KEYWARDEN_STORE: 'postgres' })
    expect(report).toMatchObject({
      written: false,
      omitted: ['KEYWARDEN_DATABASE_URL', 'KEYWARDEN_ROOT_KEY'],
    })
    expect(withPassword.stderr).toMatch(
      /^keywarden: KEYWARDEN_DATABASE_URL, KEYWARDEN_ROOT_KEY hold secrets .* --write puts them in 0600 files .*\n$/,
    )
    for (const text of [withPassword.stdout, withPassword.stderr]) {
      expect(text).not.toContain(PASSWORD)
    }

    const embedded = await runCli(['mcp-config', '--home', 'relative/vault'], { env: {} })
    expect(embedded.code).toBe(0)
    expect(embedded.stderr).toBe('')
    const entry = (JSON.parse(embedded.stdout) as Config).mcpServers.keywarden
    expect(entry?.env).toEqual({
      KEYWARDEN_STORE: 'embedded',
      KEYWARDEN_HOME: join(process.cwd(), 'relative/vault'),
    })
    // Printing opens no vault: nothing was created there.
    expect(await exists(join(process.cwd(), 'relative'))).toBe(false)
  })

  it('writes --allow-command as KEYWARDEN_MCP_ALLOWED_COMMANDS, checked as keywarden-mcp does', async () => {
    const args = ['--allow-command', 'gh', '--allow-command', 'git,/usr/local/bin/terraform']
    // gh and git run code from their arguments (gh alias --shell, git -c alias.x=!...).
    const refused = await keywarden(args)
    expect(refused.code).toBe(2)
    expect(refused.stderr).toMatch(
      /^keywarden: --allow-command gh, git: they run code .* the same as revealing it\. keywarden-mcp refuses it unless you add --i-understand-this-reveals\n$/,
    )
    const result = await keywarden([...args, '--i-understand-this-reveals'])
    expect(result.code).toBe(0)
    expect((JSON.parse(result.stdout) as Config).mcpServers.keywarden?.env).toEqual({
      KEYWARDEN_STORE: 'postgres',
      KEYWARDEN_DATABASE_URL: database.url,
      KEYWARDEN_MCP_ALLOWED_COMMANDS: 'gh,git,/usr/local/bin/terraform',
      KEYWARDEN_MCP_UNSAFE_COMMANDS: 'gh,git',
    })
    const safe = await keywarden(['--allow-command', 'terraform'])
    expect((JSON.parse(safe.stdout) as Config).mcpServers.keywarden?.env).not.toHaveProperty(
      'KEYWARDEN_MCP_UNSAFE_COMMANDS',
    )
    const bad = await keywarden(['--allow-command', 'sh -c'])
    expect(bad.code).toBe(2)
    expect(bad.stderr).toMatch(/^keywarden: --allow-command: allowed commands must be bare names/)
  })

  it('knows where Claude Desktop keeps its config on each platform', () => {
    const at = (platform: NodeJS.Platform, env: Record<string, string>, home: string) =>
      claudeDesktopConfigPath({ platform, env, home, cwd: home })
    expect(at('darwin', {}, '/Users/me')).toBe(
      '/Users/me/Library/Application Support/Claude/claude_desktop_config.json',
    )
    expect(at('win32', { APPDATA: 'C:\\Users\\me\\AppData\\Roaming' }, 'C:\\Users\\me')).toBe(
      'C:\\Users\\me\\AppData\\Roaming\\Claude\\claude_desktop_config.json',
    )
    expect(at('linux', {}, '/home/me')).toBe('/home/me/.config/Claude/claude_desktop_config.json')
    expect(at('linux', { XDG_CONFIG_HOME: '/xdg' }, '/home/me')).toBe(
      '/xdg/Claude/claude_desktop_config.json',
    )
  })

  it('--write creates a missing file (and its folder) holding just the entry', async () => {
    const file = join(dir, 'new', 'Claude', 'claude_desktop_config.json')
    const result = await keywarden(['--write', '--config', file])
    expect(result.code).toBe(0)
    expect(result.stdout).toContain(`Created ${file}.`)
    // The printed entry leaves the root key out; the written one names its file instead.
    const printed = JSON.parse((await keywarden([])).stdout) as Config
    const keyFile = join(env.KEYWARDEN_HOME ?? '', 'mcp-root.key')
    const written = await readFile(file, 'utf8')
    expect(JSON.parse(written)).toEqual({
      mcpServers: {
        keywarden: {
          ...printed.mcpServers.keywarden,
          env: { ...printed.mcpServers.keywarden?.env, KEYWARDEN_ROOT_KEY_FILE: keyFile },
        },
      },
    })
    expect(written).not.toContain(database.rootKey)
    expect(await readFile(keyFile, 'utf8')).toBe(`${database.rootKey}\n`)
    expect((await stat(keyFile)).mode & 0o777).toBe(0o600)
    expect((await stat(file)).mode & 0o777).toBe(0o600)
    expect(await readdir(join(dir, 'new', 'Claude'))).toEqual(['claude_desktop_config.json'])
  })

  it('--write merges into an existing file: others untouched, a byte-identical backup', async () => {
    const file = join(dir, 'existing.json')
    const original = json(realisticConfig())
    await writeFile(file, original)
    await chmod(file, 0o640)
    const result = await keywarden(['--write', '--config', file])
    expect(result.code).toBe(0)
    expect(result.stdout).toContain(`Added the keywarden server to ${file}.`)
    expect(result.stdout).toContain(`the original is in ${file}.backup`)

    const backup = await readFile(`${file}.backup`)
    expect(backup.equals(Buffer.from(original))).toBe(true)
    // The backup holds the tokens: owner-only whatever the file's own mode.
    expect((await stat(`${file}.backup`)).mode & 0o777).toBe(0o600)
    expect((await stat(file)).mode & 0o777).toBe(0o640)

    const written = await readFile(file, 'utf8')
    const config = JSON.parse(written) as Config
    const { keywarden: added, ...others } = config.mcpServers
    expect(added?.command).toBe(process.execPath)
    expect({ ...config, mcpServers: others }).toEqual(realisticConfig())
    // The same key order, and 2-space JSON as Claude Desktop writes it.
    expect(Object.keys(config)).toEqual(['globalShortcut', 'mcpServers', 'preferences'])
    expect(Object.keys(config.mcpServers)).toEqual([
      'github',
      'filesystem',
      'logger',
      'probe',
      'keywarden',
    ])
    expect(written).toBe(json(config))

    // Again: nothing to change, so nothing written and no second backup.
    const again = await keywarden(['--write', '--config', file])
    expect(again.code).toBe(0)
    expect(again.stdout).toContain('already up to date')
    expect(await readFile(file, 'utf8')).toBe(written)
    expect(await exists(`${file}.backup.1`)).toBe(false)
  })

  it('invalid JSON: exit 1, one line with the position and no quote, nothing written', async () => {
    const file = join(dir, 'broken.json')
    const broken = `{\n  "mcpServers": {\n    "github": { "env": { "TOKEN": ${CANARY} } }\n  }\n}\n`
    await writeFile(file, broken)
    const column = (broken.split('\n')[2] ?? '').indexOf(CANARY) + 1
    for (const args of [['--write'], ['--wrap', '--yes']]) {
      const result = await keywarden([...args, '--config', file])
      expect(result.code).toBe(1)
      expect(result.stdout).toBe('')
      expect(result.stderr).toBe(
        `keywarden: ${file} is not valid JSON (line 3, column ${column}); nothing was written\n`,
      )
    }
    expect(await readFile(file, 'utf8')).toBe(broken)
    expect(await readdir(dir)).not.toContain('broken.json.backup')
    expect((await readdir(dir)).filter((name) => name.includes('keywarden-'))).toEqual([])
  })

  it('--wrap without --yes on a pipe exits 2 and writes nothing', async () => {
    const file = join(dir, 'refused.json')
    const original = json(realisticConfig())
    await writeFile(file, original)
    const result = await keywarden(['--wrap', '--config', file])
    expect(result.code).toBe(2)
    expect(result.stdout).toBe('')
    expect(result.stderr).toMatch(/^keywarden: --wrap asks before .* pass --yes .*\n$/)
    expect(await readFile(file, 'utf8')).toBe(original)
    expect(await exists(`${file}.backup`)).toBe(false)
    const listed = await runCli(['list', '--json'], { env })
    expect(JSON.parse(listed.stdout)).toEqual([])
  })

  describe('--wrap on a realistic config', () => {
    const file = () => join(dir, 'wrap.json')
    const original = json(realisticConfig())

    it('moves the token into the vault and leaves no secret in the file', async () => {
      await writeFile(file(), original)
      const result = await keywarden(['--wrap', '--yes', '--config', file()])
      expect(result.code).toBe(0)
      expect(result.stdout).toMatch(
        /github +GITHUB_PERSONAL_ACCESS_TOKEN +github_personal_access_token +new\n/,
      )
      expect(result.stdout).toMatch(
        /probe +GITHUB_PERSONAL_ACCESS_TOKEN +github_personal_access_token +already there\n/,
      )
      expect(result.stdout).toContain(
        'Moved 1 new secret into the vault; "github", "probe" now run through keywarden run.',
      )

      const get = await runCli(['get', 'github_personal_access_token'], { env })
      expect(get).toMatchObject({ code: 0, stdout: CANARY, stderr: '' })
      const listed = JSON.parse((await runCli(['list', '--json'], { env })).stdout) as Array<{
        name: string
        type: string
        description: string
      }>
      expect(listed).toEqual([
        expect.objectContaining({
          name: 'github_personal_access_token',
          type: 'github_token',
          description: 'moved from wrap.json (server github)',
        }),
      ])

      const written = await readFile(file(), 'utf8')
      expect(written).not.toContain(CANARY)
      expect(written).not.toContain(CANARY.slice(4, 20))
      expect((await readFile(`${file()}.backup`, 'utf8')) === original).toBe(true)

      const config = JSON.parse(written) as Config
      const before = realisticConfig()
      // --wrap alone does not add the keywarden server.
      expect(Object.keys(config.mcpServers)).toEqual(['github', 'filesystem', 'logger', 'probe'])
      expect(config.mcpServers.github).toEqual({
        command: process.execPath,
        args: [
          CLI_PATH,
          'run',
          '--only',
          'github_personal_access_token',
          '--env',
          'GITHUB_PERSONAL_ACCESS_TOKEN=github_personal_access_token',
          '--',
          'npx',
          '-y',
          '@modelcontextprotocol/server-github',
        ],
        // The non-secret variable stays; the Keywarden configuration lets `run` find the vault.
        env: {
          GITHUB_HOST: 'github.com',
          KEYWARDEN_STORE: 'postgres',
          KEYWARDEN_DATABASE_URL: database.url,
          KEYWARDEN_ROOT_KEY_FILE: join(env.KEYWARDEN_HOME ?? '', 'mcp-root.key'),
        },
      })
      expect(config.mcpServers.filesystem).toEqual(before.mcpServers.filesystem)
      expect(config.mcpServers.logger).toEqual(before.mcpServers.logger)
      expect(config.globalShortcut).toBe(before.globalShortcut)
      expect(config.preferences).toEqual(before.preferences)
    })

    it('a second --wrap changes nothing', async () => {
      const before = await readFile(file())
      const result = await keywarden(['--wrap', '--yes', '--json', '--config', file()])
      expect(result.code).toBe(0)
      expect(JSON.parse(result.stdout)).toMatchObject({
        written: false,
        backup: null,
        keywarden: null,
        wrapped: [],
        alreadyWrapped: ['github', 'probe'],
        refused: [],
      })
      expect((await readFile(file())).equals(before)).toBe(true)
      expect(await exists(`${file()}.backup.1`)).toBe(false)
    })

    it('the wrapped server, started as Claude Desktop would, receives its token', async () => {
      const config = JSON.parse(await readFile(file(), 'utf8')) as Config
      const probe = config.mcpServers.probe
      expect(probe?.args.slice(0, 6)).toEqual([
        CLI_PATH,
        'run',
        '--only',
        'github_personal_access_token',
        '--env',
        'GITHUB_PERSONAL_ACCESS_TOKEN=github_personal_access_token',
      ])
      const result = await new Promise<{ code: number | null; stdout: string; stderr: string }>(
        (resolve, reject) => {
          const child = spawn(probe?.command ?? '', probe?.args ?? [], {
            // Only the entry's env, nothing inherited: the root key comes from its file.
            env: probe?.env,
            stdio: ['ignore', 'pipe', 'pipe'],
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
        },
      )
      expect(result.stderr).toBe('')
      expect(result.code).toBe(0)
      const sha = createHash('sha256').update(CANARY).digest('hex')
      expect(result.stdout).toBe(`${CANARY.length}:${sha}`)
    })

    it('refuses a server whose token differs from the vault, wraps the rest, exits 1', async () => {
      const conflicting = join(dir, 'conflict.json')
      const config = {
        mcpServers: {
          github: {
            command: 'npx',
            args: ['-y', '@modelcontextprotocol/server-github'],
            env: { GITHUB_PERSONAL_ACCESS_TOKEN: `${CANARY}x` },
          },
          openai: { command: 'openai-mcp', env: { OPENAI_API_KEY: OTHER_TOKEN } },
        },
      }
      await writeFile(conflicting, json(config))
      const result = await keywarden(['--write', '--wrap', '--yes', '--config', conflicting])
      expect(result.code).toBe(1)
      expect(result.stderr).toContain(
        `keywarden: left server "github" as it was: the vault's github_personal_access_token holds a different value than GITHUB_PERSONAL_ACCESS_TOKEN; make them agree`,
      )
      const written = JSON.parse(await readFile(conflicting, 'utf8')) as Config
      expect(written.mcpServers.github).toEqual(config.mcpServers.github)
      expect(written.mcpServers.openai?.args).toContain('--only')
      expect(written.mcpServers.openai?.env).not.toHaveProperty('OPENAI_API_KEY')
      expect(written.mcpServers.keywarden?.command).toBe(process.execPath)
      // The vault's value was not overwritten.
      const get = await runCli(['get', 'github_personal_access_token'], { env })
      expect(get.stdout).toBe(CANARY)
      expect((await runCli(['get', 'openai_api_key'], { env })).stdout).toBe(OTHER_TOKEN)
    })
  })

  it.skipIf(process.platform !== 'linux')(
    'on a terminal, asks first: n keeps, y wraps',
    async () => {
      const file = join(dir, 'terminal.json')
      const original = json({
        mcpServers: { brave: { command: 'brave-mcp', env: { BRAVE_API_KEY: `${OTHER_TOKEN}b` } } },
      })
      await writeFile(file, original)
      const declined = await wrapOnTerminal(file, 'n')
      expect(declined.screen).toContain('Move 1 secret into the vault and rewrite 1 server')
      expect(declined.screen).toContain('nothing was changed')
      expect(declined.code).toBe(1)
      expect(await readFile(file, 'utf8')).toBe(original)
      expect(await exists(`${file}.backup`)).toBe(false)

      const accepted = await wrapOnTerminal(file, 'y')
      expect(accepted.code).toBe(0)
      expect(accepted.screen).toContain('"brave" now runs through keywarden run')
      expect(accepted.screen).toContain(`${file}.backup still holds the tokens`)
      expect(await readFile(file, 'utf8')).not.toContain(OTHER_TOKEN)
      for (const { screen } of [declined, accepted]) expect(screen).not.toContain(OTHER_TOKEN)
    },
  )

  it('never printed a token or the database password', () => {
    expect(outputs.length).toBeGreaterThan(10)
    for (const { stdout, stderr } of outputs) {
      for (const secret of [CANARY, OTHER_TOKEN, PASSWORD, database.rootKey]) {
        expect(stdout).not.toContain(secret)
        expect(stderr).not.toContain(secret)
      }
    }
  })
})
