// Driver choice for the postgres store: a parameterized SELECT round trip with pg and with
// postgres.js, side by side. No target: it informs docs/architecture.md.

import pg from 'pg'
import postgres from 'postgres'
import { benchDatabase, formatNs, median, report, sample } from './lib.js'

export async function run() {
  const db = await benchDatabase()
  const pgClient = new pg.Client({ connectionString: db.url })
  await pgClient.connect()
  const sql = postgres(db.url, { max: 1 })
  try {
    const pgTime = median(
      await sample(() => pgClient.query('SELECT $1::text AS v', ['x']), { iterations: 5_000 }),
    )
    const postgresJsTime = median(
      await sample(() => sql`SELECT ${'x'}::text AS v`, { iterations: 5_000 }),
    )
    return report({
      name: 'driver round trip: pg (median)',
      value: formatNs(pgTime),
      baseline: `postgres.js ${formatNs(postgresJsTime)}`,
      ratio: `${(pgTime / postgresJsTime).toFixed(2)}×`,
      target: 'informational',
      met: true,
    })
  } finally {
    await pgClient.end()
    await sql.end()
    await db.drop()
  }
}
