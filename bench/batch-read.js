// The marginal cost of one more name in a getSecrets batch (postgres store), from batches of
// 1, 10 and 100 names, against the same slope of the physical lower bound: cold-read's single
// prepared statement (lookup, key check, decrypt, chained audit INSERT, relaxed commit) over the
// same names, interleaved with the client's batches. Target: ≤ 1.25× the lower bound's per name,
// in CPU time (this process's and the backend's), as cold-read measures it.
import { createVaultClient } from '@keywarden/core'
import { createPostgresStore } from '@keywarden/core/node'
import pg from 'pg'
import { cryptoSchema, lowerBoundStatement, namedUrl } from './cold-read.js'
import { backendPid, benchDatabase, formatNs, median, report, sampleInterleaved } from './lib.js'

const SIZES = [1, 10, 100]

/** The least-squares slope of median time over batch size: the cost of one more name. */
function slope(points) {
  const n = points.length
  const meanX = points.reduce((sum, [x]) => sum + x, 0) / n
  const meanY = points.reduce((sum, [, y]) => sum + y, 0) / n
  const covariance = points.reduce((sum, [x, y]) => sum + (x - meanX) * (y - meanY), 0)
  const variance = points.reduce((sum, [x]) => sum + (x - meanX) ** 2, 0)
  return covariance / variance
}

export async function run() {
  const db = await benchDatabase()
  const client = createVaultClient({
    store: createPostgresStore({
      connectionString: namedUrl(db.url, 'bench_client'),
      rootKey: db.rootKey,
      maxConnections: 1,
    }),
    accessedBy: 'bench',
    env: {},
  })
  const raw = new pg.Client({
    connectionString: namedUrl(db.url, 'bench_raw'),
    options: `-c keywarden.root_key=${db.rootKey}`,
  })
  await raw.connect()
  const names = Array.from({ length: 100 }, (_, i) => `service_${String(i).padStart(3, '0')}`)
  try {
    for (const name of names) await client.storeSecret(name, `value-${name}-${'x'.repeat(32)}`)
    const bound = lowerBoundStatement(await cryptoSchema(raw))
    const alternatives = {}
    for (const size of SIZES) {
      const batch = names.slice(0, size)
      alternatives[`client ${size}`] = async () => {
        client.clearSecretCache()
        const found = await client.getSecrets(batch)
        if (found.size !== size) throw new Error('getSecrets missed names')
      }
      alternatives[`bound ${size}`] = async () => {
        const { rows } = await raw.query({ ...bound, values: [batch, 'bench'] })
        if (rows.length !== size) throw new Error('the lower bound missed names')
      }
    }
    const servers = {}
    const clientServer = await backendPid(raw, 'bench_client')
    const rawServer = await backendPid(raw, 'bench_raw')
    for (const size of SIZES) {
      servers[`client ${size}`] = clientServer
      servers[`bound ${size}`] = rawServer
    }
    const { wall, cpu } = await sampleInterleaved(alternatives, { iterations: 150, servers })
    const medians = (samples) =>
      Object.fromEntries(Object.entries(samples).map(([k, v]) => [k, median(v)]))
    const cpuMedians = medians(cpu)
    const wallMedians = medians(wall)
    const perName = (kind, of = cpuMedians) =>
      slope(SIZES.map((size) => [size, of[`${kind} ${size}`]]))
    const clientPerName = perName('client')
    const boundPerName = perName('bound')
    const shown = (kind) =>
      SIZES.map((size) => `${size}: ${formatNs(cpuMedians[`${kind} ${size}`])}`).join(', ')
    return report({
      name: 'getSecrets, marginal cost per extra name (slope over 1, 10, 100 names)',
      value: `${formatNs(clientPerName)} CPU time per name (client process + backend; medians ${shown('client')})`,
      baseline: `lower bound ${formatNs(boundPerName)} per name (medians ${shown('bound')})`,
      ratio: `${(clientPerName / boundPerName).toFixed(2)}× the lower bound per name in CPU time (${(perName('client', wallMedians) / perName('bound', wallMedians)).toFixed(2)}× in wall-clock time: ${formatNs(perName('client', wallMedians))} vs ${formatNs(perName('bound', wallMedians))})`,
      target: "≤ 1.25× the lower bound's per name",
      met: clientPerName <= 1.25 * boundPerName,
    })
  } finally {
    await raw.end()
    await client.close()
    await db.drop()
  }
}
