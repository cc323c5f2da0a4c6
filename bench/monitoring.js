// secret_metrics() and secret_alerts() over a large audit log — 1,000,000 rows over 90 days,
// 50 secrets, 20 accessors, 5% failures, with aggregated cache-hit rows — against a plain
// GROUP BY of the same rows measured in the same run (what any usage report must read).
// Targets: metrics and the default 24-hour alerts under 1 s, so an edge cron route or
// `keywarden alerts` answers interactively; the heaviest call the API allows (alerts over the
// longest window, 90 days, through the `_json` variant the supabase store calls) under the 8 s
// statement_timeout that Supabase gives the API roles. Each call runs with that timeout set, so
// one that would be cancelled on Supabase fails here too.

import pg from 'pg'
import {
  benchDatabase,
  formatNs,
  median,
  report,
  sample,
  seedAuditLog,
  seedSecrets,
} from './lib.js'

const ROWS = 1_000_000
const DAYS = 90
const STATEMENT_TIMEOUT_NS = 8e9

/**
 * The 1M-row audit log: 50 secrets stored through the API (each with its vault row and
 * metadata), then ROWS rows over DAYS days, 20 accessors, 5% failures, every 7th an aggregated
 * cache hit. Shared with bench/dashboard.js.
 */
export async function seedLargeAuditLog(client, rootKey) {
  await client.query(`SET keywarden.root_key = '${rootKey}'`)
  await seedSecrets(client, { count: 50 })
  await seedAuditLog(client, { rows: ROWS, secrets: 50, days: DAYS })
}

export async function run() {
  const db = await benchDatabase()
  const client = new pg.Client({ connectionString: db.url })
  await client.connect()
  try {
    await seedLargeAuditLog(client, db.rootKey)
    // As on Supabase, where the API roles are cancelled after 8 s.
    await client.query(`SET statement_timeout = '8s'`)

    const time = (sql, iterations = 7) => sample(() => client.query(sql), { iterations, warmup: 1 })
    const week = median(
      await time(
        `SELECT secret_name, sum(event_count), count(DISTINCT accessed_by)
           FROM public.secret_access_log
          WHERE created_at > now() - interval '7 days' GROUP BY secret_name`,
      ),
    )
    const everything = median(
      await time(
        `SELECT secret_name, accessed_by, date_trunc('hour', created_at), sum(event_count)
           FROM public.secret_access_log GROUP BY 1, 2, 3`,
        3,
      ),
    )
    const metrics = median(await time('SELECT * FROM public.secret_metrics()'))
    const alerts = median(await time('SELECT * FROM public.secret_alerts()'))
    const widest = median(
      await time(`SELECT public.secret_alerts_json(now() - interval '${DAYS} days')`, 3),
    )
    report({
      name: 'secret_metrics() over 1M audit rows',
      value: formatNs(metrics),
      baseline: `plain 7-day GROUP BY ${formatNs(week)}`,
      ratio: `${(metrics / week).toFixed(2)}×`,
      target: '< 1 s',
      met: metrics < 1e9,
    })
    report({
      name: 'secret_alerts() (last 24 h) over 1M audit rows',
      value: formatNs(alerts),
      baseline: `plain 7-day GROUP BY ${formatNs(week)}`,
      ratio: `${(alerts / week).toFixed(2)}×`,
      target: '< 1 s',
      met: alerts < 1e9,
    })
    return report({
      name: `secret_alerts_json() over all ${DAYS} days of 1M audit rows`,
      value: formatNs(widest),
      baseline: `plain GROUP BY of all rows per secret, accessor and hour ${formatNs(everything)}`,
      ratio: `${(widest / everything).toFixed(2)}×`,
      target: '< 8 s (statement_timeout)',
      met: widest < STATEMENT_TIMEOUT_NS && alerts < 1e9 && metrics < 1e9,
    })
  } finally {
    await client.end()
    await db.drop()
  }
}
