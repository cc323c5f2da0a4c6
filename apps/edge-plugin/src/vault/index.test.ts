/**
 * `PATCH /secrets/{name}` and INVALID_NAME on the REST routes, through `app.request()` over a
 * real vault client on a fresh PostgreSQL database.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createVaultClient } from '../../../../packages/core/src/index.ts'
import { createApp, type EdgePluginApp } from '../app/index.ts'
import { BASE_PATH } from '../config/index.ts'
import { createTestVault, type TestVault, testTokens } from '../testing/index.ts'

const tokens = testTokens()
const VALUE = `value-${crypto.randomUUID()}`
let vault: TestVault
let app: EdgePluginApp

beforeAll(async () => {
  vault = await createTestVault({ secrets: { plugin_bearer_token: tokens.bearer } })
  await vault.client.storeSecret('stripe_key', VALUE, { description: 'before', type: 'api_key' })
  app = createApp({ client: vault.client })
})
afterAll(() => vault?.cleanup())

async function send(method: string, path: string, body?: unknown) {
  const response = await app.request(`${BASE_PATH}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${tokens.bearer}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  })
  const text = await response.text()
  expect(text).not.toContain(VALUE)
  return { status: response.status, body: JSON.parse(text) }
}

describe('PATCH /secrets/{name}', () => {
  it('is refused until the door policy lets edge write the secret', async () => {
    const refused = await send('PATCH', '/secrets/stripe_key', { description: 'after' })
    expect(refused).toMatchObject({ status: 403, body: { error: { code: 'ACCESS_DENIED' } } })
  })

  it('changes metadata without the value once allowed, and refuses access fields', async () => {
    await vault.client.setDoorPolicy({
      doorPattern: 'edge',
      secretPattern: 'stripe_key',
      canReadMetadata: true,
      canUseHosts: true,
      canUseCommands: true,
      canReveal: true,
      canWrite: true,
      canCreate: true,
    })
    // A new app: a running one reads the policy again only after its 5 s reuse.
    app = createApp({ client: vault.client })
    const expiresAt = new Date(Date.now() + 10 * 86_400_000).toISOString()
    const changed = await send('PATCH', '/secrets/stripe_key', {
      description: 'after',
      expires_at: expiresAt,
      rotation_interval_days: 30,
    })
    expect(changed).toMatchObject({
      status: 200,
      body: {
        name: 'stripe_key',
        description: 'after',
        version: 1,
        expires_at: expiresAt,
        rotation_interval_days: 30,
      },
    })
    expect((await vault.client.getSecret('stripe_key')).value).toBe(VALUE)
    const widened = await send('PATCH', '/secrets/stripe_key', { agent_visible: true })
    expect(widened.status).toBe(400)
    const past = await send('PATCH', '/secrets/stripe_key', { expires_at: '2001-01-01' })
    expect(past).toMatchObject({ status: 400, body: { error: { code: 'INVALID_ARGUMENT' } } })
    const missing = await send('PATCH', '/secrets/no_such_key', { description: 'x' })
    expect(missing).toMatchObject({ status: 404, body: { error: { code: 'SECRET_NOT_FOUND' } } })
  })

  it('is in the OpenAPI document', async () => {
    const { body } = await send('GET', '/openapi.json')
    const patch = body.paths['/secrets/{name}'].patch
    expect(patch.operationId).toBe('updateSecretMetadata')
    expect(patch['x-openai-isConsequential']).toBe(true)
    expect(patch.description.length).toBeLessThanOrEqual(300)
  })
})

describe('INVALID_NAME', () => {
  it('is the answer for an invalid name on every route that takes one', async () => {
    for (const [method, path, body] of [
      ['GET', '/secrets/Not-Valid', undefined],
      ['PATCH', '/secrets/Not-Valid', { description: 'x' }],
      ['GET', '/audit?secret=Not-Valid', undefined],
    ] as const) {
      const answer = await send(method, path, body)
      expect(answer, `${method} ${path}`).toMatchObject({
        status: 400,
        body: { error: { code: 'INVALID_NAME' } },
      })
    }
  })
})

describe('a vault migrated by a newer Keywarden', () => {
  it('answers 503 SCHEMA_TOO_NEW, saying to upgrade', async () => {
    const newer = await createTestVault({ secrets: { plugin_bearer_token: tokens.bearer } })
    try {
      await newer.database.asAdmin(
        "INSERT INTO supabase_migrations.schema_migrations (version, name, statements) VALUES ('29991231000000', 'future', '{}')",
      )
      const client = createVaultClient({
        env: {
          KEYWARDEN_DATABASE_URL: newer.database.url,
          KEYWARDEN_ROOT_KEY: newer.database.rootKey,
        },
        accessedBy: 'chatgpt-plugin',
        envFallback: false,
      })
      try {
        const response = await createApp({ client }).request(`${BASE_PATH}/secrets`, {
          headers: { authorization: `Bearer ${tokens.bearer}` },
        })
        expect(response.status).toBe(503)
        const body = (await response.json()) as { error: { code: string; message: string } }
        expect(body.error.code).toBe('SCHEMA_TOO_NEW')
        expect(body.error.message).toContain('upgrade Keywarden')
      } finally {
        await client.close({ timeoutMs: 100 })
      }
    } finally {
      await newer.cleanup()
    }
  })
})
