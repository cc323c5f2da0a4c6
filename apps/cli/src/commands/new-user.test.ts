/**
 * What a new user meets outside plain usage errors: an unmigrated database, a full disk under
 * stdout, a malformed webhook URL, a failure written to stdout. Real processes on a real
 * embedded vault and a real, empty PostgreSQL database.
 */
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync, openSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { stopAgent } from '@keywarden/core/node'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  createEmptyPostgresDatabase,
  type PostgresDatabase,
} from '../../../../packages/core/src/testing/databases.ts'
import { expectOneErrorLine } from '../testing/command-suite.ts'
import { CLI_PATH, runCli } from '../testing/run-cli.ts'

describe('errors a new user meets', () => {
  let home = ''
  let env: Record<string, string> = {}
  let database: PostgresDatabase
  beforeAll(async () => {
    home = await mkdtemp(join(tmpdir(), 'kw-new-user-'))
    env = { KEYWARDEN_HOME: join(home, 'vault') }
    database = await createEmptyPostgresDatabase()
    const stored = await runCli(['set', 'github_token'], { env, input: 'ghp_new_user_value' })
    expect(stored.code, stored.stderr).toBe(0)
  })
  afterAll(async () => {
    await database?.drop()
    // The embedded vault's local agent outlives the commands: stop it before removing its home.
    await stopAgent(join(home, 'vault'))
    await rm(home, { recursive: true, force: true, maxRetries: 3 })
  })

  it('an unmigrated database: one line that says to run keywarden db migrate, at every command', async () => {
    const pgEnv = {
      KEYWARDEN_DATABASE_URL: database.url,
      KEYWARDEN_ROOT_KEY: randomBytes(32).toString('hex'),
    }
    for (const args of [['list'], ['get', 'github_token'], ['audit'], ['expiring'], ['status']]) {
      const result = await runCli(args, { env: pgEnv })
      expect(result.code, args.join(' ')).toBe(1)
      expectOneErrorLine(
        result,
        /^keywarden: the vault's schema is missing or old \(function public\.\w+\(.*\) does not exist\): run `keywarden db migrate`\n$/,
      )
    }
  })

  it.runIf(existsSync('/dev/full'))('a failed write to stdout exits non-zero', async () => {
    const child = spawn(process.execPath, [CLI_PATH, 'get', 'github_token'], {
      env: { PATH: process.env.PATH, ...env },
      stdio: ['ignore', openSync('/dev/full', 'w'), 'pipe'],
    })
    let stderr = ''
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk
    })
    const code = await new Promise((resolve) => child.on('close', resolve))
    expect(code).toBe(1)
    expect(stderr).toBe('keywarden: cannot write to stdout (ENOSPC)\n')
  })

  it('remind with a malformed webhook URL says why, without echoing the URL', async () => {
    const url = `hooks.slack.com/services/${randomBytes(8).toString('hex')}`
    const result = await runCli(['remind'], { env: { ...env, KEYWARDEN_WEBHOOK_URL: url } })
    expect(result.code).toBe(1)
    expectOneErrorLine(result, /KEYWARDEN_WEBHOOK_URL is not an http\(s\) URL/)
    expect(result.stderr).not.toContain(url)
    expect(result.stdout).toBe('')
  })

  it('rotate --discard with nothing staged says so on stderr', async () => {
    const result = await runCli(['rotate', 'github_token', '--discard'], { env })
    expect(result.code).toBe(3)
    expect(result.stdout).toBe('')
    expectOneErrorLine(result, /^keywarden: github_token has no staged rotation\.\n$/)
  })
})
