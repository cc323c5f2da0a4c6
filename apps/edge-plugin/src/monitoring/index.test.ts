/**
 * `GET /metrics` and `GET /alerts` through `app.request()`, over a real vault on a fresh
 * PostgreSQL database whose audit history is made by real clients: a service reading a secret,
 * and another accessor failing six times in a row.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createVaultClient, type VaultClient } from '../../../../packages/core/src/index.ts'
import { until } from '../../../../packages/core/src/testing/expect.ts'
import { createApp, type EdgePluginApp } from '../app/index.ts'
import { BASE_PATH } from '../config/index.ts'
import { createTestVault, type TestVault, testTokens } from '../testing/index.ts'

const tokens = testTokens()
const VALUE = `metered-${crypto.randomUUID()}`
let vault: TestVault
let app: EdgePluginApp
const others: VaultClient[] = []
const bodies: string[] = []

/** A client of the same vault auditing as `accessedBy`, as another service would be. */
function service(accessedBy: string): VaultClient {
  const client = createVaultClient({ env: vault.env, accessedBy })
  others.push(client)
  return client
}

beforeAll(async () => {
  vault = await createTestVault({ secrets: { plugin_bearer_token: tokens.bearer } })
  await vault.client.storeSecret('stripe_api_key', VALUE, { type: 'api_key' })
  const billing = service('billing-service')
  for (let read = 0; read < 3; read++) await billing.getSecret('stripe_api_key')
  const prober = service('prober')
  for (let attempt = 0; attempt < 6; attempt++) {
    await prober.getSecret('stripe_api_key_old').catch(() => undefined)
  }
  // Audit rows are written in the background; wait until they are all in.
  await Promise.all(others.map((client) => client.close()))
  app = createApp({ client: vault.client })
})
afterAll(() => vault?.cleanup())

async function get(path: string, bearer = tokens.bearer) {
  const response = await app.request(`${BASE_PATH}${path}`, {
    headers: { authorization: `Bearer ${bearer}` },
  })
  const text = await response.text()
  bodies.push(text)
  return { status: response.status, body: JSON.parse(text) }
}

describe('GET /metrics', () => {
  it('reports accesses and accessors per secret from the audit log', async () => {
    const { status, body } = await until(
      'the billing reads in the metrics',
      () => get('/metrics'),
      ({ body }) =>
        body.metrics?.some(
          (metric: { name: string; accesses_24h: number }) =>
            metric.name === 'stripe_api_key' && metric.accesses_24h >= 3,
        ),
    )
    expect(status).toBe(200)
    expect(body.count).toBe(body.metrics.length)
    const metric = body.metrics.find((entry: { name: string }) => entry.name === 'stripe_api_key')
    expect(metric).toMatchObject({
      type: 'api_key',
      risk_level: 'high',
      accesses_24h: 3,
      accesses_7d: 3,
      failed_7d: 0,
      failure_rate: 0,
      accessors_7d: ['billing-service'],
      last_rotated_at: null,
      rotation_staged_at: null,
    })
    expect(Date.parse(metric.rotation_due_at) - Date.now()).toBeGreaterThan(89 * 86_400_000)
    expect(Date.parse(metric.last_accessed_at)).toBeLessThanOrEqual(Date.now())
  })

  it('needs the plugin token', async () => {
    expect(await get('/metrics', 'kwp_wrong')).toMatchObject({
      status: 401,
      body: { error: { code: 'UNAUTHORIZED' } },
    })
  })
})

describe('GET /alerts', () => {
  it('reports the failed-access burst with its accessor and evidence', async () => {
    const { status, body } = await get('/alerts?since=1h')
    expect(status).toBe(200)
    expect(body.count).toBe(body.alerts.length)
    expect(body.alerts).toContainEqual(
      expect.objectContaining({
        kind: 'failed_access_burst',
        severity: 'high',
        secret_name: 'stripe_api_key_old',
        accessed_by: 'prober',
        evidence: expect.objectContaining({ failures_in_hour: 6 }),
      }),
    )
    // The service reading its own secret raises nothing.
    expect(
      body.alerts.filter(
        (alert: { accessed_by: string }) => alert.accessed_by === 'billing-service',
      ),
    ).toEqual([])
  })

  it('parses since like /audit, and rejects what it cannot parse', async () => {
    expect((await get('/alerts')).body.count).toBeGreaterThan(0)
    const recent = new Date(Date.now() - 30 * 60_000).toISOString()
    expect((await get(`/alerts?since=${recent}`)).body.alerts).toContainEqual(
      expect.objectContaining({ kind: 'failed_access_burst', accessed_by: 'prober' }),
    )
    // The SQL bounds the look-back to 90 days.
    expect(await get('/alerts?since=91d')).toMatchObject({
      status: 400,
      body: { error: { code: 'INVALID_ARGUMENT' } },
    })
    expect(await get('/alerts?since=yesterday')).toMatchObject({
      status: 400,
      body: { error: { code: 'INVALID_ARGUMENT' } },
    })
  })

  it('needs the plugin token', async () => {
    const response = await app.request(`${BASE_PATH}/alerts`)
    expect(response.status).toBe(401)
  })
})

it('never answers with a secret value', () => {
  expect(bodies.length).toBeGreaterThan(0)
  for (const body of bodies) {
    expect(body).not.toContain(VALUE)
    expect(body).not.toContain(tokens.bearer)
  }
})
