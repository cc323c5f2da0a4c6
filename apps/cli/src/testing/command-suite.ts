/**
 * Test-only: one suite of the CLI's commands, run by spawning the built `keywarden` against a
 * vault — the embedded default in a temporary KEYWARDEN_HOME, or a fresh database on the real
 * PostgreSQL server. The tests run in order and build on each other's state, as a user's
 * session would; each secret belongs to the tests that name it.
 *
 * Every output is recorded, and the last test checks that a canary value never appeared in
 * the output of a command that does not print values.
 */
import { execFileSync, spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ENCODINGS, encodedText } from '../../../../packages/core/src/testing/encodings.ts'
import { until } from '../../../../packages/core/src/testing/expect.ts'
import { keychainEnvironment } from '../../../../packages/core/src/testing/keychain.ts'
import { parseCsv } from './csv.ts'
import { CLI_PATH, type CliResult, runCli } from './run-cli.ts'

/** Where a suite's vault lives. */
export interface SuiteBackend {
  name: 'embedded' | 'postgres'
  /** Creates the vault's configuration; returns the environment and a cleanup. */
  setup(): Promise<{
    env: Record<string, string>
    /** Text that must never be printed (a password in the database URL). */
    hidden: string[]
    cleanup(): Promise<void>
  }>
}

/** What one run printed, and whether that command may print secret values. */
interface Recorded {
  args: readonly string[]
  result: CliResult
  revealsValues: boolean
}

/** A value that reads back only if every layer keeps quotes, `$`, backslashes and newlines. */
export const TRICKY_VALUE = `it's "quoted" $HOME \${PATH} \`cmd\` back\\slash \\n\nsecond line\r\n\ttabbed ✓ 🔑  `

/** The value exactly as a reader of `export` must get it back. */
export function parseDotenv(text: string): Map<string, string> {
  const values = new Map<string, string>()
  for (const line of text.split('\n')) {
    if (line === '') continue
    const match = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line)
    if (!match?.[1] || match[2] === undefined) throw new Error(`not a dotenv line: ${line}`)
    const raw = match[2]
    let value: string
    if (raw.startsWith("'")) {
      if (!raw.endsWith("'") || raw.length < 2) throw new Error(`unterminated: ${line}`)
      value = raw.slice(1, -1)
    } else if (raw.startsWith('"')) {
      if (!raw.endsWith('"') || raw.length < 2) throw new Error(`unterminated: ${line}`)
      value = raw
        .slice(1, -1)
        .replace(/\\(.)/g, (_, char: string) => (char === 'n' ? '\n' : char === 'r' ? '\r' : char))
    } else {
      if (/[\s'"#$\\]/.test(raw)) throw new Error(`unquoted special character: ${line}`)
      value = raw
    }
    values.set(match[1], value)
  }
  return values
}

/** Sources `export` shell output in a real `sh` and reads the environment it leaves. */
export async function sourceInShell(script: string): Promise<Record<string, string>> {
  const dir = await mkdtemp(join(tmpdir(), 'kw-shell-'))
  try {
    const file = join(dir, 'exports.sh')
    await writeFile(file, script)
    // `sh -c SCRIPT sh FILE NODE`: $1 is the file, $2 node, which prints what sh exported.
    const json = execFileSync(
      'sh',
      [
        '-c',
        `. "$1" && exec "$2" -e 'process.stdout.write(JSON.stringify(process.env))'`,
        'sh',
        file,
        process.execPath,
      ],
      { encoding: 'utf8', env: { PATH: process.env.PATH }, input: '' },
    )
    return JSON.parse(json) as Record<string, string>
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}

/** Exactly one line on stderr, in the CLI's error form. */
export function expectOneErrorLine(result: CliResult, pattern?: RegExp): void {
  expect(result.stderr).toMatch(/^keywarden: [^\n]+\n$/)
  if (pattern) expect(result.stderr).toMatch(pattern)
}

/** The encodings a leaked value could take in output. */
export function canaryForms(value: string): string[] {
  const bytes = Buffer.from(value)
  return [
    value,
    bytes.toString('base64'),
    bytes.toString('base64url'),
    bytes.toString('hex'),
    encodeURIComponent(value),
    JSON.stringify(value).slice(1, -1),
    // And every encoding core's redaction suites know.
    ...ENCODINGS.map((encoding) => encodedText(encoding, value)),
  ]
}

/** Defines the suite for one backend. */
export function defineCommandSuite(backend: SuiteBackend): void {
  describe(`keywarden commands on the ${backend.name} vault`, () => {
    // Long and random: a prefix no output could contain by chance.
    const canary = `kwcanary${randomBytes(24).toString('hex')}`
    const rotatedCanary = `kwcanary${randomBytes(24).toString('hex')}`
    const recorded: Recorded[] = []
    let env: Record<string, string> = {}
    let hidden: string[] = []
    let cleanup: () => Promise<void> = async () => {}
    // A second, untouched home: commands on a configured database must not create a vault here.
    let spareHome = ''

    const kw = async (
      args: readonly string[],
      options: { input?: string; revealsValues?: boolean } = {},
    ) => {
      const result = await runCli(args, {
        env,
        ...(options.input === undefined ? {} : { input: options.input }),
      })
      recorded.push({ args, result, revealsValues: options.revealsValues ?? false })
      return result
    }
    const json = <T>(result: CliResult): T => {
      expect(result.stderr).toBe('')
      expect(result.code).toBe(0)
      return JSON.parse(result.stdout) as T
    }

    beforeAll(async () => {
      const opened = await backend.setup()
      env = opened.env
      hidden = opened.hidden
      cleanup = opened.cleanup
      spareHome = await mkdtemp(join(tmpdir(), 'kw-spare-home-'))
      if (backend.name === 'postgres') env = { ...env, KEYWARDEN_HOME: spareHome }
    })

    afterAll(async () => {
      await cleanup()
      await rm(spareHome, { recursive: true, force: true })
    })

    it('list: an empty vault says so, and --json gives []', async () => {
      const listed = await kw(['list', '--json'])
      expect(listed.code).toBe(0)
      expect(JSON.parse(listed.stdout)).toEqual([])
      if (backend.name === 'embedded') {
        // The first command creates the vault and says so, once, on stderr.
        expect(listed.stderr).toMatch(/^keywarden: created an embedded vault in .+\n$/)
      } else {
        expect(listed.stderr).toBe('')
      }
      const table = await kw(['list'])
      expect(table.code).toBe(0)
      expect(table.stderr).toBe('')
      expect(table.stdout).toMatch(/^The vault is empty\./)
    })

    it('set: creates from stdin (one newline trimmed), then reports a replacement', async () => {
      const created = await kw(
        ['set', 'github_token', '--type', 'github_token', '--description', 'GitHub PAT'],
        { input: 'ghp_first\n' },
      )
      expect(created).toMatchObject({
        code: 0,
        stdout: 'Created github_token (version 1)\n',
        stderr: '',
      })
      const replaced = await kw(['set', 'github_token', '--json'], { input: 'ghp_second' })
      const body = json<{ name: string; id: string; outcome: string }>(replaced)
      expect(body).toEqual({
        name: 'github_token',
        id: expect.any(String),
        version: 2,
        outcome: 'replaced',
      })
      const again = await kw(['get', 'github_token'], { revealsValues: true })
      expect(again).toMatchObject({ code: 0, stdout: 'ghp_second', stderr: '' })
    })

    it('set + get: exact bytes through a pipe, inner newlines and trailing spaces kept', async () => {
      const stored = await kw(['set', 'tricky_value'], { input: `${TRICKY_VALUE}\n` })
      expect(stored.code).toBe(0)
      const read = await kw(['get', 'tricky_value'], { revealsValues: true })
      expect(read.code).toBe(0)
      expect(read.stdout).toBe(TRICKY_VALUE)
    })

    it('get --json: {name, value, source, version}', async () => {
      const body = json(await kw(['get', 'github_token', '--json'], { revealsValues: true }))
      expect(body).toEqual({
        name: 'github_token',
        value: 'ghp_second',
        source: 'vault',
        version: 2,
      })
    })

    it('get: a missing secret exits 3 with one line naming the environment variable', async () => {
      const missing = await kw(['get', 'no_such.secret'])
      expect(missing.code).toBe(3)
      expect(missing.stdout).toBe('')
      expectOneErrorLine(missing, /no_such\.secret.*NO_SUCH_SECRET/)
    })

    it('set --expires-in and --type show up in list --json', async () => {
      const before = Date.now()
      const stored = await kw(
        ['set', 'openai_api_key', '--type', 'api_key', '--expires-in', '3d'],
        {
          input: 'sk-test',
        },
      )
      expect(stored.code).toBe(0)
      const canaryStored = await kw(
        [
          'set',
          'canary_token',
          '--type',
          'api_key',
          '--description',
          'the canary',
          '--expires-in',
          '2d',
        ],
        { input: canary },
      )
      expect(canaryStored).toMatchObject({
        code: 0,
        stdout: 'Created canary_token (version 1)\n',
        stderr: '',
      })
      const secrets = json<Array<Record<string, unknown>>>(await kw(['list', '--json']))
      expect(secrets.map((secret) => secret.name)).toEqual([
        'canary_token',
        'github_token',
        'openai_api_key',
        'tricky_value',
      ])
      const openai = secrets.find((secret) => secret.name === 'openai_api_key')
      expect(openai).toMatchObject({ type: 'api_key', version: 1, rotation_interval_days: 90 })
      const expiresAt = Date.parse(String(openai?.expires_at))
      expect(expiresAt).toBeGreaterThanOrEqual(before + 3 * 86_400_000 - 1_000)
      expect(expiresAt).toBeLessThanOrEqual(Date.now() + 3 * 86_400_000 + 1_000)
      const github = secrets.find((secret) => secret.name === 'github_token')
      expect(github).toMatchObject({
        description: 'GitHub PAT',
        type: 'github_token',
        version: 2,
        last_rotated_at: null,
      })
      // Dates as ISO 8601; never a value.
      expect(String(github?.updated_at)).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/)
      for (const secret of secrets) {
        expect(Object.keys(secret)).not.toContain('value')
      }
    })

    it('list: a table of metadata, never values', async () => {
      const table = await kw(['list'])
      expect(table.code).toBe(0)
      expect(table.stderr).toBe('')
      const [header, ...rows] = table.stdout.trimEnd().split('\n')
      expect(header).toMatch(
        /^NAME\s+TYPE\s+DESCRIPTION\s+VERSION\s+UPDATED\s+LAST ROTATED\s+ROTATION DUE\s+EXPIRES$/,
      )
      expect(rows).toHaveLength(4)
      expect(table.stdout).toMatch(
        /github_token\s+github_token\s+GitHub PAT\s+2\s+just now\s+never\s+in 90 days/,
      )
      expect(table.stdout).toMatch(
        /openai_api_key\s+api_key\s+1\s+just now\s+never\s+in 90 days\s+in 3 days/,
      )
      // No colour when stdout is not a terminal.
      expect(table.stdout).not.toContain('\u001b[')
      for (const value of ['ghp_second', 'sk-test']) expect(table.stdout).not.toContain(value)
    })

    it('a reader that goes away (`| head -1`) ends the command quietly, exit 0', async () => {
      const child = spawn(process.execPath, [CLI_PATH, 'audit', '--limit', '1000'], {
        env: { PATH: process.env.PATH, ...keychainEnvironment(), ...env },
      })
      // Close the read end at once: every write the CLI makes then fails with EPIPE.
      child.stdout.destroy()
      let stderr = ''
      child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
        stderr += chunk
      })
      const code = await new Promise((resolve) => child.on('close', resolve))
      expect(stderr).toBe('')
      expect(code).toBe(0)
    })

    it('rotate: prints the version and when the previous value stops being served', async () => {
      const before = Date.now()
      const rotated = await kw(['rotate', 'github_token'], { input: 'ghp_third\n' })
      expect(rotated.code).toBe(0)
      expect(rotated.stderr).toBe('')
      const lines = rotated.stdout.split('\n')
      expect(lines[0]).toBe('Rotated github_token to version 3')
      const until = /served until (\S+) \(in 24 hours\)\.$/.exec(lines[1] ?? '')?.[1]
      expect(Date.parse(until ?? '')).toBeGreaterThanOrEqual(before + 86_400_000 - 1_000)
      const previous = await kw(['get', 'github_token', '--previous'], { revealsValues: true })
      expect(previous).toMatchObject({ code: 0, stdout: 'ghp_second', stderr: '' })
    })

    it('rotate --grace 0 --json: the previous value is dropped at once', async () => {
      const body = json(
        await kw(['rotate', 'github_token', '--grace', '0', '--json'], { input: 'ghp_fourth' }),
      )
      expect(body).toEqual({ name: 'github_token', version: 4, previous_valid_until: null })
      const previous = await kw(['get', 'github_token', '--previous'])
      expect(previous.code).toBe(3)
      expect(previous.stdout).toBe('')
      expectOneErrorLine(previous, /no previous value/)
      const current = await kw(['get', 'github_token'], { revealsValues: true })
      expect(current.stdout).toBe('ghp_fourth')
    })

    it('rotate: the plain output says when the previous value was dropped', async () => {
      const rotated = await kw(['rotate', 'openai_api_key', '--grace', '0s'], { input: 'sk-two' })
      expect(rotated).toMatchObject({
        code: 0,
        stdout: 'Rotated openai_api_key to version 2\nThe previous value was dropped at once.\n',
        stderr: '',
      })
    })

    it('rotate: a missing secret exits 3 with one line', async () => {
      const missing = await kw(['rotate', 'nobody_home'], { input: 'x' })
      expect(missing.code).toBe(3)
      expect(missing.stdout).toBe('')
      expectOneErrorLine(missing, /nobody_home/)
    })

    it('rotate: the canary secret, without printing either value', async () => {
      const rotated = await kw(['rotate', 'canary_token', '--grace', '1h'], {
        input: rotatedCanary,
      })
      expect(rotated.code).toBe(0)
      expect(rotated.stdout).toMatch(
        /^Rotated canary_token to version 2\nThe previous value is served until \S+ \(in 1 hour\)\.\n$/,
      )
    })

    it('expiring: a table with the overdue marked, and --json', async () => {
      // A past --expires-at is refused; a secret that expires in a second is expired soon after.
      const past = await kw(['set', 'expired_key', '--expires-at', '2020-01-01T00:00:00Z'], {
        input: 'old',
      })
      expect(past.code).toBe(2)
      const stored = await kw(['set', 'expired_key', '--expires-in', '1s'], { input: 'old' })
      expect(stored.code).toBe(0)
      await until(
        'expired_key to expire',
        async () => json<Array<{ name: string }>>(await kw(['expiring', '--days', '0', '--json'])),
        (overdue) => overdue.some((secret) => secret.name === 'expired_key'),
      )
      const table = await kw(['expiring'])
      expect(table.code).toBe(0)
      expect(table.stderr).toBe('')
      expect(table.stdout).toMatch(/^NAME\s+TYPE\s+REASON\s+DUE\n/)
      expect(table.stdout).toMatch(/expired_key\s+other\s+expires\s+OVERDUE \(/)
      expect(table.stdout).toMatch(/canary_token\s+api_key\s+expires\s+in 2 days/)
      expect(table.stdout).toMatch(/openai_api_key\s+api_key\s+expires\s+in 3 days/)
      expect(table.stdout).not.toContain('github_token')
      const body = json<Array<Record<string, unknown>>>(
        await kw(['expiring', '--days', '100', '--json']),
      )
      const byName = new Map(body.map((secret) => [`${secret.name}:${secret.reason}`, secret]))
      expect(byName.get('expired_key:expires')).toMatchObject({
        type: 'other',
        overdue: true,
        due_at: expect.stringMatching(/Z$/),
      })
      expect(byName.get('github_token:rotation_due')).toMatchObject({ overdue: false })
    })

    it('expiring --days 0: only what is already overdue', async () => {
      const body = json<Array<{ name: string }>>(await kw(['expiring', '--days', '0', '--json']))
      expect(body.map((secret) => secret.name)).toEqual(['expired_key'])
    })

    it('status: backend without credentials, counts, failures, cache; --json', async () => {
      const table = await kw(['status'])
      expect(table.code).toBe(0)
      expect(table.stderr).toBe('')
      const kind = backend.name
      expect(table.stdout).toMatch(new RegExp(`^Backend\\s+${kind} \\S+ \\(reachable\\)\\n`))
      expect(table.stdout).toMatch(/\nSecret source\s+vault\n/)
      expect(table.stdout).toMatch(/\nSecrets\s+5\n/)
      expect(table.stdout).toMatch(/\nExpiring\s+3 within 7 days \(1 expired\)\n/)
      expect(table.stdout).toMatch(/\nAudit failures\s+[1-9]\d* in the last hour\n/)
      expect(table.stdout).toMatch(/\nCache\s+\d+ held, \d+ hits, \d+ misses, TTL 300 s\n/)
      const body = json<Record<string, unknown>>(await kw(['status', '--json']))
      expect(body).toMatchObject({
        backend: { kind, reachable: true },
        secret_source: 'vault',
        secret_count: 5,
        rotations_due: 0,
        rotations_overdue: 0,
        expiring: 3,
        expired: 1,
        cache: { ttl_ms: 300_000 },
      })
      // At least the missing get, the previous read and the missing rotation above.
      expect(body.audit_failures_last_hour).toBeGreaterThanOrEqual(3)
      if (kind === 'postgres') {
        expect((body.backend as { target: string }).target).toMatch(/^postgres:\/\/postgres@/)
      }
    })

    it('audit: a table, --json with filters, and CSV with a header row', async () => {
      const table = await kw(['audit', '--limit', '5'])
      expect(table.code).toBe(0)
      expect(table.stderr).toBe('')
      const [header, ...rows] = table.stdout.trimEnd().split('\n')
      expect(header).toMatch(/^WHEN\s+SECRET\s+BY\s+ACCESS\s+RESULT\s+COUNT\s+SOURCE\s+ERROR$/)
      expect(rows).toHaveLength(5)

      const records = json<Array<Record<string, unknown>>>(
        await kw(['audit', '--secret', 'github_token', '--since', '1h', '--limit', '3', '--json']),
      )
      expect(records).toHaveLength(3)
      for (const record of records) {
        expect(record).toMatchObject({ secret_name: 'github_token', accessed_by: 'cli' })
        expect(String(record.created_at)).toMatch(/Z$/)
      }

      const csv = await kw(['audit', '--format', 'csv', '--since', '1h', '--limit', '100000'])
      expect(csv.code).toBe(0)
      expect(csv.stderr).toBe('')
      const [head, ...lines] = parseCsv(csv.stdout)
      expect(head).toEqual([
        'secret_name',
        'accessed_by',
        'access_type',
        'success',
        'error_message',
        'created_at',
        'event_count',
        'source',
      ])
      expect(lines.length).toBeGreaterThan(10)
      for (const line of lines) {
        expect(line).toHaveLength(8)
        expect(['true', 'false']).toContain(line[3])
        expect(Number.isNaN(Date.parse(line[5] ?? ''))).toBe(false)
      }
      const failure = lines.find((line) => line[0] === 'github_token' && line[3] === 'false')
      expect(failure?.[4]).toMatch(/previous/)
      expect(lines.some((line) => line[0] === 'canary_token' && line[2] === 'rotate')).toBe(true)
    })

    it('audit --failed: only failures', async () => {
      const records = json<Array<{ success: boolean }>>(await kw(['audit', '--failed', '--json']))
      expect(records.length).toBeGreaterThanOrEqual(3)
      expect(records.every((record) => record.success === false)).toBe(true)
    })

    it('export: dotenv round-trips every value, quotes, $, backslashes and newlines', async () => {
      const exported = await kw(['export'], { revealsValues: true })
      expect(exported.code).toBe(0)
      // Not a terminal: no warning.
      expect(exported.stderr).toBe('')
      const values = parseDotenv(exported.stdout)
      expect(Object.fromEntries(values)).toEqual({
        CANARY_TOKEN: rotatedCanary,
        EXPIRED_KEY: 'old',
        GITHUB_TOKEN: 'ghp_fourth',
        OPENAI_API_KEY: 'sk-two',
        TRICKY_VALUE: TRICKY_VALUE,
      })
      expect(exported.stdout).toContain('GITHUB_TOKEN=ghp_fourth\n')
    })

    it('export --format shell: a real shell reads back every value', async () => {
      const exported = await kw(['export', '--format', 'shell'], { revealsValues: true })
      expect(exported.code).toBe(0)
      expect(exported.stdout).toContain("export GITHUB_TOKEN='ghp_fourth'\n")
      const shellEnv = await sourceInShell(exported.stdout)
      expect(shellEnv.TRICKY_VALUE).toBe(TRICKY_VALUE)
      expect(shellEnv.GITHUB_TOKEN).toBe('ghp_fourth')
      expect(shellEnv.CANARY_TOKEN).toBe(rotatedCanary)
    })

    it('export --json --only: an object of name → value', async () => {
      const body = json(
        await kw(['export', '--json', '--only', 'tricky_value,github_token'], {
          revealsValues: true,
        }),
      )
      expect(body).toEqual({ tricky_value: TRICKY_VALUE, github_token: 'ghp_fourth' })
    })

    it('export --only with a missing name exits 3 and prints no values', async () => {
      const missing = await kw(['export', '--only', 'github_token,not_there'])
      expect(missing.code).toBe(3)
      expect(missing.stdout).toBe('')
      expectOneErrorLine(missing, /not_there \(NOT_THERE\)/)
    })

    it('rm --yes deletes; again exits 3; without --yes on a pipe exits 2', async () => {
      const refused = await kw(['rm', 'tricky_value'])
      expect(refused.code).toBe(2)
      expect(refused.stdout).toBe('')
      expectOneErrorLine(refused, /--yes/)

      const deleted = await kw(['rm', 'tricky_value', '--yes'])
      expect(deleted).toMatchObject({ code: 0, stdout: 'Deleted tricky_value\n', stderr: '' })
      const again = await kw(['rm', 'tricky_value', '--yes'])
      expect(again.code).toBe(3)
      expect(again.stdout).toBe('')
      expectOneErrorLine(again, /tricky_value is not in the vault/)
    })

    it('rm: the canary secret, without printing its value', async () => {
      const body = json(await kw(['rm', 'canary_token', '--yes', '--json']))
      expect(body).toEqual({ name: 'canary_token', deleted: true })
      const gone = await kw(['get', 'canary_token'])
      expect(gone.code).toBe(3)
    })

    it('the canary never appears in output that is not meant to show values', () => {
      const forms = [...canaryForms(canary), ...canaryForms(rotatedCanary), ...hidden]
      const checked = recorded.filter((run) => !run.revealsValues)
      for (const run of checked) {
        for (const form of forms) {
          const where = `keywarden ${run.args.join(' ')}`
          expect(run.result.stdout, where).not.toContain(form)
          expect(run.result.stderr, where).not.toContain(form)
        }
      }
      const commands = new Set(checked.map((run) => run.args[0]))
      for (const command of ['list', 'status', 'audit', 'expiring', 'rotate', 'rm', 'set', 'get']) {
        expect(commands).toContain(command)
      }
      // Errors were among them.
      expect(checked.filter((run) => run.result.code !== 0).length).toBeGreaterThanOrEqual(5)
    })

    if (backend.name === 'postgres') {
      it('left no embedded vault behind in KEYWARDEN_HOME', async () => {
        expect(await readdir(spareHome)).toEqual([])
      })
    }
  })
}
