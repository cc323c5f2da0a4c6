/**
 * `keywarden run`, as a user runs it: the built CLI spawned as a process, against a fresh
 * database on the real PostgreSQL server (and once on the embedded default).
 */
import { execFile } from 'node:child_process'
import { createHash } from 'node:crypto'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { stopAgent } from '@keywarden/core/node'
import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createVaultClient, redact } from '../../../../packages/core/src/index.ts'
import {
  createPostgresTestDatabase,
  type PostgresTestDatabase,
} from '../../../../packages/core/src/testing/databases.ts'
import { ENCODINGS } from '../../../../packages/core/src/testing/encodings.ts'
import { CLI_PATH, runCli } from '../testing/run-cli.ts'
import { startCli } from '../testing/start-cli.ts'

const GITHUB_TOKEN = `ghp_${'Zk3q9XwT'.repeat(4)}Ab12`
const API_KEY = 'sk-test/with+special=chars&more?'
const DB_PASSWORD = 'pässwörd with spaces'

let database: PostgresTestDatabase
let env: Record<string, string>

beforeAll(async () => {
  database = await createPostgresTestDatabase()
  env = { KEYWARDEN_DATABASE_URL: database.url, KEYWARDEN_ROOT_KEY: database.rootKey }
  const client = createVaultClient({ env, accessedBy: 'test', envFallback: false })
  try {
    await client.storeSecret('github_token', GITHUB_TOKEN)
    await client.storeSecret('api_key', API_KEY)
    await client.storeSecret('db_password', DB_PASSWORD)
  } finally {
    await client.close()
  }
})

afterAll(async () => {
  await database?.drop()
})

/** `keywarden run -- node -e SCRIPT`. */
const node = (script: string) => ['--', process.execPath, '-e', script]
const sha256 = (text: string) => createHash('sha256').update(text).digest('hex')

// The child reports which variables it got as hashes, which no masking touches.
const REPORT_ENV = `
const { createHash } = require('node:crypto')
const names = ['GITHUB_TOKEN', 'API_KEY', 'DB_PASSWORD', 'MY_KEY']
for (const name of names) {
  const value = process.env[name]
  console.log(name + '=' + (value === undefined ? '-' : createHash('sha256').update(value).digest('hex')))
}`

describe('keywarden run', () => {
  it('injects every secret by default and masks raw and encoded forms on stdout and stderr', async () => {
    const script = `
const v = process.env.API_KEY
console.log('raw ' + v)
console.log('b64 ' + Buffer.from(v).toString('base64'))
console.log('b64url ' + Buffer.from(v).toString('base64url'))
console.log('url ' + encodeURIComponent(v))
console.log('form ' + new URLSearchParams({ v }).toString().slice(2))
console.log('hex ' + Buffer.from(v).toString('hex'))
console.log('other ' + process.env.GITHUB_TOKEN + ' ' + process.env.DB_PASSWORD)
console.error('err ' + process.env.GITHUB_TOKEN)
console.log('\\u001b[31mred\\u001b[39m')`
    const result = await runCli(['run', ...node(script)], { env })
    expect(result.stdout).toBe(
      [
        'raw [REDACTED:api_key]',
        'b64 [REDACTED:api_key]',
        'b64url [REDACTED:api_key]',
        'url [REDACTED:api_key]',
        'form [REDACTED:api_key]',
        'hex [REDACTED:api_key]',
        'other [REDACTED:github_token] [REDACTED:db_password]',
        // Colour escapes pass through untouched.
        '\u001b[31mred\u001b[39m',
        '',
      ].join('\n'),
    )
    expect(result.stderr).toBe('err [REDACTED:github_token]\n')
    expect(result.code).toBe(0)
  })

  it("hands the child none of Keywarden's configuration or the vault's credentials", async () => {
    const credentials = {
      ...env,
      KEYWARDEN_HOME: '/nonexistent/keywarden-home',
      KEYWARDEN_STORE: 'postgres',
      DATABASE_URL: database.url,
      PGOPTIONS: `-c keywarden.root_key=${database.rootKey}`,
      PGPASSWORD: 'the-vault-password',
      SUPABASE_SERVICE_ROLE_KEY: 'eyJhbGciOiJIUzI1NiJ9.service-role',
      MY_OWN_SETTING: 'kept',
    }
    const script = 'console.log(JSON.stringify(process.env))'
    const result = await runCli(['run', '--only', 'github_token', ...node(script)], {
      env: credentials,
    })
    expect(result.code).toBe(0)
    const seen = JSON.parse(result.stdout) as Record<string, string>
    expect(
      Object.keys(seen).filter((name) => name in credentials && name !== 'MY_OWN_SETTING'),
    ).toEqual([])
    expect(seen).toMatchObject({ MY_OWN_SETTING: 'kept', GITHUB_TOKEN: '[REDACTED:github_token]' })
    for (const secret of [database.rootKey, database.url, 'the-vault-password', 'service-role']) {
      expect(result.stdout).not.toContain(secret)
    }
  })

  it('masks random values in every encoding, written in random pieces (generated)', async () => {
    // Two random values per encoding, each a secret of its own, all injected into one run.
    const values = fc.sample(
      fc.string({
        unit: fc.constantFrom(...'abcXYZ019_-.~/+=?&%:@ü€'),
        minLength: 8,
        maxLength: 20,
      }),
      2 * ENCODINGS.length,
    )
    const secrets = values.map((value, i) => ({ name: `gen_${i}`, value }))
    const client = createVaultClient({ env, accessedBy: 'test', envFallback: false })
    try {
      for (const { name, value } of secrets) await client.storeSecret(name, value)
    } finally {
      await client.close()
    }
    const payload = secrets.map(({ value }, i) => {
      const encoding = ENCODINGS[i % ENCODINGS.length]
      return Buffer.concat([
        Buffer.from(`${encoding?.name}: `),
        encoding?.bytes(value) ?? Buffer.alloc(0),
        Buffer.from('\n'),
      ])
    })
    const directory = await mkdtemp(join(tmpdir(), 'kw-run-encodings-'))
    const file = join(directory, 'payload')
    await writeFile(file, Buffer.concat(payload))
    // The child writes the bytes in random pieces, yielding between them so they reach the
    // pipe, and keywarden's redactor, as separate chunks.
    const script = `
const data = require('node:fs').readFileSync(${JSON.stringify(file)})
let at = 0
const next = () => {
  if (at >= data.length) return
  const size = 1 + Math.floor(Math.random() * 24)
  process.stdout.write(data.subarray(at, at + size), () => setImmediate(next))
  at += size
}
next()`
    try {
      const only = secrets.map(({ name }) => name).join(',')
      const result = await runCli(['run', '--only', only, ...node(script)], { env })
      expect(result.code).toBe(0)
      const whole = Buffer.concat(payload).toString('utf8')
      expect(result.stdout).toBe(redact(whole, secrets))
      const markers = result.stdout.match(/\[REDACTED:gen_\d+\]/g) ?? []
      expect(markers.length).toBeGreaterThanOrEqual(secrets.length)
      for (const { value } of secrets) expect(result.stdout).not.toContain(value)
    } finally {
      await rm(directory, { recursive: true, force: true })
      // The other tests run with every secret in the vault: leave them the three they expect.
      const cleaner = createVaultClient({ env, accessedBy: 'test', envFallback: false })
      try {
        for (const { name } of secrets) await cleaner.deleteSecret(name)
      } finally {
        await cleaner.close()
      }
    }
  })

  it('passes output through untouched with --no-mask', async () => {
    const result = await runCli(
      ['run', '--no-mask', ...node('console.log(process.env.GITHUB_TOKEN)')],
      { env },
    )
    expect(result).toMatchObject({ code: 0, stdout: `${GITHUB_TOKEN}\n`, stderr: '' })
  })

  it('injects only --only names, and --env mappings under their own variable', async () => {
    const only = await runCli(
      ['run', '--only', 'github_token', '--env', 'MY_KEY=api_key', ...node(REPORT_ENV)],
      { env },
    )
    expect(only.stdout).toBe(
      [
        `GITHUB_TOKEN=${sha256(GITHUB_TOKEN)}`,
        'API_KEY=-',
        'DB_PASSWORD=-',
        `MY_KEY=${sha256(API_KEY)}`,
        '',
      ].join('\n'),
    )
    expect(only.code).toBe(0)
    const all = await runCli(['run', '--only', 'api_key,db_password', ...node(REPORT_ENV)], {
      env,
    })
    expect(all.stdout).toContain(`API_KEY=${sha256(API_KEY)}\nDB_PASSWORD=${sha256(DB_PASSWORD)}`)
    expect(all.stdout).toContain('GITHUB_TOKEN=-')
  })

  it('fails with exit 3 naming the --only names that are missing, without running the command', async () => {
    const result = await runCli(
      [
        'run',
        '--only',
        'github_token,nope_one',
        '--env',
        'X=nope_two',
        '--',
        'sh',
        '-c',
        'echo ran',
      ],
      { env },
    )
    expect(result.code).toBe(3)
    expect(result.stdout).toBe('')
    expect(result.stderr).toBe('keywarden: secrets not in the vault: nope_one, nope_two\n')
  })

  it('--only a name that is only in the environment: exit 3, not the environment value', async () => {
    const result = await runCli(
      ['run', '--only', 'shell_only_token', '--', 'sh', '-c', 'echo ran'],
      {
        env: { ...env, SHELL_ONLY_TOKEN: 'from-the-shell' },
      },
    )
    expect(result.code).toBe(3)
    expect(result.stdout).toBe('')
    expect(result.stderr).toBe('keywarden: secret not in the vault: shell_only_token\n')
  })

  it('refuses a missing command or a bad --env with exit 2 and one line', async () => {
    for (const args of [
      ['run'],
      ['run', '--'],
      ['run', 'echo', 'hi'],
      ['run', '--env', 'NOEQUALS', '--', 'true'],
      ['run', '--env', '1X=github_token', '--', 'true'],
    ]) {
      const result = await runCli(args, { env })
      expect(result.code, args.join(' ')).toBe(2)
      expect(result.stdout, args.join(' ')).toBe('')
      expect(result.stderr, args.join(' ')).toMatch(/^keywarden: [^\n]+\n$/)
    }
  })

  it("exits with the child's exit code, 128 + signal when it was killed, 127 when not found", async () => {
    expect((await runCli(['run', '--', 'sh', '-c', 'exit 7'], { env })).code).toBe(7)
    expect((await runCli(['run', '--no-mask', '--', 'sh', '-c', 'exit 9'], { env })).code).toBe(9)
    const killed = await runCli(['run', '--', 'sh', '-c', 'kill -TERM $$'], { env })
    expect(killed.code).toBe(143)
    const notFound = await runCli(['run', '--', 'no-such-command-kw'], { env })
    expect(notFound).toMatchObject({
      code: 127,
      stdout: '',
      stderr: 'keywarden: command not found: no-such-command-kw\n',
    })
  })

  it('ends the child with SIGPIPE when its reader goes away, as a pipeline would', async () => {
    // biome-ignore lint/suspicious/noTemplateCurlyInString: bash syntax, not a template
    const script = '"$0" "$1" run -- yes | head -2; echo "keywarden exited ${PIPESTATUS[0]}"'
    const { stdout, stderr } = await promisify(execFile)(
      'bash',
      ['--norc', '--noprofile', '-c', script, process.execPath, CLI_PATH],
      { env: { PATH: process.env.PATH, ...env } },
    )
    expect(stdout).toBe('y\ny\nkeywarden exited 141\n')
    expect(stderr).toBe('')
  })

  it('passes stdin through to the child', async () => {
    const input = 'hello from stdin\nsecond line é\n'
    const result = await runCli(['run', '--', 'cat'], { env, input })
    expect(result).toMatchObject({ code: 0, stdout: input, stderr: '' })
  })

  it('masks a value split across writes, and streams the text before it at once', async () => {
    const script = `
const v = process.env.GITHUB_TOKEN
process.stdout.write('before ' + v.slice(0, 10))
setTimeout(() => process.stdout.write(v.slice(10) + ' after\\n'), 400)`
    const cli = startCli(['run', ...node(script)], { env })
    await cli.waitForStdout('before ')
    // The held-back tail could still become the token; nothing of it is out yet.
    await new Promise((resolve) => setTimeout(resolve, 100))
    expect(cli.stdout()).toBe('before ')
    const { stdout, code } = await cli.result
    expect(stdout).toBe('before [REDACTED:github_token] after\n')
    expect(code).toBe(0)
  })

  it.each([
    ['SIGTERM', 42],
    ['SIGINT', 43],
    ['SIGHUP', 44],
  ] as const)('forwards %s to the child and exits with its code', async (signal, marker) => {
    const script = `
process.on('${signal}', () => { console.log('child got ${signal}'); process.exit(${marker}) })
console.log('ready')
setInterval(() => {}, 1000)`
    const cli = startCli(['run', ...node(script)], { env })
    await cli.waitForStdout('ready\n')
    cli.child.kill(signal)
    const result = await cli.result
    expect(result.stdout).toBe(`ready\nchild got ${signal}\n`)
    expect(result.code).toBe(marker)
  })

  it('holds no LISTEN connection while the child runs: one backend, where a listening client has two', async () => {
    const probe = await database.connect()
    try {
      const name = `kw_run_${process.pid}`
      const url = new URL(database.url)
      url.searchParams.set('application_name', name)
      const backends = async () => {
        const { rows } = await probe.query<{ count: number }>(
          'SELECT count(*)::int AS count FROM pg_stat_activity WHERE application_name = $1',
          [name],
        )
        return rows[0]?.count ?? 0
      }
      /** The most backends seen while `work` runs. */
      const mostDuring = async (work: Promise<unknown>) => {
        let most = 0
        let done = false
        const finished = work.finally(() => {
          done = true
        })
        while (!done) {
          most = Math.max(most, await backends())
          await new Promise((resolve) => setTimeout(resolve, 25))
        }
        await finished
        return most
      }
      const runEnv = { ...env, KEYWARDEN_DATABASE_URL: url.toString() }
      const run = runCli(['run', '--only', 'github_token', ...node('setTimeout(() => {}, 1500)')], {
        env: runEnv,
      })
      expect(await mostDuring(run)).toBe(1)
      expect((await run).code).toBe(0)

      // The same read by a client that listens, as long-lived doors do: the probe sees both.
      const listening = createVaultClient({ env: runEnv, accessedBy: 'test', envFallback: false })
      try {
        await listening.getSecret('github_token')
        expect(await backends()).toBe(2)
      } finally {
        await listening.close()
      }
    } finally {
      await probe.end()
    }
  })

  it('exits 128 + signal when a forwarded signal kills the child', async () => {
    const cli = startCli(['run', ...node("console.log('ready'); setInterval(() => {}, 1000)")], {
      env,
    })
    await cli.waitForStdout('ready\n')
    cli.child.kill('SIGINT')
    expect((await cli.result).code).toBe(130)
  })

  it('passes 10 MB of output through intact, multi-byte characters and all, masked', async () => {
    const result = await runCli(
      ['run', ...node(`process.stdout.write((${bigText.toString()})(process.env.GITHUB_TOKEN))`)],
      { env },
    )
    const expected = bigText(GITHUB_TOKEN).replaceAll(GITHUB_TOKEN, '[REDACTED:github_token]')
    expect(result.code).toBe(0)
    expect(result.stdout.length).toBe(expected.length)
    expect(sha256(result.stdout)).toBe(sha256(expected))
    expect(result.stdout).not.toContain(GITHUB_TOKEN)
  })
})

// About 10 MB of text with a secret every few hundred lines and characters of 2, 3 and 4 bytes,
// which the pipe's chunks cut through. Self-contained: its source is run in the child too.
function bigText(secret: string): string {
  const lines: string[] = []
  let size = 0
  for (let i = 0; size < 10 * 1024 * 1024; i++) {
    const line = `${i} lörem ipsum € 🙂 ${i % 397 === 0 ? secret : 'x'.repeat(i % 50)}\n`
    lines.push(line)
    size += line.length
  }
  return lines.join('')
}

describe('keywarden run on the embedded default', () => {
  it('stores with set and runs with the value injected and masked', async () => {
    const home = await mkdtemp(join(tmpdir(), 'kw-run-'))
    try {
      const embedded = { KEYWARDEN_HOME: home }
      const set = await runCli(['set', 'github_token'], { env: embedded, input: GITHUB_TOKEN })
      expect(set.code, set.stderr).toBe(0)
      const result = await runCli(
        ['run', '--only', 'github_token', ...node(`console.log('t=' + process.env.GITHUB_TOKEN)`)],
        { env: embedded },
      )
      expect(result).toMatchObject({ code: 0, stdout: 't=[REDACTED:github_token]\n', stderr: '' })
    } finally {
      // The agent the CLI started still writes to the home until it stops.
      await stopAgent(home).catch(() => false)
      await rm(home, { recursive: true, force: true })
    }
  })
})
