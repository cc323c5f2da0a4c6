/**
 * The public routes: health, the OpenAPI document (validated as OpenAPI 3.1 by a validator
 * library, and checked to describe every route the app has), and the legacy manifest.
 */
import { Validator } from '@seriousme/openapi-schema-validator'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createApp, type EdgePluginApp } from '../app/index.ts'
import { BASE_PATH } from '../config/index.ts'
import { createTestVault, type TestVault, testTokens } from '../testing/index.ts'

const tokens = testTokens()
let vault: TestVault
let app: EdgePluginApp

beforeAll(async () => {
  vault = await createTestVault({
    secrets: { plugin_bearer_token: tokens.bearer, github_token: tokens.github },
  })
  app = createApp({ client: vault.client, config: { version: '1.2.3' } })
})
afterAll(() => vault?.cleanup())

interface Operation {
  operationId?: string
  description?: string
  security?: unknown[]
  'x-openai-isConsequential'?: boolean
}
type Document = {
  openapi: string
  servers: Array<{ url: string }>
  paths: Record<string, Record<string, Operation>>
}

const getJson = async (path: string, init?: RequestInit) => {
  const response = await app.request(`${BASE_PATH}${path}`, init)
  return {
    status: response.status,
    text: await response.clone().text(),
    body: (await response.json()) as unknown,
  }
}

describe('GET /health', () => {
  it('reports the vault as the source, the version and cache counters, without names or values', async () => {
    const { status, body, text } = await getJson('/health')
    expect(status).toBe(200)
    expect(body).toEqual({
      status: 'ok',
      secret_source: 'vault',
      version: '1.2.3',
      cache: {
        hits: expect.any(Number),
        misses: expect.any(Number),
        size: expect.any(Number),
        ttl_ms: 300_000,
      },
    })
    for (const forbidden of [
      'plugin_bearer_token',
      'github_token',
      tokens.bearer,
      tokens.github,
      vault.database.name,
    ]) {
      expect(text).not.toContain(forbidden)
    }
  })
})

describe('GET /openapi.json', () => {
  it('is a valid OpenAPI 3.1 document', async () => {
    const { status, body } = await getJson('/openapi.json')
    expect(status).toBe(200)
    const validator = new Validator()
    const result = await validator.validate(body as Record<string, unknown>)
    expect(result.errors).toBeUndefined()
    expect(result.valid).toBe(true)
    expect(validator.version).toBe('3.1')
    // The validator does reject: the same document without its required `info`.
    const { info: _info, ...broken } = body as Record<string, unknown>
    expect((await new Validator().validate(broken)).valid).toBe(false)
  })

  it('describes every route of the app, and nothing else', async () => {
    const document = (await getJson('/openapi.json')).body as Document
    const documented = Object.entries(document.paths).flatMap(([path, item]) =>
      Object.keys(item).map(
        (method) => `${method.toUpperCase()} ${path.replace(/\{(\w+)\}/g, ':$1')}`,
      ),
    )
    // Middleware is registered on `/chatgpt-plugin/*`; every other entry is a route.
    const routes = new Set(
      app.routes
        .filter((route) => route.path !== `${BASE_PATH}/*`)
        .map((route) => `${route.method} ${route.path.slice(BASE_PATH.length)}`),
    )
    expect(routes.size).toBe(18)
    // The one route left out on purpose: the scheduler's, which the GPT's token cannot open.
    const CRON_ROUTE = 'POST /cron/rotation-check'
    expect(routes).toContain(CRON_ROUTE)
    expect(documented).not.toContain(CRON_ROUTE)
    expect(new Set(documented)).toEqual(
      new Set([...routes].filter((route) => route !== CRON_ROUTE)),
    )
  })

  it('fits GPT Actions: operationIds, short descriptions, consequential writes, bearer security', async () => {
    const document = (await getJson('/openapi.json', { headers: { host: 'plugin.example' } }))
      .body as Document
    expect(document.servers).toEqual([{ url: `http://localhost${BASE_PATH}` }])
    const operations = Object.entries(document.paths).flatMap(([path, item]) =>
      Object.entries(item).map(([method, operation]) => ({
        key: `${method} ${path}`,
        method,
        path,
        operation,
      })),
    )
    const ids = operations.map(({ operation }) => operation.operationId)
    expect(new Set(ids).size).toBe(operations.length)
    for (const { key, method, path, operation } of operations) {
      expect(operation.operationId, key).toMatch(/^[A-Za-z][A-Za-z0-9_]*$/)
      expect(operation.description?.length ?? 0, key).toBeGreaterThan(10)
      expect(operation.description?.length ?? 0, key).toBeLessThanOrEqual(300)
      const isPublic = ['/health', '/openapi.json', '/.well-known/ai-plugin.json'].includes(path)
      expect(operation.security, key).toEqual(isPublic ? [] : [{ bearerAuth: [] }])
      if (['put', 'post'].includes(method))
        expect(operation['x-openai-isConsequential'], key).toBe(true)
    }
    expect(document.paths['/github/file']?.get?.['x-openai-isConsequential']).toBe(false)
  })

  it('names the configured public URL as its server', async () => {
    const deployed = createApp({
      client: vault.client,
      config: { publicUrl: 'https://abc.supabase.co/functions/v1/chatgpt-plugin' },
    })
    const document = (await (
      await deployed.request(`${BASE_PATH}/openapi.json`)
    ).json()) as Document
    expect(document.servers).toEqual([
      { url: 'https://abc.supabase.co/functions/v1/chatgpt-plugin' },
    ])
    expect(Object.keys(document.paths)).toContain('/secrets')
  })
})

describe('GET /.well-known/ai-plugin.json', () => {
  it('is the legacy manifest with service_http bearer auth, pointing at the OpenAPI document', async () => {
    const { status, body } = await getJson('/.well-known/ai-plugin.json')
    expect(status).toBe(200)
    expect(body).toMatchObject({
      schema_version: 'v1',
      name_for_model: 'keywarden',
      auth: { type: 'service_http', authorization_type: 'bearer' },
      api: { type: 'openapi', url: `http://localhost${BASE_PATH}/openapi.json` },
    })
  })
})
