// Shared benchmark helpers: timing, statistics, and a throwaway database with the migrations.
import { randomBytes } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { runMigrations } from '@keywarden/core'
import { loadMigrations, pgConnection } from '@keywarden/core/node'
import pg from 'pg'

export const ADMIN_URL =
  process.env.KEYWARDEN_BENCH_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres'

/** Runs `fn` `iterations` times after `warmup` runs; returns each run's duration in ns. */
export async function sample(fn, { iterations, warmup = Math.ceil(iterations / 10) }) {
  for (let i = 0; i < warmup; i++) await fn(i)
  const samples = new Array(iterations)
  for (let i = 0; i < iterations; i++) {
    const start = process.hrtime.bigint()
    await fn(i)
    samples[i] = Number(process.hrtime.bigint() - start)
  }
  return samples
}

/**
 * Times several alternatives side by side: each iteration runs every one of them once, in an
 * order that rotates, so that a busy moment on the shared machine weighs on all alike (blocks
 * of one alternative at a time measure the machine's load as much as the code). Returns each
 * alternative's durations in ns, by key.
 *
 * With `servers` (alternative → the pid of the local PostgreSQL backend it talks to), it also
 * returns `cpu`: each call's CPU time, this process's plus that backend's, in ns. On a machine
 * whose cores other work keeps busy, wall-clock time stretches with every wait for a core;
 * CPU time is the work itself.
 */
export async function sampleInterleaved(
  alternatives,
  { iterations, warmup = Math.ceil(iterations / 10), servers = {} },
) {
  const entries = Object.entries(alternatives)
  const wall = Object.fromEntries(entries.map(([key]) => [key, []]))
  const cpu = Object.fromEntries(entries.map(([key]) => [key, []]))
  for (let i = 0; i < warmup + iterations; i++) {
    for (let k = 0; k < entries.length; k++) {
      const [key, fn] = entries[(i + k) % entries.length]
      const server = servers[key]
      const serverBefore = server === undefined ? 0 : await processCpuNs(server)
      const cpuBefore = process.cpuUsage()
      const start = process.hrtime.bigint()
      await fn(i)
      const elapsed = Number(process.hrtime.bigint() - start)
      const used = process.cpuUsage(cpuBefore)
      const serverUsed = server === undefined ? 0 : (await processCpuNs(server)) - serverBefore
      if (i < warmup) continue
      wall[key].push(elapsed)
      cpu[key].push((used.user + used.system) * 1000 + serverUsed)
    }
  }
  return Object.keys(servers).length === 0 ? wall : { wall, cpu }
}

/** How much CPU time a local process has run, in ns (Linux's /proc/<pid>/schedstat). */
export async function processCpuNs(pid) {
  return Number((await readFile(`/proc/${pid}/schedstat`, 'utf8')).split(' ')[0])
}

/**
 * The pid of the backend serving the connection whose application_name is `name` (a store's
 * LISTEN connection, which carries the same name, left aside).
 */
export async function backendPid(connection, name) {
  const { rows } = await connection.query(
    "SELECT pid FROM pg_stat_activity WHERE application_name = $1 AND query NOT LIKE 'LISTEN %'",
    [name],
  )
  if (rows.length !== 1) throw new Error(`expected one backend named ${name}, found ${rows.length}`)
  return rows[0].pid
}

/** The same for synchronous work, timed in batches so the timer's own cost stays out. */
export function sampleSync(fn, { batches = 200, perBatch = 10_000 }) {
  for (let i = 0; i < perBatch; i++) fn(i)
  const samples = new Array(batches)
  for (let b = 0; b < batches; b++) {
    const start = process.hrtime.bigint()
    for (let i = 0; i < perBatch; i++) fn(i)
    samples[b] = Number(process.hrtime.bigint() - start) / perBatch
  }
  return samples
}

export function percentile(samples, p) {
  const sorted = [...samples].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]
}

export const median = (samples) => percentile(samples, 50)

/** Formats nanoseconds for people. */
export function formatNs(ns) {
  if (ns < 1_000) return `${ns.toFixed(1)} ns`
  if (ns < 1_000_000) return `${(ns / 1_000).toFixed(1)} µs`
  return `${(ns / 1_000_000).toFixed(2)} ms`
}

/** The SQL hardening migration (search_path, audit hash chain), left out of a baseline. */
export const HARDENING_MIGRATION = '20261203000007'

/**
 * A fresh migrated database for one benchmark; call `drop()` at the end.
 * @param options.without versions of migrations to leave out (a baseline without them).
 */
export async function benchDatabase({ without = [] } = {}) {
  const name = `kw_bench_${randomBytes(5).toString('hex')}`
  const rootKey = randomBytes(32).toString('hex')
  const admin = new pg.Client({ connectionString: ADMIN_URL })
  await admin.connect()
  await admin.query(`CREATE DATABASE ${name}`)
  await admin.end()
  const url = new URL(ADMIN_URL)
  url.pathname = `/${name}`
  const migrator = new pg.Client({
    connectionString: url.toString(),
    options: `-c keywarden.root_key=${rootKey}`,
  })
  await migrator.connect()
  const migrations = (await loadMigrations()).filter((m) => !without.includes(m.version))
  await runMigrations(pgConnection(migrator), migrations)
  await migrator.end()
  return {
    url: url.toString(),
    name,
    rootKey,
    async drop() {
      const dropper = new pg.Client({ connectionString: ADMIN_URL })
      await dropper.connect()
      await dropper.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)
      await dropper.end()
    },
  }
}

/** Prints one result line and returns it for the summary. */
export function report(result) {
  const line = `${result.name}: ${result.value} (baseline ${result.baseline}; ratio ${result.ratio}) — target ${result.target}: ${result.met ? 'met' : 'NOT met'}`
  process.stdout.write(`${line}\n`)
  return result
}

/**
 * Stores `count` secrets named `s<from>`… through the API in one statement, so each has its
 * vault row, its metadata and its audit row. `client` must have the root key set.
 */
export async function seedSecrets(client, { count, from = 0 }) {
  await client.query(
    `SELECT public.store_secret('s' || i, 'bench-value', secret_type => 'api_key')
       FROM generate_series($1::int, $1::int + $2::int - 1) AS i`,
    [from, count],
  )
}

/**
 * Appends `rows` audit rows over the last `days` days in one INSERT: reads of `secrets` secrets
 * (`s0`…) by 20 accessors, every 7th an aggregated cache hit of up to 40 events, 5% failures.
 * The chain's per-row trigger is switched off meanwhile (it would make a million rows take a
 * minute): each row gets a 32-byte stand-in hash, so the log has its true size on disk, but it
 * does not verify.
 */
export async function seedAuditLog(client, { rows, secrets, days = 90 }) {
  await client.query('ALTER TABLE public.secret_access_log DISABLE TRIGGER secret_access_log_chain')
  try {
    await client.query(
      `INSERT INTO public.secret_access_log
         (secret_name, accessed_by, access_type, success, created_at, event_count, row_hash)
       SELECT 's' || (i % $3), 'svc-' || (i % 20),
              CASE WHEN i % 7 = 0 THEN 'cache_hit' ELSE 'read' END,
              i % 20 <> 0,
              now() - (i::double precision / $1) * make_interval(days => $2),
              CASE WHEN i % 7 = 0 THEN 1 + i % 40 ELSE 1 END,
              sha256(int8send(i))
         FROM generate_series(1, $1) AS i`,
      [rows, days, secrets],
    )
  } finally {
    await client.query(
      'ALTER TABLE public.secret_access_log ENABLE TRIGGER secret_access_log_chain',
    )
  }
  // Vacuumed as an old log is, so that no autovacuum of a million fresh rows runs meanwhile.
  await client.query('VACUUM ANALYZE public.secret_access_log')
}
