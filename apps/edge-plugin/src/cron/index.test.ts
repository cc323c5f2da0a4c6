/**
 * `POST /cron/rotation-check` through `app.request()`, over a real vault on a fresh PostgreSQL
 * database, with a real local HTTP server as the webhook: its own token (fail closed, the plugin
 * token refused, the failure limit shared with the main auth's rules), one reminder per due
 * secret, none the second time, and no value anywhere.
 */
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createVaultClient } from '../../../../packages/core/src/index.ts'
import { until } from '../../../../packages/core/src/testing/expect.ts'
import {
  type HttpReceiver,
  startHttpReceiver,
} from '../../../../packages/core/src/testing/http-receiver.ts'
import { createApp, type EdgePluginApp } from '../app/index.ts'
import { CRON_TOKEN_SECRET } from '../auth/index.ts'
import { BASE_PATH, configFromEnv } from '../config/index.ts'
import { createTestVault, type TestVault, testTokens } from '../testing/index.ts'

const DAY = 86_400_000
const tokens = testTokens()
const CRON_TOKEN = `kwc_${crypto.randomUUID().replaceAll('-', '')}`
const VALUES = [1, 2, 3].map((n) => `value-${n}-${crypto.randomUUID()}`)
let vault: TestVault
let receiver: HttpReceiver
let app: EdgePluginApp
const answers: string[] = []

beforeAll(async () => {
  receiver = await startHttpReceiver()
  vault = await createTestVault({
    secrets: { plugin_bearer_token: tokens.bearer, [CRON_TOKEN_SECRET]: CRON_TOKEN },
  })
  const soon = new Date(Date.now() + 3 * DAY)
  await vault.client.storeSecret('deploy_key', VALUES[0] as string, { expiresAt: soon })
  await vault.client.storeSecret('partner_api_key', VALUES[1] as string, { expiresAt: soon })
  await vault.client.storeSecret('far_away_key', VALUES[2] as string, {
    expiresAt: new Date(Date.now() + 60 * DAY),
  })
  app = createApp({
    client: vault.client,
    config: configFromEnv({ KEYWARDEN_WEBHOOK_URL: `${receiver.url}/hook` }),
  })
})
afterAll(async () => {
  await vault?.cleanup()
  await receiver?.close()
})

/** POSTs to the cron route from `ip`, with `authorization` if given. */
async function cron(
  authorization: string | undefined,
  { target = app, ip = '203.0.113.1', query = '' } = {},
) {
  const response = await target.request(`${BASE_PATH}/cron/rotation-check${query}`, {
    method: 'POST',
    headers: { 'x-real-ip': ip, ...(authorization ? { authorization } : {}) },
  })
  const text = await response.text()
  answers.push(text)
  return { status: response.status, body: JSON.parse(text) }
}

const webhookBodies = () => receiver.requests.map((request) => request.body)

describe('its own bearer token', () => {
  it('fails closed with 503 when neither cron_bearer_token nor CRON_BEARER_TOKEN is set', async () => {
    const bare = await createTestVault({ secrets: { plugin_bearer_token: tokens.bearer } })
    try {
      const result = await cron(`Bearer ${tokens.bearer}`, {
        target: createApp({ client: bare.client }),
      })
      expect(result).toMatchObject({
        status: 503,
        body: {
          error: {
            code: 'NOT_CONFIGURED',
            message:
              'the plugin is not configured: store cron_bearer_token in the vault or set CRON_BEARER_TOKEN',
          },
        },
      })
    } finally {
      await bare.cleanup()
    }
  })

  it('refuses a wrong token, a missing one and the plugin token, and audits each failure', async () => {
    const ip = '203.0.113.2'
    for (const authorization of ['Bearer kwc_wrong', undefined, `Bearer ${tokens.bearer}`]) {
      expect(await cron(authorization, { ip })).toMatchObject({
        status: 401,
        body: { error: { code: 'UNAUTHORIZED' } },
      })
    }
    // The plugin token still opens the plugin's own routes.
    const secrets = await app.request(`${BASE_PATH}/secrets`, {
      headers: { authorization: `Bearer ${tokens.bearer}`, 'x-real-ip': ip },
    })
    expect(secrets.status).toBe(200)
    // The cron token opens nothing but the cron route.
    const withCron = await app.request(`${BASE_PATH}/secrets`, {
      headers: { authorization: `Bearer ${CRON_TOKEN}`, 'x-real-ip': '203.0.113.9' },
    })
    expect(withCron.status).toBe(401)
    const failures = await until(
      'the cron auth failures in the audit log',
      () => vault.client.queryAudit({ secretName: CRON_TOKEN_SECRET, failedOnly: true }),
      (records) => records.length >= 3,
    )
    expect(failures.every((record) => record.accessType === 'auth_failure')).toBe(true)
    expect(failures.map((record) => record.errorMessage).join('\n')).not.toContain(tokens.bearer)
    expect(receiver.requests).toHaveLength(0)
  })

  it('limits failures as the main auth does: 429 once the limit is reached, even with the right token', async () => {
    const ip = '203.0.113.3'
    for (let attempt = 0; attempt < 5; attempt++) {
      expect((await cron('Bearer kwc_guess', { ip })).status).toBe(401)
    }
    const blocked = await app.request(`${BASE_PATH}/cron/rotation-check`, {
      method: 'POST',
      headers: { authorization: `Bearer ${CRON_TOKEN}`, 'x-real-ip': ip },
    })
    expect(blocked.status).toBe(429)
    expect(Number(blocked.headers.get('retry-after'))).toBeGreaterThan(0)
    expect(receiver.requests).toHaveLength(0)
  })

  it('accepts CRON_BEARER_TOKEN from the environment when the vault has no cron token', async () => {
    const bare = await createTestVault({ secrets: { plugin_bearer_token: tokens.bearer } })
    const client = createVaultClient({
      env: { ...bare.env, CRON_BEARER_TOKEN: CRON_TOKEN },
      accessedBy: 'chatgpt-plugin',
    })
    try {
      const result = await cron(`Bearer ${CRON_TOKEN}`, { target: createApp({ client }) })
      expect(result).toMatchObject({
        status: 200,
        body: { webhook_configured: false, reminders: { sent: [] } },
      })
    } finally {
      await client.close()
      await bare.cleanup()
    }
  })
})

describe('the rotation check', () => {
  it('sends one reminder per due secret, then none on the next call', async () => {
    const first = await cron(`Bearer ${CRON_TOKEN}`)
    expect(first.status).toBe(200)
    expect(first.body.webhook_configured).toBe(true)
    expect(first.body.reminders.due.sort()).toEqual(['deploy_key', 'partner_api_key'])
    expect(first.body.reminders.sent.sort()).toEqual(['deploy_key', 'partner_api_key'])
    expect(first.body.reminders).toMatchObject({ skipped: [], failed: [] })
    for (const name of ['deploy_key', 'partner_api_key']) {
      expect(
        webhookBodies().filter((body) => body.includes(name)),
        name,
      ).toHaveLength(1)
    }
    expect(webhookBodies().filter((body) => body.includes('far_away_key'))).toHaveLength(0)
    for (const request of receiver.requests) {
      expect(request).toMatchObject({ method: 'POST', path: '/hook' })
      expect(JSON.parse(request.body)).toHaveProperty('text')
    }
    const sentBefore = receiver.requests.length

    const second = await cron(`Bearer ${CRON_TOKEN}`)
    expect(second.status).toBe(200)
    expect(second.body.reminders.sent).toEqual([])
    expect(second.body.reminders.skipped.sort()).toEqual(['deploy_key', 'partner_api_key'])
    expect(second.body.alerts).toMatchObject({ sent: 0, failed: 0 })
    expect(receiver.requests).toHaveLength(sentBefore)
  })

  it('sends new alerts once: the failure burst of the tests above', async () => {
    // Earlier tests failed authentication more than five times within the hour.
    const alerts = await until(
      'the auth failure burst among the alerts',
      () => vault.client.secretAlerts(),
      (alerts) => alerts.some((alert) => alert.kind === 'failed_access_burst'),
    )
    expect(alerts.length).toBeGreaterThan(0)
    const before = receiver.requests.length
    const run = await cron(`Bearer ${CRON_TOKEN}`, { query: '?days=7' })
    // The earlier calls may already have sent the burst as it grew; none is sent twice.
    const again = await cron(`Bearer ${CRON_TOKEN}`)
    expect(again.body.alerts).toMatchObject({ sent: 0, failed: 0 })
    expect(again.body.alerts.skipped).toBe(again.body.alerts.found)
    expect(receiver.requests.length - before).toBe(run.body.alerts.sent)
    const bursts = webhookBodies().filter((body) => body.includes('failed access burst'))
    expect(bursts.length).toBeGreaterThan(0)
    expect(new Set(bursts).size).toBe(bursts.length)
  })

  it('rejects a days value out of range', async () => {
    expect(await cron(`Bearer ${CRON_TOKEN}`, { query: '?days=-1' })).toMatchObject({
      status: 400,
      body: { error: { code: 'INVALID_REQUEST' } },
    })
  })
})

describe("the plugin token cannot make itself admin through /mcp (Keywarden's own credentials)", () => {
  /** The SDK's MCP client on `target`'s /mcp, with the plugin token. */
  async function mcpOn(target: EdgePluginApp) {
    const mcp = new Client({ name: 'attacker', version: '0.0.0' })
    await mcp.connect(
      new StreamableHTTPClientTransport(new URL(`http://localhost${BASE_PATH}/mcp`), {
        requestInit: { headers: { authorization: `Bearer ${tokens.bearer}` } },
        fetch: async (url, init) => target.request(String(url), init),
      }),
    )
    return mcp
  }
  const chosen = `kwc_${crypto.randomUUID().replaceAll('-', '')}`
  const textOf = (result: CallToolResult) => JSON.stringify(result.content)

  it('refuses store_secret cron_bearer_token, so the chosen value never opens the cron route', async () => {
    const fresh = await createTestVault({
      secrets: { plugin_bearer_token: tokens.bearer, github_token: 'ghp_the_users_own_token' },
    })
    const target = createApp({ client: fresh.client })
    const mcp = await mcpOn(target)
    try {
      const stored = (await mcp.callTool({
        name: 'store_secret',
        arguments: { name: 'cron_bearer_token', value: chosen },
      })) as CallToolResult
      expect(stored.isError).toBe(true)
      expect(textOf(stored)).toContain(
        "ACCESS_DENIED: cron_bearer_token is one of Keywarden's own credentials",
      )
      // The exact attack: the chosen value must not open POST /cron/rotation-check.
      const opened = await cron(`Bearer ${chosen}`, { target, ip: '198.51.100.7' })
      expect(opened.status).toBe(503)
      for (const [tool, args] of [
        ['store_secret', { name: 'plugin_bearer_token', value: chosen }],
        ['rotate_secret', { name: 'plugin_bearer_token', value: chosen }],
        ['delete_secret', { name: 'plugin_bearer_token', confirm: true }],
        ['reveal_secret', { name: 'plugin_bearer_token' }],
      ] as const) {
        const result = (await mcp.callTool({ name: tool, arguments: args })) as CallToolResult
        expect(result.isError, tool).toBe(true)
        expect(textOf(result), tool).toContain("Keywarden's own credentials")
      }
      // The GitHub token the plugin's own routes use: never written through the edge door,
      // even by a rule, and not created in the vault where the plugin reads it from its env.
      await fresh.client.setDoorPolicy({
        doorPattern: 'edge',
        secretPattern: '*',
        canReadMetadata: true,
        canUseHosts: true,
        canUseCommands: true,
        canReveal: true,
        canWrite: true,
        canCreate: true,
      })
      for (const [tool, args] of [
        ['store_secret', { name: 'github_token', value: 'ghp_attacker' }],
        ['delete_secret', { name: 'github_token', confirm: true }],
        ['reveal_secret', { name: 'github_token' }],
      ] as const) {
        const result = (await mcp.callTool({ name: tool, arguments: args })) as CallToolResult
        expect(textOf(result), tool).toContain(
          'github_token is a credential the edge door itself uses',
        )
      }
      expect((await fresh.client.getSecret('plugin_bearer_token')).value).toBe(tokens.bearer)
      expect((await fresh.client.getSecret('github_token')).value).toBe('ghp_the_users_own_token')
      expect((await fresh.client.listSecrets()).map((s) => s.name)).not.toContain(
        'cron_bearer_token',
      )
      const denied = await until(
        'the refusals in the audit log',
        async () =>
          (await fresh.client.queryAudit({ failedOnly: true })).filter(
            (row) => row.accessType === 'denied',
          ),
        (rows) => rows.length >= 8,
      )
      expect(JSON.stringify(denied)).not.toContain(chosen)
    } finally {
      await mcp.close()
      await fresh.cleanup()
    }
  })
})

it('never puts a value or a token in a webhook payload or an answer', () => {
  const everything = [...answers, ...webhookBodies()]
  expect(webhookBodies().length).toBeGreaterThan(1)
  for (const text of everything) {
    for (const value of [...VALUES, CRON_TOKEN, tokens.bearer]) expect(text).not.toContain(value)
  }
})
