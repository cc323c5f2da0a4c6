/**
 * The rotation lifecycle and monitoring commands, spawned as a user runs them, against a fresh
 * database on the real PostgreSQL server: `metrics`, `alerts`, `remind`, staged `rotate` and
 * `incident`. A real local HTTP server stands in for the webhook and for the GitHub API; a
 * vault client in this process plays the already-warm service the incident must not leave
 * serving the old value.
 */
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createVaultClient, type VaultClient } from '@keywarden/core'
import { createPostgresStore } from '@keywarden/core/node'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  createPostgresTestDatabase,
  type PostgresTestDatabase,
} from '../../../../packages/core/src/testing/databases.ts'
import { until } from '../../../../packages/core/src/testing/expect.ts'
import {
  type HttpReceiver,
  startHttpReceiver,
} from '../../../../packages/core/src/testing/http-receiver.ts'
import { expectOneErrorLine } from '../testing/command-suite.ts'
import { parseCsv } from '../testing/csv.ts'
import { runCli } from '../testing/run-cli.ts'

describe('rotation lifecycle and monitoring commands on PostgreSQL', () => {
  let database: PostgresTestDatabase
  let webhook: HttpReceiver
  let github: HttpReceiver
  let dir: string
  let env: Record<string, string>
  const warmClients: VaultClient[] = []

  beforeAll(async () => {
    database = await createPostgresTestDatabase()
    webhook = await startHttpReceiver()
    github = await startHttpReceiver()
    github.answer((request) =>
      request.headers.authorization === 'Bearer ghp_accepted_value'
        ? { status: 200, json: { login: 'octocat' } }
        : { status: 401, json: { message: 'Bad credentials' } },
    )
    dir = await mkdtemp(join(tmpdir(), 'kw-lifecycle-'))
    env = { KEYWARDEN_DATABASE_URL: database.url, KEYWARDEN_ROOT_KEY: database.rootKey }
  })

  afterAll(async () => {
    await Promise.all(warmClients.map((client) => client.close()))
    await webhook?.close()
    await github?.close()
    await rm(dir, { recursive: true, force: true })
    await database?.drop()
  })

  const cli = (args: string[], options: { input?: string; extra?: Record<string, string> } = {}) =>
    runCli(args, {
      env: { ...env, ...options.extra },
      ...(options.input ? { input: options.input } : {}),
    })
  const withHook = (path: string) => ({ KEYWARDEN_WEBHOOK_URL: `${webhook.url}${path}` })
  const posted = (path: string) =>
    webhook.requests.filter((request) => request.path === path).map((request) => request.body)

  it('metrics --json: accesses and accessors per secret, never a value', async () => {
    expect(
      (await cli(['set', 'metered_key', '--type', 'api_key'], { input: 'metered-value' })).code,
    ).toBe(0)
    for (let read = 0; read < 3; read++) expect((await cli(['get', 'metered_key'])).code).toBe(0)
    const result = await cli(['metrics', '--json'])
    expect(result.code).toBe(0)
    const metric = JSON.parse(result.stdout).find(
      (entry: { name: string }) => entry.name === 'metered_key',
    )
    expect(metric).toMatchObject({
      type: 'api_key',
      risk_level: 'high',
      accesses_24h: 3,
      accessors_7d: ['cli'],
    })
    expect(result.stdout).not.toContain('metered-value')
    const table = await cli(['metrics'])
    expect(table.stdout.split('\n')[0]).toMatch(/^NAME\s+RISK\s+24H\s+7D\s+FAILED/)
    // Never rotated: `never`, as list says, not the age since creation ("0d ago").
    const line = table.stdout.split('\n').find((row) => row.startsWith('metered_key '))
    expect(line).toMatch(/ never /)
    expect(line).not.toContain('0d ago')
    const listed = await cli(['list'])
    expect(listed.stdout.split('\n').find((row) => row.startsWith('metered_key '))).toMatch(
      / never/,
    )
  })

  it('alerts: a failure burst is listed, and posted to the webhook once', async () => {
    for (let attempt = 0; attempt < 6; attempt++) {
      expect((await cli(['get', 'no_such_secret'])).code).toBe(3)
    }
    const first = await cli(['alerts', '--json'], { extra: withHook('/alerts') })
    expect(first.code).toBe(0)
    const report = JSON.parse(first.stdout)
    const burst = report.alerts.find(
      (alert: { kind: string; accessed_by: string }) =>
        alert.kind === 'failed_access_burst' && alert.accessed_by === 'cli',
    )
    // The owner's own typos at the CLI: listed and posted, but not a high alert against them.
    expect(burst).toMatchObject({ severity: 'low', secret_name: 'no_such_secret' })
    expect(report.notified).toContain(burst.key)
    const again = await cli(['alerts', '--since', '1h', '--json'], { extra: withHook('/alerts') })
    expect(JSON.parse(again.stdout).notified).toEqual([])
    const bodies = posted('/alerts')
    expect(bodies.filter((body) => body.includes('failed access burst'))).toHaveLength(1)
    expect(JSON.parse(bodies[0] ?? '{}')).toHaveProperty('text')
    expectOneErrorLine(await cli(['alerts', '--since', 'yesterday']), /--since must be a duration/)
  })

  it('remind: one reminder per secret per window, none with the value', async () => {
    expect(
      (await cli(['set', 'expiring_key', '--expires-in', '3d'], { input: 'expiring-value' })).code,
    ).toBe(0)
    const dry = await cli(['remind', '--json'])
    expect(JSON.parse(dry.stdout)).toMatchObject({ notified: [], failed: [] })
    expect(JSON.parse(dry.stdout).due).toContain('expiring_key')

    const first = await cli(['remind', '--json'], { extra: withHook('/remind') })
    expect(first.code).toBe(0)
    expect(JSON.parse(first.stdout).notified).toContain('expiring_key')
    const second = await cli(['remind', '--json'], { extra: withHook('/remind') })
    expect(JSON.parse(second.stdout).already_notified).toContain('expiring_key')
    const bodies = posted('/remind').filter((body) => body.includes('expiring_key'))
    expect(bodies).toHaveLength(1)
    expect(JSON.parse(bodies[0] ?? '{}').blocks.length).toBeGreaterThan(0)
    for (const body of posted('/remind')) expect(body).not.toContain('expiring-value')
  })

  it('remind: a failing webhook exits 1 and leaves the reminder for the next run', async () => {
    expect(
      (await cli(['set', 'flaky_key', '--expires-in', '2d'], { input: 'flaky-value' })).code,
    ).toBe(0)
    webhook.answer((request) => (request.path === '/down' ? { status: 503 } : { status: 200 }))
    try {
      const failed = await cli(['remind', '--json'], { extra: withHook('/down') })
      expect(failed.code).toBe(1)
      expect(JSON.parse(failed.stdout).failed).toContain('flaky_key')
      expect(posted('/down').filter((body) => body.includes('flaky_key'))).toHaveLength(4)
    } finally {
      webhook.answer(() => ({ status: 200 }))
    }
    const retried = await cli(['remind', '--json'], { extra: withHook('/up') })
    expect(JSON.parse(retried.stdout).notified).toContain('flaky_key')
  })

  it('rotate --stage / --promote --verify / --discard: a failed check keeps the current value', async () => {
    const extra = { GITHUB_API_URL: github.url }
    expect(
      (await cli(['set', 'staged_gh', '--type', 'github_token'], { input: 'ghp_current_value' }))
        .code,
    ).toBe(0)
    const staged = await cli(['rotate', 'staged_gh', '--stage', '--json'], {
      input: 'ghp_rejected_value',
    })
    expect(staged.code).toBe(0)
    expect(JSON.parse(staged.stdout).staged_at).toMatch(/Z$/)
    expect((await cli(['get', 'staged_gh'])).stdout).toBe('ghp_current_value')

    const refused = await cli(['rotate', 'staged_gh', '--promote', '--verify'], { extra })
    expect(refused.code).toBe(1)
    expectOneErrorLine(refused, /failed its check \(GitHub answered HTTP 401\)/)
    expect(refused.stderr).not.toContain('ghp_rejected_value')
    expect((await cli(['get', 'staged_gh'])).stdout).toBe('ghp_current_value')

    const discarded = await cli(['rotate', 'staged_gh', '--discard', '--json'])
    expect(JSON.parse(discarded.stdout)).toEqual({ name: 'staged_gh', discarded: true })
    expect((await cli(['rotate', 'staged_gh', '--discard'])).code).toBe(3)

    const verified = await cli(['rotate', 'staged_gh', '--verify', '--grace', '0', '--json'], {
      input: 'ghp_accepted_value',
      extra,
    })
    expect(verified.code).toBe(0)
    expect(JSON.parse(verified.stdout)).toMatchObject({ name: 'staged_gh', version: 2 })
    expect((await cli(['get', 'staged_gh'])).stdout).toBe('ghp_accepted_value')

    expectOneErrorLine(await cli(['rotate', 'staged_gh', '--stage', '--promote']), /one of --stage/)
    expect((await cli(['set', 'plain_key'], { input: 'plain-value' })).code).toBe(0)
    const noCheck = await cli(['rotate', 'plain_key', '--verify'], { input: 'plain-new' })
    expect(noCheck.code).toBe(2)
    expectOneErrorLine(noCheck, /no check for type other/)
  })

  it('incident: the old value is served by no tier of a warm client, and the CSV holds the whole trail', async () => {
    const name = 'leaked_gh'
    expect(
      (await cli(['set', name, '--type', 'github_token'], { input: 'ghp_leaked_old_value' })).code,
    ).toBe(0)
    // An already-warm service: LISTENing, with the old value cached.
    const warm = createVaultClient({
      store: createPostgresStore({ connectionString: database.url, rootKey: database.rootKey }),
      env: {},
      accessedBy: 'svc-warm',
    })
    warmClients.push(warm)
    expect((await warm.getSecret(name)).value).toBe('ghp_leaked_old_value')
    expect((await warm.getSecret(name)).source).toBe('cache')
    await until(
      'the warm client to listen',
      () => warm.health(),
      (health) => health.change_notifications,
    )
    // Its cache hit reaches the log through the client's buffer; wait for it, so that the trail
    // is complete before the incident writes it out.
    await until(
      "the warm client's cache hit in the audit log",
      () => warm.queryAudit({ secretName: name }),
      (rows) => rows.some((row) => row.accessType === 'cache_hit'),
    )

    const dry = await cli(['incident', name, '--dry-run', '--csv', join(dir, 'dry.csv')])
    expect(dry.code).toBe(0)
    expect(dry.stdout).toContain('would rotate')
    await expect(stat(join(dir, 'dry.csv'))).rejects.toThrow()
    expect((await cli(['get', name])).stdout).toBe('ghp_leaked_old_value')

    const csvPath = join(dir, 'incident.csv')
    const result = await cli(['incident', name, '--csv', csvPath, '--json'], {
      input: 'ghp_fresh_value',
      extra: withHook('/incident'),
    })
    expect(result.stderr).toBe('')
    expect(result.code).toBe(0)
    const report = JSON.parse(result.stdout)
    expect(report.rotation).toMatchObject({ version: 2, previous_valid_until: null })
    expect(report.accessors.map((entry: { accessed_by: string }) => entry.accessed_by)).toEqual(
      expect.arrayContaining(['cli', 'svc-warm']),
    )
    expect(report.revocation.urls).toContain('https://github.com/settings/tokens')
    expect(report.webhook).toMatchObject({ delivered: true })

    // Every row of the secret's trail, before the warm client reads again.
    const trail = await warm.queryAudit({ secretName: name, limit: 100_000 })
    const csv = await readFile(csvPath, 'utf8')
    const [header, ...rows] = parseCsv(csv)
    expect(header?.[0]).toBe('secret_name')
    expect(rows).toHaveLength(trail.length)
    expect(rows.map((row) => `${row[1]}|${row[2]}|${row[5]}`)).toEqual(
      trail.map((row) => `${row.accessedBy}|${row.accessType}|${row.createdAt.toISOString()}`),
    )
    expect(((await stat(csvPath)).mode & 0o777).toString(8)).toBe('600')

    // The NOTIFY reached the warm client: its next read goes to the vault for the new value.
    const fresh = await until(
      'the warm client to drop the old value',
      () => warm.getSecret(name),
      (secret) => secret.value !== 'ghp_leaked_old_value',
    )
    expect(fresh).toMatchObject({ value: 'ghp_fresh_value', source: 'vault', version: 2 })
    await expect(warm.getSecret(name, { version: 'previous' })).rejects.toMatchObject({
      code: 'SECRET_NOT_FOUND',
    })

    for (const body of [...posted('/incident'), result.stdout, csv]) {
      expect(body).not.toContain('ghp_leaked_old_value')
      expect(body).not.toContain('ghp_fresh_value')
    }
    expect(posted('/incident')).toHaveLength(1)
  })
})
