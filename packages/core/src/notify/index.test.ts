/**
 * The webhook notifier against a real local HTTP receiver: payload shape, bounded retries with
 * doubling backoff (the waits are recorded, not slept), no retry of a permanent refusal, and a
 * hanging receiver that never holds up a secret read.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { createVaultClient } from '../client/index.ts'
import type { ExpiringSecret } from '../store/index.ts'
import { createPostgresStore } from '../store/postgres.ts'
import { createPostgresTestDatabase } from '../testing/databases.ts'
import { type HttpReceiver, startHttpReceiver } from '../testing/http-receiver.ts'
import { alertMessage, createWebhookNotifier, reminderMessage } from './index.ts'

const due: ExpiringSecret = {
  name: 'github_token',
  type: 'github_token',
  reason: 'rotation_due',
  dueAt: new Date('2031-01-01T00:00:00Z'),
  expiresAt: null,
  rotationDueAt: new Date('2031-01-01T00:00:00Z'),
  overdue: false,
  riskLevel: 'high',
  reminderWindow: 'rotation_due:2031-01-01T00:00:00.000000Z:upcoming',
}

describe('createWebhookNotifier', () => {
  let receiver: HttpReceiver
  let waits: number[]

  beforeAll(async () => {
    receiver = await startHttpReceiver()
  })

  afterAll(async () => {
    await receiver?.close()
  })

  beforeEach(() => {
    waits = []
    receiver.answer(() => ({ status: 200 }))
  })

  const notifier = (options: { attempts?: number; timeoutMs?: number } = {}) =>
    createWebhookNotifier({
      url: `${receiver.url}/hook`,
      backoffMs: 100,
      sleep: async (ms) => {
        waits.push(ms)
      },
      ...options,
    })

  it('POSTs Slack-compatible JSON: text and blocks', async () => {
    const before = receiver.requests.length
    const delivery = await notifier().send(reminderMessage(due))
    expect(delivery).toEqual({ delivered: true, attempts: 1, status: 200 })
    const [request] = receiver.requests.slice(before)
    expect(request?.method).toBe('POST')
    expect(request?.path).toBe('/hook')
    expect(request?.headers['content-type']).toBe('application/json')
    const body = JSON.parse(request?.body ?? '{}')
    expect(body.text).toContain('github_token')
    expect(body.text).toContain('2031-01-01T00:00:00.000Z')
    expect(body.blocks[0]).toMatchObject({ type: 'section', text: { type: 'mrkdwn' } })
  })

  it('retries a failing receiver with doubling backoff, a bounded number of times', async () => {
    const before = receiver.requests.length
    receiver.answer(() => ({ status: 503 }))
    const delivery = await notifier({ attempts: 4 }).send(reminderMessage(due))
    expect(delivery).toEqual({ delivered: false, attempts: 4, status: 503, error: 'HTTP 503' })
    expect(receiver.requests.length - before).toBe(4)
    expect(waits).toEqual([100, 200, 400])
  })

  it('delivers on a retry once the receiver recovers', async () => {
    let calls = 0
    receiver.answer(() => (++calls < 3 ? { status: 500 } : { status: 200 }))
    const delivery = await notifier().send(reminderMessage(due))
    expect(delivery).toMatchObject({ delivered: true, attempts: 3 })
    expect(waits).toEqual([100, 200])
  })

  it('does not retry a permanent refusal (404)', async () => {
    receiver.answer(() => ({ status: 404 }))
    const delivery = await notifier().send(reminderMessage(due))
    expect(delivery).toMatchObject({ delivered: false, attempts: 1, status: 404 })
    expect(waits).toEqual([])
  })

  it('gives up on a hanging receiver without holding up a secret read', async () => {
    const db = await createPostgresTestDatabase()
    const client = createVaultClient({
      store: createPostgresStore({ connectionString: db.url, rootKey: db.rootKey, listen: false }),
      envFallback: false,
    })
    try {
      await client.storeSecret('hook_read', 'read-while-hanging')
      receiver.answer(() => 'hang')
      let settled = false
      const sending = notifier({ attempts: 2, timeoutMs: 1_500 })
        .send(reminderMessage(due))
        .finally(() => {
          settled = true
        })
      const read = await client.getSecret('hook_read')
      expect(read.value).toBe('read-while-hanging')
      expect(settled).toBe(false)
      const delivery = await sending
      expect(delivery).toEqual({ delivered: false, attempts: 2, error: 'no answer within 1500 ms' })
    } finally {
      await client.close()
      await db.drop()
    }
  })

  it('reports a receiver that is not there as a network error, never with its URL', async () => {
    const nowhere = createWebhookNotifier({
      url: 'http://127.0.0.1:1/hook?token=canary-webhook-token',
      attempts: 1,
    })
    const delivery = await nowhere.send(
      alertMessage({
        key: 'k',
        kind: 'access_spike',
        severity: 'high',
        secretName: 'openai_api_key',
        accessedBy: 'svc',
        occurredAt: new Date(),
        evidence: { uses: 40 },
      }),
    )
    expect(delivery.delivered).toBe(false)
    expect(delivery.error).toMatch(/^network error/)
    expect(JSON.stringify(delivery)).not.toContain('canary-webhook-token')
  })
})
