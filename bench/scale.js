// Costs as the vault grows: three vaults — 10 secrets and 100k audit rows, 1k and 1M, 10k and
// 1M — built first, then measured in interleaved rounds so that load on the machine hits every
// size alike. Each figure is printed per size with its growth from the smallest vault.
// Targets (issue 14): a cold getSecret and a delete_secret within 1.2× from the smallest vault
// to the largest; list_secret_names linear, at most 2 µs per extra secret in SQL;
// secret_metrics() and secret_alerts() under 1 s at 10k secrets and 1M rows. Also checked: no
// vault-row delete (delete, rotation with a grace period, staging, purge) scans
// keywarden.secrets or vault.secrets, and the audit log's bytes on disk per row, against a
// vault migrated without migration 13 (which dropped an index nothing used).
import { createVaultClient } from '@keywarden/core'
import { createPostgresStore } from '@keywarden/core/node'
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

const SIZES = [
  { secrets: 10, rows: 100_000 },
  { secrets: 1_000, rows: 1_000_000 },
  { secrets: 10_000, rows: 1_000_000 },
]
const ROUNDS = 5
const COLD_READS = 100
const DELETES = 20
const SCALE_MIGRATION = '20261203000013'

/** A migrated, seeded vault of one size, with what the measurements need. */
async function vaultOf({ secrets, rows }, options = {}) {
  const db = await benchDatabase(options)
  const sql = new pg.Client({ connectionString: db.url })
  await sql.connect()
  await sql.query(`SET keywarden.root_key = '${db.rootKey}'`)
  await seedSecrets(sql, { count: secrets })
  await seedAuditLog(sql, { rows, secrets })
  await sql.query('VACUUM ANALYZE keywarden.secrets')
  await sql.query('VACUUM ANALYZE vault.secrets')
  const client = createVaultClient({
    store: createPostgresStore({
      connectionString: db.url,
      rootKey: db.rootKey,
      maxConnections: 1,
    }),
    accessedBy: 'bench',
    env: {},
  })
  let deleted = 0
  return {
    db,
    sql,
    label: `${secrets.toLocaleString('en')} secrets / ${rows.toLocaleString('en')} rows`,
    secrets,
    async coldRead() {
      client.clearSecretCache('s1')
      await client.getSecret('s1')
    },
    // Each delete takes a secret stored for it beforehand (untimed).
    async prepareDeletes(count) {
      await sql.query(
        `SELECT public.store_secret('del_' || i, 'bench-value') FROM generate_series($1::int, $1::int + $2::int - 1) AS i`,
        [deleted, count],
      )
    },
    async deleteOne() {
      await sql.query('SELECT public.delete_secret($1)', [`del_${deleted++}`])
    },
    close: async () => {
      await client.close()
      await sql.end()
      await db.drop()
    },
  }
}

/** The audit log's bytes on disk (heap, TOAST and every index) per row. */
async function bytesPerAuditRow(sql) {
  const { rows } = await sql.query(
    `SELECT pg_total_relation_size('public.secret_access_log')::float8 / count(*) AS bytes
       FROM public.secret_access_log`,
  )
  return rows[0].bytes
}

/** Sequential scans of keywarden.secrets and vault.secrets while `work` runs, on `sql`'s session. */
async function seqScansDuring(sql, work) {
  const count = async () => {
    await sql.query('SELECT pg_stat_force_next_flush()')
    const { rows } = await sql.query(
      `SELECT coalesce(sum(seq_scan), 0)::int AS n FROM pg_stat_user_tables
        WHERE relid IN ('keywarden.secrets'::regclass, 'vault.secrets'::regclass)`,
    )
    return rows[0].n
  }
  await sql.query('SELECT pg_stat_force_next_flush()')
  const before = await count()
  await work()
  // The statistics of this session reach the views at the flush.
  await sql.query('SELECT 1')
  return (await count()) - before
}

/** Every kind of vault-row delete, once each, on the largest vault. */
async function everyDelete(vault) {
  const { sql } = vault
  await vault.prepareDeletes(1)
  await vault.deleteOne()
  // A rotation with a grace period, twice: the second deletes the first one's previous value.
  await sql.query(`SELECT * FROM public.rotate_secret('s2', 'bench-value-2', interval '1 hour')`)
  await sql.query(`SELECT * FROM public.rotate_secret('s2', 'bench-value-3', interval '1 hour')`)
  // Staging twice replaces the staged value; discarding deletes it.
  await sql.query(`SELECT public.stage_rotation('s3', 'bench-staged-1')`)
  await sql.query(`SELECT public.stage_rotation('s3', 'bench-staged-2')`)
  await sql.query(`SELECT public.discard_staged_rotation('s3')`)
  // The purge, with a grace period ended.
  await sql.query(`SELECT * FROM public.rotate_secret('s4', 'bench-value-2', interval '0')`)
  await sql.query('SELECT public.purge_expired_previous()')
}

const growth = (values) => values.at(-1) / values[0]

function printSeries(name, vaults, values, format) {
  const cells = vaults.map((vault, i) => `${vault.label} ${format(values[i])}`)
  process.stdout.write(`  ${name}: ${cells.join(', ')} — growth ${growth(values).toFixed(2)}×\n`)
}

export async function run() {
  const vaults = []
  let before
  try {
    for (const size of SIZES) vaults.push(await vaultOf(size))
    before = await vaultOf(SIZES[0], { without: [SCALE_MIGRATION] })

    const samples = vaults.map(() => ({ cold: [], delete: [], list: [], metrics: [], alerts: [] }))
    for (const vault of vaults) {
      await vault.prepareDeletes(ROUNDS * DELETES)
      await sample(() => vault.coldRead(), { iterations: 10, warmup: 0 })
    }
    const once = async (fn) => (await sample(fn, { iterations: 1, warmup: 0 }))[0]
    // Size after size for every single call, so that a burst of load hits every size alike.
    const alternate = async (key, count, fn) => {
      for (let i = 0; i < count; i++) {
        for (const [v, vault] of vaults.entries()) samples[v][key].push(await once(() => fn(vault)))
      }
    }
    for (let round = 0; round < ROUNDS; round++) {
      await alternate('cold', COLD_READS, (vault) => vault.coldRead())
      await alternate('delete', DELETES, (vault) => vault.deleteOne())
      await alternate('list', 1, (vault) =>
        vault.sql.query('SELECT count(*) FROM public.list_secret_names()'),
      )
      await alternate('metrics', 1, (vault) =>
        vault.sql.query('SELECT count(*) FROM public.secret_metrics()'),
      )
      await alternate('alerts', 1, (vault) =>
        vault.sql.query('SELECT count(*) FROM public.secret_alerts()'),
      )
    }
    const series = (key) => samples.map((s) => median(s[key]))
    const cold = series('cold')
    const deletes = series('delete')
    const list = series('list')
    const metrics = series('metrics')
    const alerts = series('alerts')
    const bytes = []
    for (const vault of vaults) bytes.push(await bytesPerAuditRow(vault.sql))
    const bytesBefore = await bytesPerAuditRow(before.sql)
    const largest = vaults.at(-1)
    const scans = await seqScansDuring(largest.sql, () => everyDelete(largest))

    process.stdout.write('Scale (median per size):\n')
    printSeries('cold getSecret', vaults, cold, formatNs)
    printSeries('delete_secret', vaults, deletes, formatNs)
    printSeries('list_secret_names (SQL)', vaults, list, formatNs)
    printSeries('secret_metrics()', vaults, metrics, formatNs)
    printSeries('secret_alerts()', vaults, alerts, formatNs)
    printSeries('audit bytes on disk per row', vaults, bytes, (b) => `${b.toFixed(0)} B`)

    const perSecret = (list.at(-1) - list[0]) / (largest.secrets - vaults[0].secrets)
    const results = [
      report({
        name: 'cold getSecret, largest vault vs smallest',
        value: formatNs(cold.at(-1)),
        baseline: `${vaults[0].label} ${formatNs(cold[0])}`,
        ratio: `${growth(cold).toFixed(2)}×`,
        target: '≤ 1.2×',
        met: growth(cold) <= 1.2,
      }),
      report({
        name: 'delete_secret, largest vault vs smallest',
        value: formatNs(deletes.at(-1)),
        baseline: `${vaults[0].label} ${formatNs(deletes[0])}`,
        ratio: `${growth(deletes).toFixed(2)}×`,
        target: '≤ 1.2×',
        met: growth(deletes) <= 1.2,
      }),
      report({
        name: 'sequential scans of keywarden.secrets and vault.secrets by every kind of vault-row delete (largest vault)',
        value: String(scans),
        baseline: 'none',
        ratio: '-',
        target: '0',
        met: scans === 0,
      }),
      report({
        name: 'list_secret_names in SQL, per extra secret',
        value: formatNs(perSecret),
        baseline: `${vaults[0].label} ${formatNs(list[0])}`,
        ratio: `${growth(list).toFixed(0)}× for ${(largest.secrets / vaults[0].secrets).toFixed(0)}× the secrets`,
        target: '≤ 2 µs per secret',
        met: perSecret <= 2_000,
      }),
      report({
        name: `secret_metrics() at ${largest.label}`,
        value: formatNs(metrics.at(-1)),
        baseline: `${vaults[0].label} ${formatNs(metrics[0])}`,
        ratio: `${growth(metrics).toFixed(2)}×`,
        target: '< 1 s',
        met: metrics.at(-1) < 1e9,
      }),
      report({
        name: `secret_alerts() at ${largest.label}`,
        value: formatNs(alerts.at(-1)),
        baseline: `${vaults[0].label} ${formatNs(alerts[0])}`,
        ratio: `${growth(alerts).toFixed(2)}×`,
        target: '< 1 s',
        met: alerts.at(-1) < 1e9,
      }),
      report({
        name: `audit log bytes on disk per row (${vaults[0].label})`,
        value: `${bytes[0].toFixed(0)} B`,
        baseline: `without migration ${SCALE_MIGRATION} ${bytesBefore.toFixed(0)} B`,
        ratio: `${(bytes[0] / bytesBefore).toFixed(2)}×`,
        target: '< 1× (fewer bytes)',
        met: bytes[0] < bytesBefore,
      }),
    ]
    return { ...results.at(-1), met: results.every((result) => result.met) }
  } finally {
    for (const vault of vaults) await vault.close()
    await before?.close()
  }
}
