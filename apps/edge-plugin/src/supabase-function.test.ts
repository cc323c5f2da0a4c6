/**
 * The Supabase Edge Function entry (`supabase/functions/chatgpt-plugin/index.ts`) under real
 * Deno from the `deno` npm package, configured as Supabase configures it: `SUPABASE_URL` and
 * `SUPABASE_SERVICE_ROLE_KEY`, here pointing at the PostgREST test double over a real database.
 * It resolves its imports through the function's `deno.json`, as `supabase functions deploy`
 * bundles them. Deno's downloads are cached in `node_modules/.cache/deno`, so only the first
 * run on a clean checkout fetches the npm packages.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { createRequire } from 'node:module'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { until } from '../../../packages/core/src/testing/expect.ts'
import {
  createTestStore,
  type SupabaseTestStore,
} from '../../../packages/core/src/testing/stores.ts'
import { type GitHubDouble, startGitHubDouble, testTokens } from './testing/index.ts'

const root = fileURLToPath(new URL('../../../', import.meta.url))
const functionDir = `${root}supabase/functions/chatgpt-plugin/`
const denoBin = createRequire(import.meta.url).resolve('deno/bin.cjs')
// The first run downloads every npm package the function imports.
const STARTUP_MS = 240_000

const tokens = testTokens()
const CRON_TOKEN = `kwc_${crypto.randomUUID().replaceAll('-', '')}`
let store: SupabaseTestStore
let github: GitHubDouble
let deno: ChildProcess
let url: string
let output = ''

beforeAll(async () => {
  store = await createTestStore('supabase')
  await store.store.storeSecret('plugin_bearer_token', tokens.bearer, {}, 'test')
  await store.store.storeSecret('github_token', tokens.github, {}, 'test')
  github = await startGitHubDouble(tokens.github)
  deno = spawn(
    process.execPath,
    [
      denoBin,
      'run',
      // The committed deno.lock pins every npm package's integrity; drift fails here.
      '--frozen',
      '--allow-net',
      '--allow-env',
      '--config',
      `${functionDir}deno.json`,
      `${functionDir}index.ts`,
    ],
    {
      cwd: functionDir,
      env: {
        PATH: process.env.PATH ?? '',
        HOME: process.env.HOME ?? '',
        NO_COLOR: '1',
        DENO_DIR: `${root}node_modules/.cache/deno`,
        // Deno trusts only its bundled roots by default; machines that reach the npm registry
        // through a TLS-inspecting proxy trust it through the system store (as Node does here).
        DENO_TLS_CA_STORE: 'system,mozilla',
        ...(process.env.SSL_CERT_FILE ? { SSL_CERT_FILE: process.env.SSL_CERT_FILE } : {}),
        PORT: '0',
        SUPABASE_URL: store.url,
        SUPABASE_SERVICE_ROLE_KEY: store.serviceRoleKey,
        GITHUB_API_URL: github.url,
        CRON_BEARER_TOKEN: CRON_TOKEN,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  )
  const collect = (chunk: string) => {
    output += chunk
  }
  deno.stdout?.setEncoding('utf8').on('data', collect)
  deno.stderr?.setEncoding('utf8').on('data', collect)
  const listening = await until(
    'the Deno function to listen',
    () => {
      if (deno.exitCode !== null)
        throw new Error(`deno exited ${deno.exitCode}:\n${output.slice(-2000)}`)
      return /Listening on (http:\/\/127\.0\.0\.1:\d+)\//.exec(output)?.[1]
    },
    (found) => found !== undefined,
    STARTUP_MS,
  )
  url = `${listening}/chatgpt-plugin`
}, STARTUP_MS + 30_000)

afterAll(async () => {
  if (deno && deno.exitCode === null) {
    deno.kill('SIGTERM')
    await once(deno, 'exit')
  }
  await github?.close()
  await store?.cleanup()
})

const authorized = { authorization: `Bearer ${tokens.bearer}` }

describe('the chatgpt-plugin Edge Function under Deno', () => {
  it('reports the vault as its secret source', async () => {
    const response = await fetch(`${url}/health`)
    expect(response.status).toBe(200)
    expect(await response.json()).toMatchObject({ status: 'ok', secret_source: 'vault' })
  })

  it('authenticates with the vault token and lists the secrets', async () => {
    expect(
      (await fetch(`${url}/secrets`, { headers: { authorization: 'Bearer nope' } })).status,
    ).toBe(401)
    const response = await fetch(`${url}/secrets`, { headers: authorized })
    expect(response.status).toBe(200)
    const body = (await response.json()) as { secrets: Array<{ name: string }> }
    expect(body.secrets.map((secret) => secret.name).sort()).toEqual([
      'github_token',
      'plugin_bearer_token',
    ])
  })

  it('reaches GitHub with the vault token, which stays out of the response', async () => {
    const response = await fetch(
      `${url}/github/file?owner=octocat&repo=hello-world&path=README.md`,
      {
        headers: authorized,
      },
    )
    const text = await response.text()
    expect(response.status).toBe(200)
    expect(JSON.parse(text)).toMatchObject({ path: 'README.md', encoding: 'utf-8' })
    expect(text).not.toContain(tokens.github)
    expect(github.requests.at(-1)?.headers.authorization).toBe(`token ${tokens.github}`)
  })

  it('answers MCP initialize on /mcp', async () => {
    const response = await fetch(`${url}/mcp`, {
      method: 'POST',
      headers: {
        ...authorized,
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
      },
      body: JSON.stringify({
        jsonrpc: '2.0',
        id: 1,
        method: 'initialize',
        params: {
          protocolVersion: '2025-06-18',
          capabilities: {},
          clientInfo: { name: 'test', version: '0' },
        },
      }),
    })
    expect(response.status).toBe(200)
    expect(await response.json()).toMatchObject({
      id: 1,
      result: { serverInfo: { name: 'keywarden-edge' } },
    })
  })

  it('serves metrics, and the cron route with its own token from the environment', async () => {
    const metrics = await fetch(`${url}/metrics`, { headers: authorized })
    expect(metrics.status).toBe(200)
    const body = (await metrics.json()) as { metrics: Array<{ name: string }> }
    expect(body.metrics.map((metric) => metric.name).sort()).toEqual([
      'github_token',
      'plugin_bearer_token',
    ])
    const cron = (authorization: string) =>
      fetch(`${url}/cron/rotation-check`, { method: 'POST', headers: { authorization } })
    expect((await cron(`Bearer ${tokens.bearer}`)).status).toBe(401)
    const run = await cron(`Bearer ${CRON_TOKEN}`)
    expect(run.status).toBe(200)
    expect(await run.json()).toMatchObject({ webhook_configured: false, reminders: { due: [] } })
  })

  it('serves the OpenAPI document with the configured CORS allowlist', async () => {
    const response = await fetch(`${url}/openapi.json`, {
      headers: { origin: 'https://chatgpt.com' },
    })
    expect(response.status).toBe(200)
    expect(response.headers.get('access-control-allow-origin')).toBe('https://chatgpt.com')
    expect(((await response.json()) as { openapi: string }).openapi).toBe('3.1.0')
  })
})
