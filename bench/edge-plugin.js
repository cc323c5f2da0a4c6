// Authenticated `GET /chatgpt-plugin/secrets` on the edge plugin's Node server, served from
// cache (the bearer token from the vault client's cache, the listing from the plugin's metadata
// copy), against a bare Hono route answering the same JSON body from the same server, loaded by
// autocannon in the same run, alternating. Target: plugin throughput ≥ 0.7× the bare route's
// (the median of the rounds' ratios).
// Needs the packages built: `npm run build` at the repository root.
import { serve } from '@hono/node-server'
import { createVaultClient } from '@keywarden/core'
import { createPostgresStore } from '@keywarden/core/node'
import { AUDIT_ACCESSOR, createApp } from '@keywarden/edge-plugin'
import autocannon from 'autocannon'
import { Hono } from 'hono'
import { benchDatabase, median, report } from './lib.js'

const TOKEN = `kwp_${'t'.repeat(32)}`
const ROUNDS = 5
const SECONDS = 3
const CONNECTIONS = 10

/** Requests per second autocannon sustains against `url` for `seconds`. */
async function load(url, headers, seconds = SECONDS) {
  // The load runs in a worker thread, so it does not take the server's thread.
  const result = await autocannon({
    url,
    headers,
    connections: CONNECTIONS,
    duration: seconds,
    workers: 1,
  })
  const failed = result.non2xx + result.errors + result.timeouts
  if (failed > 0) throw new Error(`${url}: ${failed} failed requests`)
  return result.requests.average
}

export async function run() {
  const db = await benchDatabase()
  const client = createVaultClient({
    store: createPostgresStore({ connectionString: db.url, rootKey: db.rootKey }),
    accessedBy: AUDIT_ACCESSOR,
    env: {},
  })
  let server
  try {
    await client.storeSecret('plugin_bearer_token', TOKEN)
    await client.storeSecret('github_token', `ghp_${'x'.repeat(36)}`)
    await client.storeSecret('openai_api_key', `sk-${'y'.repeat(48)}`)
    // Long enough that the whole run is served from the plugin's copy of the listing.
    const plugin = createApp({ client, config: { metadataCacheMs: 10 * 60_000 } })
    const headers = { authorization: `Bearer ${TOKEN}` }
    const body = await (await plugin.request('/chatgpt-plugin/secrets', { headers })).text()

    const bareApp = new Hono()
    bareApp.get('/bare', (c) => c.body(body, 200, { 'content-type': 'application/json' }))
    // One server, two apps: each request goes to the app its path belongs to, so neither pays
    // for the other's routes.
    const fetch = (request, env) =>
      request.url.endsWith('/bare') ? bareApp.fetch(request, env) : plugin.fetch(request, env)
    const port = await new Promise((resolve) => {
      server = serve({ fetch, port: 0, hostname: '127.0.0.1' }, (info) => resolve(info.port))
    })
    const base = `http://127.0.0.1:${port}`

    // Warm both paths (JIT, connections, caches) before measuring.
    await load(`${base}/bare`, {}, 1)
    await load(`${base}/chatgpt-plugin/secrets`, headers, 1)
    // Rounds alternate, and the ratio is the median of each round's pair, so a change in the
    // machine's load between rounds moves both sides of a ratio rather than one.
    const bare = []
    const served = []
    const ratios = []
    for (let round = 0; round < ROUNDS; round++) {
      bare.push(await load(`${base}/bare`, {}))
      served.push(await load(`${base}/chatgpt-plugin/secrets`, headers))
      ratios.push(served[round] / bare[round])
    }
    const pluginRps = median(served)
    const bareRps = median(bare)
    const ratio = median(ratios)
    return report({
      name: 'edge-plugin authenticated GET /secrets (cached)',
      value: `${Math.round(pluginRps).toLocaleString('en')} req/s`,
      baseline: `bare Hono route, same body, ${Math.round(bareRps).toLocaleString('en')} req/s`,
      ratio: `${ratio.toFixed(2)}×`,
      target: '≥ 0.7×',
      met: ratio >= 0.7,
    })
  } finally {
    await new Promise((resolve) => (server ? server.close(resolve) : resolve()))
    await client.close()
    await db.drop()
  }
}
