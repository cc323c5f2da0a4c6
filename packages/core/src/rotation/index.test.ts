/**
 * The reminder job, new-alert notifications and staged-rotation verification, end to end: a
 * vault client on the real PostgreSQL server, a real local HTTP receiver as the webhook and as
 * the GitHub API. Time is injected (`now`), never slept.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { createVaultClient, type VaultClient } from '../client/index.ts'
import { createWebhookNotifier } from '../notify/index.ts'
import { createPostgresStore } from '../store/postgres.ts'
import { createPostgresTestDatabase, type PostgresTestDatabase } from '../testing/databases.ts'
import { rejection, until } from '../testing/expect.ts'
import { type HttpReceiver, startHttpReceiver } from '../testing/http-receiver.ts'
import { notifyNewAlerts, runRotationCheck, verifierForType } from './index.ts'

const DAY = 86_400_000

let sequence = 0
function fresh(base: string): string {
  sequence += 1
  return `${base}_${sequence}`
}

let db: PostgresTestDatabase
let receiver: HttpReceiver
const clients: VaultClient[] = []

beforeAll(async () => {
  db = await createPostgresTestDatabase()
  receiver = await startHttpReceiver()
})

afterAll(async () => {
  await Promise.all(clients.map((client) => client.close()))
  await receiver?.close()
  await db?.drop()
})

beforeEach(() => {
  receiver.answer(() => ({ status: 200 }))
})

function client(accessedBy = 'rotation-test'): VaultClient {
  const created = createVaultClient({
    store: createPostgresStore({ connectionString: db.url, rootKey: db.rootKey }),
    env: {},
    accessedBy,
  })
  clients.push(created)
  return created
}

const webhook = (path: string) =>
  createWebhookNotifier({ url: `${receiver.url}${path}`, backoffMs: 1, sleep: async () => {} })

const bodiesAt = (path: string) =>
  receiver.requests.filter((request) => request.path === path).map((request) => request.body)

async function createdAt(vault: VaultClient, name: string): Promise<Date> {
  const secret = (await vault.listSecrets()).find((entry) => entry.name === name)
  if (!secret) throw new Error(`${name} is not listed`)
  return secret.createdAt
}

describe('runRotationCheck', () => {
  it('sends one reminder per secret per window, then one when it becomes overdue', async () => {
    const vault = client()
    const name = fresh('remind_gh')
    const value = `ghp_${fresh('reminded_value')}`
    await vault.storeSecret(name, value, { type: 'github_token' })
    const due = new Date((await createdAt(vault, name)).getTime() + 90 * DAY)
    const path = `/${fresh('reminders')}`
    const run = (now: Date) => runRotationCheck({ client: vault, webhook: webhook(path), now })

    const early = await run(new Date(due.getTime() - 8 * DAY))
    expect(early.due.map((secret) => secret.name)).not.toContain(name)

    const first = await run(new Date(due.getTime() - 6 * DAY))
    expect(first.notified).toContain(name)
    const again = await run(new Date(due.getTime() - 5 * DAY))
    expect(again.notified).not.toContain(name)
    expect(again.alreadyNotified).toContain(name)

    const overdue = await run(new Date(due.getTime() + DAY))
    expect(overdue.notified).toContain(name)
    expect(overdue.due.find((secret) => secret.name === name)?.overdue).toBe(true)

    const mine = bodiesAt(path).filter((body) => body.includes(name))
    expect(mine).toHaveLength(2)
    for (const body of mine) {
      const message = JSON.parse(body)
      expect(typeof message.text).toBe('string')
      expect(Array.isArray(message.blocks)).toBe(true)
      expect(body).not.toContain(value)
    }
  })

  it('sends once when many runs race on the same window', async () => {
    const name = fresh('race_api')
    const seeder = client()
    await seeder.storeSecret(name, 'race-value', { type: 'api_key' })
    const now = new Date((await createdAt(seeder, name)).getTime() + 89 * DAY)
    const path = `/${fresh('race')}`
    const results = await Promise.all(
      Array.from({ length: 6 }, () =>
        runRotationCheck({ client: client(), webhook: webhook(path), now }),
      ),
    )
    expect(results.filter((result) => result.notified.includes(name))).toHaveLength(1)
    expect(bodiesAt(path).filter((body) => body.includes(name))).toHaveLength(1)
  })

  it('gives a failed delivery back, so the next run sends it', async () => {
    const vault = client()
    const name = fresh('retry_service')
    await vault.storeSecret(name, 'retry-value', { type: 'service_key' })
    const now = new Date((await createdAt(vault, name)).getTime() + 179 * DAY)
    const path = `/${fresh('flaky')}`
    receiver.answer(() => ({ status: 500 }))
    const failed = await runRotationCheck({ client: vault, webhook: webhook(path), now })
    expect(failed.failed).toContain(name)
    expect(bodiesAt(path).filter((body) => body.includes(name)).length).toBe(4)

    receiver.answer(() => ({ status: 200 }))
    const retried = await runRotationCheck({ client: vault, webhook: webhook(path), now })
    expect(retried.notified).toContain(name)
    expect(
      (await runRotationCheck({ client: vault, webhook: webhook(path), now })).notified,
    ).not.toContain(name)
  })

  it('claims nothing without a webhook, so a later run with one still sends', async () => {
    const vault = client()
    const name = fresh('nohook')
    await vault.storeSecret(name, 'nohook-value', { type: 'api_key' })
    const now = new Date((await createdAt(vault, name)).getTime() + 88 * DAY)
    const dry = await runRotationCheck({ client: vault, now })
    expect(dry.due.map((secret) => secret.name)).toContain(name)
    expect(dry.notified).toEqual([])
    const path = `/${fresh('later')}`
    expect(
      (await runRotationCheck({ client: vault, webhook: webhook(path), now })).notified,
    ).toContain(name)
  })
})

describe('notifyNewAlerts', () => {
  it('sends each alert once, without any value', async () => {
    const vault = client()
    const name = fresh('probed')
    const value = fresh('probed-secret-value')
    await vault.storeSecret(name, value)
    const prober = fresh('prober')
    const probe = client(prober)
    for (let attempt = 0; attempt < 6; attempt++) {
      await rejection(probe.getSecret(`${name}_missing`), 'SECRET_NOT_FOUND')
    }
    const path = `/${fresh('alerts')}`
    const first = await notifyNewAlerts({ client: vault, webhook: webhook(path) })
    const burst = first.alerts.find(
      (alert) => alert.kind === 'failed_access_burst' && alert.accessedBy === prober,
    )
    expect(burst?.evidence).toMatchObject({ failures_in_hour: 6 })
    expect(first.notified).toContain(burst?.key)
    const second = await notifyNewAlerts({ client: vault, webhook: webhook(path) })
    expect(second.notified).not.toContain(burst?.key)
    expect(second.alreadyNotified).toContain(burst?.key)
    const sent = bodiesAt(path)
    expect(sent.filter((body) => body.includes(prober))).toHaveLength(1)
    for (const body of sent) expect(body).not.toContain(value)
  })
})

describe('staged rotation with verification', () => {
  it('promotes a GitHub token the API accepts, and keeps serving the current one otherwise', async () => {
    const github = await startHttpReceiver()
    try {
      github.answer((request) =>
        request.path === '/user' && request.headers.authorization === 'Bearer ghp_good_new'
          ? { status: 200, json: { login: 'octocat' } }
          : { status: 401, json: { message: 'Bad credentials' } },
      )
      const verify = verifierForType('github_token', { GITHUB_API_URL: github.url })
      if (!verify) throw new Error('github_token has a verifier')
      expect(verifierForType('api_key', {})).toBeUndefined()

      const vault = client()
      const warm = client('warm-reader')
      const name = fresh('verified_gh')
      await vault.storeSecret(name, 'ghp_current', { type: 'github_token' })
      expect((await warm.getSecret(name)).value).toBe('ghp_current')

      await vault.stageRotation(name, 'ghp_revoked_new')
      const failure = await rejection(
        vault.promoteRotation(name, { verify }),
        'VERIFICATION_FAILED',
      )
      expect(failure.message).toContain('HTTP 401')
      expect(JSON.stringify(failure)).not.toContain('ghp_revoked_new')
      expect((await vault.getSecret(name)).value).toBe('ghp_current')
      expect((await warm.getSecret(name)).value).toBe('ghp_current')

      await vault.stageRotation(name, 'ghp_good_new')
      const promoted = await vault.promoteRotation(name, { verify, gracePeriodSeconds: 0 })
      expect(promoted.version).toBe(2)
      expect((await vault.getSecret(name)).value).toBe('ghp_good_new')
      expect(github.requests.map((request) => request.headers.authorization)).toEqual([
        'Bearer ghp_revoked_new',
        'Bearer ghp_good_new',
      ])
      // The failed check is audited through the client's buffer, written within a second.
      await until(
        'the verify_rotation audit row',
        () => vault.queryAudit({ secretName: name, failedOnly: true }),
        (rows) => rows.some((row) => row.accessType === 'verify_rotation'),
      )
    } finally {
      await github.close()
    }
  })
})
