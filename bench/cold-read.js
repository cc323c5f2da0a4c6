// A cold getSecret through the postgres store (decryption and its audit row included) against
// a raw parameterized SELECT round trip with the same driver. Target: ≤ 2×.
// Beside it, the same cold read on a database migrated without the SQL hardening migration
// (search_path pinning, the audit hash chain), interleaved in rounds so that load on the
// machine hits both alike. Target: ≤ 1.10×.
import { createVaultClient } from '@keywarden/core'
import { createPostgresStore } from '@keywarden/core/node'
import pg from 'pg'
import { benchDatabase, formatNs, HARDENING_MIGRATION, median, report, sample } from './lib.js'

const ROUNDS = 10
const PER_ROUND = 200

async function coldReader(db) {
  const client = createVaultClient({
    store: createPostgresStore({
      connectionString: db.url,
      rootKey: db.rootKey,
      maxConnections: 1,
    }),
    accessedBy: 'bench',
    env: {},
  })
  await client.storeSecret('github_token', `ghp_${'x'.repeat(36)}`)
  const read = async () => {
    client.clearSecretCache('github_token')
    await client.getSecret('github_token')
  }
  return { read, close: () => client.close() }
}

export async function run() {
  const db = await benchDatabase()
  const baselineDb = await benchDatabase({ without: [HARDENING_MIGRATION] })
  const hardened = await coldReader(db)
  const unhardened = await coldReader(baselineDb)
  const raw = new pg.Client({ connectionString: db.url })
  await raw.connect()
  try {
    const samples = { hardened: [], unhardened: [] }
    for (let round = 0; round < ROUNDS; round++) {
      samples.hardened.push(...(await sample(hardened.read, { iterations: PER_ROUND })))
      samples.unhardened.push(...(await sample(unhardened.read, { iterations: PER_ROUND })))
    }
    const cold = median(samples.hardened)
    const before = median(samples.unhardened)
    const select = median(
      await sample(() => raw.query('SELECT $1::text AS value', ['github_token']), {
        iterations: 2_000,
      }),
    )
    const hardening = report({
      name: 'cold getSecret, hardened vs without the hardening migration (median)',
      value: formatNs(cold),
      baseline: `without migration ${HARDENING_MIGRATION} ${formatNs(before)}`,
      ratio: `${(cold / before).toFixed(2)}×`,
      target: '≤ 1.10×',
      met: cold <= 1.1 * before,
    })
    const result = report({
      name: 'cold getSecret via postgres store (median)',
      value: formatNs(cold),
      baseline: `raw SELECT round trip ${formatNs(select)}`,
      ratio: `${(cold / select).toFixed(2)}×`,
      target: '≤ 2× the raw round trip',
      met: cold <= 2 * select,
    })
    return { ...result, met: result.met && hardening.met }
  } finally {
    await raw.end()
    await hardened.close()
    await unhardened.close()
    await db.drop()
    await baselineDb.drop()
  }
}
