/**
 * The public routes: health, the OpenAPI document (validated as OpenAPI 3.1 by a validator
 * library, and checked to describe every route the app has), and the legacy manifest.
 */
import { request } from 'node:http'
import { Validator } from '@seriousme/openapi-schema-validator'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createApp, type EdgePluginApp } from '../app/index.ts'
import { BASE_PATH, configFromEnv } from '../config/index.ts'
import { serveEdgePlugin } from '../node/index.ts'
import { createTestVault, type TestVault, testTokens } from '../testing/index.ts'
import { checkPublicUrl } from './index.ts'

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
    expect(routes.size).toBe(19)
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
    // Not configured: the base path alone, relative to the document (never the Host header).
    expect(document.servers).toEqual([{ url: BASE_PATH }])
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
      api: { type: 'openapi', url: `${BASE_PATH}/openapi.json` },
    })
  })
})

/** A GET through node:http, which sends the Host header given (fetch sends its own). */
function rawGet(url: string, headers: Record<string, string>) {
  return new Promise<{ status: number; text: string }>((resolve, reject) => {
    const outgoing = request(url, { headers }, (response) => {
      let text = ''
      response.setEncoding('utf8')
      response.on('data', (chunk: string) => {
        text += chunk
      })
      response.on('end', () => resolve({ status: response.statusCode ?? 0, text }))
    })
    outgoing.on('error', reject)
    outgoing.end()
  })
}

describe('no Host header reflection (issue 12)', () => {
  // Over a real socket, where the Node server builds the request URL from the Host header.
  const forged = {
    host: 'evil.example',
    'x-forwarded-host': 'evil.example',
    'x-forwarded-proto': 'https',
    forwarded: 'host=evil.example;proto=https',
  }

  const documents = async (config: Parameters<typeof createApp>[0]['config']) => {
    const server = await serveEdgePlugin({ client: vault.client, port: 0, config })
    try {
      const texts: string[] = []
      for (const path of ['/openapi.json', '/.well-known/ai-plugin.json']) {
        const { status, text } = await rawGet(`${server.url}${path}`, forged)
        expect(status, path).toBe(200)
        texts.push(text)
      }
      return texts
    } finally {
      await server.close()
    }
  }

  it('names no forged host in either document, configured or not', async () => {
    for (const config of [
      {},
      { publicUrl: 'https://abc.supabase.co/functions/v1/chatgpt-plugin' },
      configFromEnv({ SUPABASE_URL: 'https://xyz.supabase.co/' }),
    ]) {
      const [openapi = '', manifest = ''] = await documents(config)
      expect(openapi).not.toContain('evil.example')
      expect(manifest).not.toContain('evil.example')
      const base = config.publicUrl ?? BASE_PATH
      expect(JSON.parse(openapi).servers).toEqual([{ url: base }])
      expect(JSON.parse(manifest).api.url).toBe(`${base}/openapi.json`)
    }
  })

  it('derives the URL from SUPABASE_URL on Supabase, and PLUGIN_PUBLIC_URL wins', () => {
    expect(configFromEnv({ SUPABASE_URL: 'https://xyz.supabase.co/' }).publicUrl).toBe(
      'https://xyz.supabase.co/functions/v1/chatgpt-plugin',
    )
    expect(
      configFromEnv({
        SUPABASE_URL: 'https://xyz.supabase.co',
        PLUGIN_PUBLIC_URL: 'https://keys.example.org/plugin/',
      }).publicUrl,
    ).toBe('https://keys.example.org/plugin')
  })

  it('accepts only https, or http on loopback, without credentials, query or fragment', () => {
    expect(checkPublicUrl('https://keys.example.org/p/')).toBe('https://keys.example.org/p')
    expect(checkPublicUrl('http://127.0.0.1:54321/functions/v1/chatgpt-plugin')).toBe(
      'http://127.0.0.1:54321/functions/v1/chatgpt-plugin',
    )
    expect(checkPublicUrl('http://localhost:8787')).toBe('http://localhost:8787')
    for (const bad of [
      'http://keys.example.org/p',
      'ftp://keys.example.org',
      'keys.example.org',
      '/chatgpt-plugin',
      'https://user:pass@keys.example.org',
      'https://keys.example.org/?next=evil.example',
      'https://keys.example.org/#x',
      'http://127.0.0.1.evil.example/',
    ]) {
      expect(() => checkPublicUrl(bad), bad).toThrow(/PLUGIN_PUBLIC_URL/)
    }
    // Checked when the app is made: a bad value stops it at start.
    expect(() =>
      createApp({ client: vault.client, config: { publicUrl: 'http://plugin.example' } }),
    ).toThrow(/https/)
  })
})
