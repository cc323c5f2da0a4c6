// `tools/call list_secrets` to keywarden-mcp over real stdio, warm: the round trip a Claude
// Desktop tool call pays, on PostgreSQL and on the embedded default (through the local agent).
// Baseline in the same run and over the same connection: an MCP `ping` round trip, which is
// the protocol and pipe cost with no vault work. Target: the call's median ≤ 3× the ping's on
// postgres, ≤ 5× on the embedded default (PGlite behind the local agent: one more hop).
// Needs the server built: `npm run build` at the repository root.
import { existsSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createVaultClient } from '@keywarden/core'
import { stopAgent } from '@keywarden/core/node'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js'
import { benchDatabase, formatNs, median, percentile, report } from './lib.js'

const SERVER = fileURLToPath(new URL('../apps/mcp-server/dist/bin.js', import.meta.url))
const CALLS = 1000
const WARMUP = 100
const TARGETS = { postgres: 3, embedded: 5 }

/** Seeds ten secrets, then times ping and list_secrets, interleaved, over one connection. */
async function measure(env) {
  const seed = createVaultClient({ env, accessedBy: 'bench', envFallback: false })
  for (let i = 0; i < 10; i++)
    await seed.storeSecret(`bench_token_${i}`, `v-${'x'.repeat(30)}-${i}`)
  await seed.close()

  const client = new Client({ name: 'bench', version: '0.0.0' })
  await client.connect(
    new StdioClientTransport({ command: process.execPath, args: [SERVER], env, stderr: 'ignore' }),
  )
  const listSecrets = async () => {
    const result = await client.callTool({ name: 'list_secrets', arguments: {} })
    if (result.isError || result.structuredContent?.count !== 10) {
      throw new Error('list_secrets did not list the ten secrets')
    }
  }
  try {
    const ping = []
    const call = []
    // Interleaved, so that a busy moment on the machine weighs on both alike.
    for (let i = 0; i < WARMUP + CALLS; i++) {
      const start = process.hrtime.bigint()
      await client.ping()
      const pinged = process.hrtime.bigint()
      await listSecrets()
      const done = process.hrtime.bigint()
      if (i < WARMUP) continue
      ping.push(Number(pinged - start))
      call.push(Number(done - pinged))
    }
    return { call, ping }
  } finally {
    await client.close()
  }
}

export async function run() {
  if (!existsSync(SERVER)) throw new Error(`${SERVER} is missing: run \`npm run build\` first`)
  const database = await benchDatabase()
  const home = await mkdtemp(join(tmpdir(), 'kw-bench-mcp-'))
  const base = { PATH: process.env.PATH ?? '' }
  try {
    const results = {
      postgres: await measure({
        ...base,
        KEYWARDEN_DATABASE_URL: database.url,
        KEYWARDEN_ROOT_KEY: database.rootKey,
      }),
      embedded: await measure({ ...base, KEYWARDEN_HOME: home }),
    }
    const line = (store) => {
      const { call } = results[store]
      return `${store} median ${formatNs(median(call))}, p99 ${formatNs(percentile(call, 99))}`
    }
    const pingLine = (store) => `${store} ping ${formatNs(median(results[store].ping))}`
    const times = (store) => median(results[store].call) / median(results[store].ping)
    const ratio = (store) => `${store} ${times(store).toFixed(2)}× ping`
    return report({
      name: `tools/call list_secrets over stdio, warm (${CALLS} calls)`,
      value: `${line('postgres')}; ${line('embedded')}`,
      baseline: `${pingLine('postgres')}; ${pingLine('embedded')}`,
      ratio: `${ratio('postgres')}; ${ratio('embedded')}`,
      target: `≤ ${TARGETS.postgres}× ping on postgres, ≤ ${TARGETS.embedded}× on embedded`,
      met: Object.entries(TARGETS).every(([store, target]) => times(store) <= target),
    })
  } finally {
    await stopAgent(home).catch(() => false)
    await rm(home, { recursive: true, force: true })
    await database.drop()
  }
}
