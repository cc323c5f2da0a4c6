// Cache-hit getSecret against a bare Map.get, in the same run. Target: median ≤ 1 µs.
import { createVaultClient } from '@keywarden/core'
import { createPostgresStore } from '@keywarden/core/node'
import { benchDatabase, formatNs, median, report } from './lib.js'

export async function run() {
  const db = await benchDatabase()
  const client = createVaultClient({
    store: createPostgresStore({ connectionString: db.url, rootKey: db.rootKey }),
    accessedBy: 'bench',
    env: {},
  })
  try {
    await client.storeSecret('github_token', `ghp_${'x'.repeat(36)}`)
    await client.getSecret('github_token') // now cached
    const map = new Map([['github_token', { value: 'v', version: 1 }]])

    const time = async (fn, iterations) => {
      const samples = []
      for (let batch = 0; batch < 50; batch++) {
        const start = process.hrtime.bigint()
        for (let i = 0; i < iterations; i++) await fn()
        samples.push(Number(process.hrtime.bigint() - start) / iterations)
      }
      return samples
    }
    // Both sides awaited the same way, so the comparison is of the lookups, not of await.
    await time(() => client.getSecret('github_token'), 2_000)
    const hit = median(await time(() => client.getSecret('github_token'), 2_000))
    const bare = median(await time(async () => map.get('github_token'), 2_000))
    return report({
      name: 'cache-hit getSecret (median)',
      value: formatNs(hit),
      baseline: `async Map.get ${formatNs(bare)}`,
      ratio: `${(hit / bare).toFixed(1)}×`,
      target: '≤ 1 µs',
      met: hit <= 1_000,
    })
  } finally {
    await client.close()
    await db.drop()
  }
}
