/**
 * The Node entry over a real socket: `serveEdgePlugin` with `fetch`, and failed
 * authentications counted per socket address, whatever `X-Forwarded-For` claims.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createTestVault, type TestVault, testTokens } from '../testing/index.ts'
import { type EdgePluginServer, serveEdgePlugin } from './index.ts'

const tokens = testTokens()
let vault: TestVault
let server: EdgePluginServer

beforeAll(async () => {
  vault = await createTestVault({ secrets: { plugin_bearer_token: tokens.bearer } })
  server = await serveEdgePlugin({ client: vault.client, port: 0 })
})
afterAll(async () => {
  await server?.close()
  await vault?.cleanup()
})

describe('serveEdgePlugin', () => {
  it('serves the app under /chatgpt-plugin on a real socket', async () => {
    expect(server.url).toBe(`http://127.0.0.1:${server.port}/chatgpt-plugin`)
    const health = await fetch(`${server.url}/health`)
    expect(health.status).toBe(200)
    expect(await health.json()).toMatchObject({ status: 'ok', secret_source: 'vault' })
    const secrets = await fetch(`${server.url}/secrets`, {
      headers: { authorization: `Bearer ${tokens.bearer}` },
    })
    expect(secrets.status).toBe(200)
    expect(await secrets.json()).toMatchObject({ count: 1 })
  })

  it('counts failures per socket address: a forged X-Forwarded-For does not reset the limit', async () => {
    const statuses: number[] = []
    for (let attempt = 0; attempt < 6; attempt++) {
      const response = await fetch(`${server.url}/secrets`, {
        headers: { authorization: 'Bearer wrong', 'x-forwarded-for': `192.0.2.${attempt}` },
      })
      statuses.push(response.status)
      await response.body?.cancel()
    }
    expect(statuses).toEqual([401, 401, 401, 401, 401, 429])
  })
})
