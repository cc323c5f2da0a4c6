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
import { createServer } from 'node:http'
import { createRequire } from 'node:module'
import type { AddressInfo } from 'node:net'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  createOAuthVault,
  createVaultClient,
  pkceChallenge,
} from '../../../packages/core/src/index.ts'
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

/** A free loopback port: the function's public URL (the OAuth issuer) must be known up front. */
async function freePort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return port
}

beforeAll(async () => {
  store = await createTestStore('supabase')
  await store.store.storeSecret('plugin_bearer_token', tokens.bearer, {}, 'test')
  await store.store.storeSecret('github_token', tokens.github, {}, 'test')
  github = await startGitHubDouble(tokens.github)
  const port = await freePort()
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
        PORT: String(port),
        PLUGIN_PUBLIC_URL: `http://127.0.0.1:${port}/chatgpt-plugin`,
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

describe('OAuth for remote MCP clients, under Deno against the supabase store', () => {
  const REDIRECT = 'https://claude.ai/api/mcp/auth_callback'
  const VERIFIER = 'deno-verifier-with-at-least-43-characters-0123456789'
  const form = (fields: Record<string, string>) => new URLSearchParams(fields)

  it('discovers, registers, approves with the owner code, exchanges, calls MCP and refreshes', async () => {
    const challenge = await fetch(`${url}/mcp`, { method: 'POST', body: '{}' })
    expect(challenge.status).toBe(401)
    const metadataUrl = /resource_metadata="([^"]+)"/.exec(
      challenge.headers.get('www-authenticate') ?? '',
    )?.[1]
    const resource = (await (await fetch(metadataUrl ?? '')).json()) as {
      resource: string
      authorization_servers: string[]
    }
    expect(resource.resource).toBe(`${url}/mcp`)
    const issuer = resource.authorization_servers[0] ?? ''
    const server = (await (await fetch(`${issuer}/.well-known/openid-configuration`)).json()) as {
      registration_endpoint: string
      authorization_endpoint: string
      token_endpoint: string
    }

    const registered = await fetch(server.registration_endpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ client_name: 'Claude', redirect_uris: [REDIRECT] }),
    })
    expect(registered.status).toBe(201)
    const { client_id: clientId } = (await registered.json()) as { client_id: string }

    const authorize = new URL(server.authorization_endpoint)
    for (const [key, value] of Object.entries({
      response_type: 'code',
      client_id: clientId,
      redirect_uri: REDIRECT,
      scope: 'secrets:metadata',
      state: 'deno',
      code_challenge: await pkceChallenge(VERIFIER),
      code_challenge_method: 'S256',
      resource: resource.resource,
    })) {
      authorize.searchParams.set(key, value)
    }
    const page = await fetch(authorize)
    expect(page.status).toBe(200)
    expect(page.headers.get('x-frame-options')).toBe('DENY')
    const html = await page.text()
    const field = (name: string) =>
      new RegExp(`name="${name}" value="([^"]+)"`).exec(html)?.[1] ?? ''
    // The owner's CLI, through the same supabase store.
    const owner = createVaultClient({ store: store.store, accessedBy: 'cli' })
    const issued = await createOAuthVault(owner).issueOwnerCode(field('request_id'))
    const consent = await fetch(`${url}/oauth/consent`, {
      method: 'POST',
      redirect: 'manual',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        cookie: (page.headers.get('set-cookie') ?? '').split(';')[0] ?? '',
      },
      body: form({
        request_id: field('request_id'),
        csrf_token: field('csrf_token'),
        decision: 'approve',
        owner_code: issued?.ownerCode ?? '',
        scope: 'secrets:metadata',
      }),
    })
    expect(consent.status).toBe(303)
    const code = new URL(consent.headers.get('location') ?? '').searchParams.get('code') ?? ''

    const token = async (fields: Record<string, string>) =>
      (await (
        await fetch(server.token_endpoint, { method: 'POST', body: form(fields) })
      ).json()) as Record<string, string>
    const tokens = await token({
      grant_type: 'authorization_code',
      client_id: clientId,
      code,
      code_verifier: VERIFIER,
      redirect_uri: REDIRECT,
      resource: resource.resource,
    })
    expect(tokens).toMatchObject({ token_type: 'Bearer', scope: 'secrets:metadata' })

    const call = (accessToken: string) =>
      fetch(`${url}/mcp`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${accessToken}`,
          'content-type': 'application/json',
          accept: 'application/json, text/event-stream',
        },
        body: JSON.stringify({
          jsonrpc: '2.0',
          id: 2,
          method: 'tools/call',
          params: { name: 'list_secrets', arguments: {} },
        }),
      })
    const listed = await call(tokens.access_token ?? '')
    expect(listed.status).toBe(200)
    expect(JSON.stringify(await listed.json())).toContain('github_token')

    const refreshed = await token({
      grant_type: 'refresh_token',
      client_id: clientId,
      refresh_token: tokens.refresh_token ?? '',
    })
    expect(refreshed.refresh_token).not.toBe(tokens.refresh_token)
    expect((await call(refreshed.access_token ?? '')).status).toBe(200)
    // The rotated refresh token again: the whole connection goes.
    expect(
      await token({
        grant_type: 'refresh_token',
        client_id: clientId,
        refresh_token: tokens.refresh_token ?? '',
      }),
    ).toMatchObject({ error: 'invalid_grant' })
    expect((await call(refreshed.access_token ?? '')).status).toBe(401)
  })
})
