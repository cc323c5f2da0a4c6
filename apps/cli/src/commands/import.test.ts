/**
 * `keywarden import`, as a user runs it: the built CLI spawned as a process against a fresh
 * database on the real PostgreSQL server, reading files in a temporary folder.
 */
import { chmod, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createVaultClient, type VaultClient } from '../../../../packages/core/src/index.ts'
import {
  createPostgresTestDatabase,
  type PostgresTestDatabase,
} from '../../../../packages/core/src/testing/databases.ts'
import { expectOneErrorLine } from '../testing/command-suite.ts'
import { type CliResult, runCli } from '../testing/run-cli.ts'

const CANARY = 'kw-canary-7c1e0b5a9d'
const GITHUB_TOKEN = 'ghp_R4nd0mT0k3nV4lu3F0rT3st1ngXXXXXXXXXX'
const PEM =
  '-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----'

// A .zshrc as people have them: oh-my-zsh, PATH edits, aliases, functions, conditionals, and
// tokens exported every which way.
const ZSHRC_LINES = [
  '# ~/.zshrc',
  'export ZSH="$HOME/.oh-my-zsh"',
  'ZSH_THEME="robbyrussell"',
  'plugins=(git docker kubectl)',
  'source $ZSH/oh-my-zsh.sh',
  '',
  'export EDITOR=nvim',
  'export LANG=en_US.UTF-8',
  'export PATH="$HOME/.local/bin:$PATH"',
  'export PATH=/opt/homebrew/bin:$PATH',
  'path+=("$HOME/go/bin")',
  '',
  "alias ll='ls -lah'",
  'alias gst="git status"',
  "alias deploy='GITHUB_TOKEN=ghp_in_alias ./deploy.sh'",
  '',
  '# API keys',
  `export GITHUB_TOKEN=${GITHUB_TOKEN}`,
  'export OPENAI_API_KEY="sk-proj-abc\\"quoted\\"\\$notvar\\\\"',
  "export ANTHROPIC_API_KEY='sk-ant-api03-single $quoted' # Claude",
  'NPM_TOKEN=npm_AbC123dEf456  # publish',
  `export SSH_SIGNING_KEY="${PEM}"`,
  `export CANARY_TOKEN=${CANARY}`,
  'export GH_TOKEN=$(gh auth token)',
  'export AWS_SECRET_ACCESS_KEY="$AWS_SECRET_FROM_VAULT"',
  '',
  'mkcd() {',
  '  mkdir -p "$1" && cd "$1"',
  '  export FUNCTION_TOKEN=inside-a-function',
  '}',
  '',
  'if [[ "$OSTYPE" == darwin* ]]; then',
  '  export HOMEBREW_GITHUB_API_TOKEN=ghp_inside_if',
  'fi',
  '',
  'eval "$(starship init zsh)"',
  '[ -f ~/.fzf.zsh ] && source ~/.fzf.zsh',
  'export NVM_DIR="$HOME/.nvm"',
  '[ -s "$NVM_DIR/nvm.sh" ] && \\. "$NVM_DIR/nvm.sh"',
]
const ZSHRC = `${ZSHRC_LINES.join('\n')}\n`
// The file's physical lines: the PEM above spans three.
const PHYSICAL_LINES = ZSHRC.slice(0, -1).split('\n')

const lineOf = (prefix: string) => PHYSICAL_LINES.findIndex((line) => line.startsWith(prefix)) + 1

const EXPECTED = {
  github_token: { value: GITHUB_TOKEN, type: 'github_token', line: lineOf('export GITHUB_TOKEN') },
  openai_api_key: {
    value: 'sk-proj-abc"quoted"$notvar\\',
    type: 'api_key',
    line: lineOf('export OPENAI_API_KEY'),
  },
  anthropic_api_key: {
    value: 'sk-ant-api03-single $quoted',
    type: 'api_key',
    line: lineOf('export ANTHROPIC_API_KEY'),
  },
  npm_token: { value: 'npm_AbC123dEf456', type: 'other', line: lineOf('NPM_TOKEN') },
  ssh_signing_key: { value: PEM, type: 'signing_key', line: lineOf('export SSH_SIGNING_KEY') },
  canary_token: { value: CANARY, type: 'other', line: lineOf('export CANARY_TOKEN') },
} as const
// The PEM spans three lines.
const IMPORTED_LINES = new Set(
  Object.values(EXPECTED).flatMap(({ value, line }) =>
    Array.from({ length: value.split('\n').length }, (_, index) => line + index),
  ),
)

let database: PostgresTestDatabase
let env: Record<string, string>
let client: VaultClient
let dir: string
const outputs: CliResult[] = []

const keywarden = async (args: string[], input?: string) => {
  const result = await runCli(args, { env, ...(input === undefined ? {} : { input }) })
  outputs.push(result)
  return result
}

beforeAll(async () => {
  database = await createPostgresTestDatabase()
  env = { KEYWARDEN_DATABASE_URL: database.url, KEYWARDEN_ROOT_KEY: database.rootKey }
  client = createVaultClient({ env, accessedBy: 'test', envFallback: false, cache: { ttlMs: 0 } })
  dir = await mkdtemp(join(tmpdir(), 'kw-import-'))
})

afterAll(async () => {
  await client?.close()
  await database?.drop()
  if (dir) await rm(dir, { recursive: true, force: true })
})

async function fixture(name: string, content: string | Buffer, mode = 0o644): Promise<string> {
  const path = join(dir, name)
  await mkdir(join(path, '..'), { recursive: true })
  await writeFile(path, content)
  await chmod(path, mode)
  return path
}

async function versions(): Promise<Record<string, number>> {
  return Object.fromEntries((await client.listSecrets()).map((s) => [s.name, s.version]))
}

const exists = (path: string) =>
  stat(path).then(
    () => true,
    () => false,
  )

describe('keywarden import', () => {
  it('--dry-run shows names, lines and types, never values, and writes nothing', async () => {
    const file = await fixture('dry/.zshrc', ZSHRC)
    const result = await keywarden(['import', file, '--dry-run'])
    expect(result.code).toBe(0)
    expect(result.stderr).toBe('')
    for (const [name, { type, line }] of Object.entries(EXPECTED)) {
      expect(result.stdout).toMatch(
        new RegExp(`\\n${name} +[A-Z_]+ +${line}(-\\d+)? +${type} +would create\\n`),
      )
    }
    expect(result.stdout).toContain(`Would import 6 secrets from ${file}:`)
    const skipped = [
      `line ${lineOf('export GH_TOKEN')}  GH_TOKEN: the value uses command substitution`,
      `line ${lineOf('export AWS_SECRET')}  AWS_SECRET_ACCESS_KEY: the value uses a $VAR expansion`,
      `line ${lineOf('  export FUNCTION_TOKEN')}  FUNCTION_TOKEN: it is inside a function`,
      `line ${lineOf('  export HOMEBREW')}  HOMEBREW_GITHUB_API_TOKEN: it is inside a function`,
    ]
    for (const line of skipped) expect(result.stdout).toContain(line)
    expect(result.stdout).toContain('Skipped 4 assignments:')
    expect(result.stdout).toContain(
      'Left alone (not secrets): EDITOR, LANG, NVM_DIR, PATH, ZSH, ZSH_THEME, path, plugins\n',
    )
    expect(result.stdout).toContain('Dry run: nothing was written.')
    for (const { value } of Object.values(EXPECTED)) expect(result.stdout).not.toContain(value)
    expect(await client.listSecrets()).toEqual([])
    expect(await readFile(file, 'utf8')).toBe(ZSHRC)
    expect(await exists(`${file}.backup`)).toBe(false)
  })

  it('imports exactly the expected secrets from a realistic .zshrc; values round-trip', async () => {
    const file = await fixture('first/.zshrc', ZSHRC)
    const result = await keywarden(['import', file])
    expect(result.code).toBe(0)
    expect(result.stdout).toContain(`Imported 6 secrets from ${file}: 6 created.`)
    for (const name of Object.keys(EXPECTED)) {
      expect(result.stdout).toMatch(new RegExp(`created +${name} \\(version 1\\)`))
    }
    const listed = await client.listSecrets()
    expect(Object.fromEntries(listed.map((s) => [s.name, s.type]))).toEqual(
      Object.fromEntries(Object.entries(EXPECTED).map(([name, { type }]) => [name, type])),
    )
    expect(listed.every((s) => s.description === 'imported from .zshrc')).toBe(true)
    const stored = await client.getSecrets(Object.keys(EXPECTED))
    for (const [name, { value }] of Object.entries(EXPECTED)) {
      expect(stored.get(name)?.value, name).toBe(value)
    }
    const get = await keywarden(['get', 'openai_api_key'])
    expect(get.stdout).toBe(EXPECTED.openai_api_key.value)
    // Without --remove-from-source the file is not touched.
    expect(await readFile(file, 'utf8')).toBe(ZSHRC)
    expect(await exists(`${file}.backup`)).toBe(false)
  })

  it('re-importing unchanged values creates no new version; a different one needs --replace', async () => {
    const before = await versions()
    const file = await fixture('again/.zshrc', ZSHRC)
    const again = await keywarden(['import', file, '--json'])
    expect(again.code).toBe(0)
    const report = JSON.parse(again.stdout) as { secrets: Array<{ name: string; status: string }> }
    expect(report.secrets.map((s) => s.status)).toEqual(Array(6).fill('unchanged'))
    expect(await versions()).toEqual(before)

    const changed = ZSHRC.replace('npm_AbC123dEf456', 'npm_NewValue789')
    const changedFile = await fixture('changed/.zshrc', changed)
    const dry = await keywarden(['import', changedFile, '--dry-run'])
    expect(dry.code).toBe(0)
    expect(dry.stdout).toMatch(
      /\nnpm_token +NPM_TOKEN +\d+ +\w+ +would replace \(value differs\)\n/,
    )
    expect(dry.stdout).toMatch(/\ngithub_token +.* unchanged \(same value\)\n/)

    // The user's value in the vault is not silently replaced: nothing is imported.
    const refused = await keywarden(['import', changedFile])
    expect(refused.code).toBe(2)
    expectOneErrorLine(
      refused,
      /^keywarden: the vault holds a different value for npm_token; nothing was imported\. Pass --replace to rotate it/,
    )
    expect(await versions()).toEqual(before)
    expect((await client.getSecret('npm_token')).value).toBe('npm_AbC123dEf456')

    const replaced = await keywarden(['import', changedFile, '--replace'])
    expect(replaced.code).toBe(0)
    expect(replaced.stdout).toMatch(/replaced +npm_token \(version 2\)/)
    expect(replaced.stdout).toContain(': 1 replaced, 5 unchanged.')
    expect(await versions()).toEqual({ ...before, npm_token: 2 })
    client.clearSecretCache()
    expect((await client.getSecret('npm_token')).value).toBe('npm_NewValue789')
    // A rotation: the value it replaced is still there for the grace period.
    expect((await client.getSecret('npm_token', { version: 'previous' })).value).toBe(
      'npm_AbC123dEf456',
    )
  })

  it('--remove-from-source writes the backup 0600, says it holds the values, and names lines left referring to them', async () => {
    const content =
      'export LEFT_TOKEN=left-value-123\nexport HOMEBREW_GITHUB_API_TOKEN="$LEFT_TOKEN"\n'
    const file = await fixture('refs/.zshrc', content, 0o644)
    const result = await keywarden(['import', file, '--remove-from-source', '--yes'])
    expect(result.code, result.stderr).toBe(0)
    expect((await stat(`${file}.backup`)).mode & 0o777).toBe(0o600)
    expect((await stat(file)).mode & 0o777).toBe(0o644)
    expect(result.stdout).toContain(
      `${file}.backup still holds the values (mode 0600): delete it once you have checked the import (rm ${file}.backup).`,
    )
    expect(result.stdout).toContain(
      `Line 1 of ${file} still refers to $LEFT_TOKEN, which is no longer set there: keywarden run --only left_token -- … sets it for a command.`,
    )
  })

  it('--remove-from-source refuses without --yes when stdin is not a terminal, writing nothing', async () => {
    const content = `${ZSHRC}export FRESH_TOKEN=fresh-value-123\n`
    const file = await fixture('refuse/.zshrc', content)
    const result = await keywarden(['import', file, '--remove-from-source'])
    expect(result.code).toBe(2)
    expect(result.stdout).toBe('')
    expect(result.stderr).toMatch(/^keywarden: --remove-from-source asks .*--yes[^\n]*\n$/)
    expect(await readFile(file, 'utf8')).toBe(content)
    expect(await exists(`${file}.backup`)).toBe(false)
    expect((await client.listSecrets()).map((s) => s.name)).not.toContain('fresh_token')
  })

  it('--remove-from-source keeps a byte-identical backup and removes exactly the imported lines', async () => {
    const file = await fixture('remove/.zshrc', ZSHRC, 0o600)
    // The test above left another npm_token in the vault.
    const result = await keywarden(['import', file, '--remove-from-source', '--yes', '--replace'])
    expect(result.code).toBe(0)
    const removed = IMPORTED_LINES.size
    expect(result.stdout).toContain(
      `Removed ${removed} lines from ${file}; the original is in ${file}.backup.`,
    )
    expect(await readFile(`${file}.backup`, 'utf8')).toBe(ZSHRC)
    expect((await stat(`${file}.backup`)).mode & 0o777).toBe(0o600)
    const expected = PHYSICAL_LINES.filter((_, index) => !IMPORTED_LINES.has(index + 1))
    expect(await readFile(file, 'utf8')).toBe(`${expected.join('\n')}\n`)
    expect((await stat(file)).mode & 0o777).toBe(0o600)

    // Nothing is left to import, so a second run changes nothing and writes no backup.
    const second = await keywarden(['import', file, '--remove-from-source', '--yes'])
    expect(second.code).toBe(0)
    expect(second.stdout).toContain(`No secrets to import in ${file}.`)
    expect(await exists(`${file}.backup.1`)).toBe(false)
  })

  it('imports every literal assignment of a CRLF .env file and removes them byte for byte', async () => {
    const content = [
      '# app settings',
      'PORT=3000',
      'DATABASE_URL="postgres://user:p%40ss@db.internal:5432/app"',
      `KEYWARDEN_ROOT_KEY=${'ab'.repeat(32)}`,
      'PEM_KEY="-----BEGIN KEY-----\\nline2\r\n-----END KEY-----"',
      'EMPTY=',
      // biome-ignore lint/suspicious/noTemplateCurlyInString: dotenv syntax, not a template
      'COMPOSED=${PORT}0',
      'LAST=no-final-newline',
    ].join('\r\n')
    const file = await fixture('app/.env.local', content)
    const result = await keywarden(['import', file, '--remove-from-source', '--yes', '--json'])
    expect(result.code).toBe(0)
    const report = JSON.parse(result.stdout) as {
      secrets: Array<{ name: string; status: string; line: number }>
      skipped: Array<{ variable: string; line: number; reason: string }>
      removed: { lines: number[]; backup: string; references: unknown[] }
    }
    expect(report.secrets.map((s) => [s.name, s.line])).toEqual([
      ['port', 2],
      ['database_url', 3],
      ['pem_key', 5],
      ['last', 9],
    ])
    expect(report.skipped.map((s) => s.variable)).toEqual(['EMPTY', 'COMPOSED'])
    expect(report.removed).toEqual({
      lines: [2, 3, 5, 6, 9],
      backup: `${file}.backup`,
      // COMPOSED=${PORT}0, line 4 of what is left, expands a variable that is gone.
      references: [{ line: 4, variable: 'PORT', name: 'port' }],
    })
    expect((await client.getSecret('pem_key')).value).toBe(
      '-----BEGIN KEY-----\nline2\n-----END KEY-----',
    )
    expect((await client.getSecret('last')).value).toBe('no-final-newline')
    expect(await readFile(`${file}.backup`)).toEqual(Buffer.from(content))
    expect(await readFile(file, 'utf8')).toBe(
      `# app settings\r\nKEYWARDEN_ROOT_KEY=${'ab'.repeat(32)}\r\nEMPTY=\r\nCOMPOSED=\${PORT}0\r\n`,
    )
  })

  it('refuses bad input with one line: no file, a missing file, a directory', async () => {
    const usage = await keywarden(['import'])
    expect(usage).toMatchObject({ code: 2, stdout: '' })
    expect(usage.stderr).toMatch(/^keywarden: import takes one file[^\n]*\n$/)
    const missing = await keywarden(['import', join(dir, 'nope.env')])
    expect(missing).toMatchObject({
      code: 1,
      stdout: '',
      stderr: `keywarden: cannot read ${join(dir, 'nope.env')}: no such file\n`,
    })
    const directory = await keywarden(['import', dir])
    expect(directory).toMatchObject({
      code: 1,
      stdout: '',
      stderr: `keywarden: cannot read ${dir}: it is a directory\n`,
    })
  })

  it('never prints the canary value', () => {
    expect(outputs.length).toBeGreaterThan(5)
    for (const { stdout, stderr } of outputs) {
      expect(stdout).not.toContain(CANARY)
      expect(stderr).not.toContain(CANARY)
    }
  })
})
