/**
 * `http_request` through the edge plugin's `/mcp`: the same tool as over stdio, so the same
 * attacks fail here — the prefix oracle at the 1 MiB cut, and values echoed in other encodings.
 * The SDK's client talks to the app through `app.request`; the allowed host is a loopback echo
 * server.
 */
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ENCODINGS } from '../../../../packages/core/src/testing/encodings.ts'
import { type EchoServer, startEchoServer } from '../../../mcp-server/src/testing/echo-server.ts'
import { createApp } from '../app/index.ts'
import { BASE_PATH } from '../config/index.ts'
import { createTestVault, type TestVault, testTokens } from '../testing/index.ts'

const tokens = testTokens()
const SECRET = `edge${crypto.randomUUID().replaceAll('-', '').slice(0, 12)}`
const CAP = 1024 * 1024
let vault: TestVault
let echo: EchoServer
let mcp: Client

beforeAll(async () => {
  echo = await startEchoServer()
  vault = await createTestVault({ secrets: { plugin_bearer_token: tokens.bearer } })
  await vault.client.storeSecret('echo_token', SECRET, { allowedHosts: [echo.host] })
  const app = createApp({ client: vault.client })
  mcp = new Client({ name: 'vitest', version: '0.0.0' })
  await mcp.connect(
    new StreamableHTTPClientTransport(new URL(`http://localhost${BASE_PATH}/mcp`), {
      requestInit: { headers: { authorization: `Bearer ${tokens.bearer}` } },
      fetch: async (url, init) => app.request(String(url), init),
    }),
  )
})

afterAll(async () => {
  await mcp?.close()
  await vault?.cleanup()
  await echo?.close()
})

async function httpRequest(args: Record<string, unknown>) {
  const result = (await mcp.callTool({ name: 'http_request', arguments: args })) as CallToolResult
  const structured = result.structuredContent as { body: string; truncated: boolean }
  return {
    isError: result.isError === true,
    body: structured?.body,
    truncated: structured?.truncated,
  }
}

describe('http_request on /mcp', () => {
  it('answers a right and a wrong guess of a prefix at the cut alike', async () => {
    const probe = async (guess: string) => {
      const observed = await httpRequest({
        url: `${echo.origin}/pad?end=${CAP}`,
        method: 'POST',
        headers: { 'x-token': '{{secret:echo_token}}' },
        body: guess,
      })
      return {
        ...observed,
        body: observed.body?.endsWith(guess)
          ? observed.body.slice(0, -guess.length)
          : observed.body,
      }
    }
    const right = await probe(SECRET.slice(0, 9))
    const wrong = await probe(`${SECRET.slice(0, 8)}#`)
    expect(right).toEqual(wrong)
    expect(right).toMatchObject({ isError: false, truncated: true, body: '-'.repeat(CAP - 9) })
  })

  it('masks the value in every encoding the echo host sends it back in', async () => {
    for (const [index, encoding] of ENCODINGS.entries()) {
      const observed = await httpRequest({
        url: `${echo.origin}/encode?as=${index}`,
        method: 'POST',
        body: '{{secret:echo_token}}',
      })
      expect(observed.body, encoding.name).toContain('[REDACTED:echo_token]')
      expect(observed.body?.toLowerCase(), encoding.name).not.toContain(SECRET.toLowerCase())
    }
  })
})
