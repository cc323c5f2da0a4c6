// secret_metrics() and secret_alerts() over a realistic audit log — 500,000 rows over 30 days,
// 50 secrets, 20 accessors, 5% failures, with aggregated cache-hit rows — against a plain
// GROUP BY of the same 7 days' rows measured in the same run (what any usage report must read).
// Target: each under 1 s, so an edge cron route or `keywarden alerts` answers interactively.

import pg from 'pg'
import { benchDatabase, formatNs, median, report, sample } from './lib.js'

const ROWS = 500_000

export async function run() {
  const db = await benchDatabase()
  const client = new pg.Client({ connectionString: db.url })
  await client.connect()
  try {
    // The secrets through the API, so each has its vault row and metadata.
    await client.query(`SET keywarden.root_key = '${db.rootKey}'`)
    for (let i = 0; i < 50; i++) {
      await client.query(
        `SELECT public.store_secret($1, 'bench-value', secret_type => 'api_key')`,
        [`s${i}`],
      )
    }
    await client.query(
      `INSERT INTO public.secret_access_log
         (secret_name, accessed_by, access_type, success, created_at, event_count)
       SELECT 's' || (i % 50), 'svc-' || (i % 20),
              CASE WHEN i % 7 = 0 THEN 'cache_hit' ELSE 'read' END,
              i % 20 <> 0,
              now() - (i::double precision / $1) * interval '30 days',
              CASE WHEN i % 7 = 0 THEN 1 + i % 40 ELSE 1 END
         FROM generate_series(1, $1) AS i`,
      [ROWS],
    )
    await client.query('ANALYZE public.secret_access_log')

    const time = (sql) => sample(() => client.query(sql), { iterations: 7, warmup: 2 })
    const baseline = median(
      await time(
        `SELECT secret_name, sum(event_count), count(DISTINCT accessed_by)
           FROM public.secret_access_log
          WHERE created_at > now() - interval '7 days' GROUP BY secret_name`,
      ),
    )
    const metrics = median(await time('SELECT * FROM public.secret_metrics()'))
    const alerts = median(await time('SELECT * FROM public.secret_alerts()'))
    report({
      name: 'secret_metrics() over 500k audit rows',
      value: formatNs(metrics),
      baseline: `plain 7-day GROUP BY ${formatNs(baseline)}`,
      ratio: `${(metrics / baseline).toFixed(2)}×`,
      target: '< 1 s',
      met: metrics < 1e9,
    })
    return report({
      name: 'secret_alerts() (last 24 h) over 500k audit rows',
      value: formatNs(alerts),
      baseline: `plain 7-day GROUP BY ${formatNs(baseline)}`,
      ratio: `${(alerts / baseline).toFixed(2)}×`,
      target: '< 1 s',
      met: alerts < 1e9 && metrics < 1e9,
    })
  } finally {
    await client.end()
    await db.drop()
  }
}
