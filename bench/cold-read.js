// A cold getSecret through the postgres store (decryption and its audit row included) against
// a raw parameterized SELECT round trip with the same driver. Target: ≤ 2×.
import { createVaultClient } from '@keywarden/core'
import { createPostgresStore } from '@keywarden/core/node'
import pg from 'pg'
import { benchDatabase, formatNs, median, report, sample } from './lib.js'

export async function run() {
  const db = await benchDatabase()
  const client = createVaultClient({
    store: createPostgresStore({
      connectionString: db.url,
      rootKey: db.rootKey,
      maxConnections: 1,
    }),
    accessedBy: 'bench',
    env: {},
  })
  const raw = new pg.Client({ connectionString: db.url })
  await raw.connect()
  try {
    await client.storeSecret('github_token', `ghp_${'x'.repeat(36)}`)
    const cold = median(
      await sample(
        async () => {
          client.clearSecretCache('github_token')
          await client.getSecret('github_token')
        },
        { iterations: 2_000 },
      ),
    )
    const select = median(
      await sample(() => raw.query('SELECT $1::text AS value', ['github_token']), {
        iterations: 2_000,
      }),
    )
    return report({
      name: 'cold getSecret via postgres store (median)',
      value: formatNs(cold),
      baseline: `raw SELECT round trip ${formatNs(select)}`,
      ratio: `${(cold / select).toFixed(2)}×`,
      target: '≤ 2× the raw round trip',
      met: cold <= 2 * select,
    })
  } finally {
    await raw.end()
    await client.close()
    await db.drop()
  }
}
