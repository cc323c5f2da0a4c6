// Audit events per second written through the client's buffer (log_secret_access_batch) into
// PostgreSQL, against a plain multi-row INSERT of the same rows in the same run, and against the
// same buffer on a database migrated without the SQL hardening migration (the audit hash chain's
// trigger, the accessor check). Target: ≥ 20,000 events/s.

import { createPostgresStore } from '@keywarden/core/node'
import pg from 'pg'
import { AuditBuffer } from '../packages/core/dist/audit/index.js'
import { benchDatabase, HARDENING_MIGRATION, report } from './lib.js'

const EVENTS = 100_000
const ROUNDS = 10

/**
 * A buffer writing into `db`. Each `round(events)` records that many events and waits until
 * they are written; it returns the seconds that took.
 */
function bufferInto(db) {
  const store = createPostgresStore({ connectionString: db.url, rootKey: db.rootKey })
  const stats = { written: 0, dropped: 0 }
  return {
    stats,
    async round(events) {
      const buffer = new AuditBuffer({
        write: (batch) => store.logAccessBatch(batch),
        batchSize: 5_000,
        maxBuffered: events,
      })
      const start = process.hrtime.bigint()
      for (let i = 0; i < events; i++) {
        // Distinct access types that are not aggregated: one row per event.
        buffer.record({
          secret_name: `s${i % 50}`,
          accessed_by: 'bench',
          access_type: 'env_fallback',
          success: true,
          source: 'env',
        })
      }
      await buffer.close({ timeoutMs: 120_000 })
      const seconds = Number(process.hrtime.bigint() - start) / 1e9
      stats.written += buffer.stats().written
      stats.dropped += buffer.stats().dropped
      return seconds
    },
    close: () => store.close(),
  }
}

export async function run() {
  const db = await benchDatabase()
  const baselineDb = await benchDatabase({ without: [HARDENING_MIGRATION] })
  const raw = new pg.Client({ connectionString: db.url })
  await raw.connect()
  try {
    // Interleaved rounds, so that load on the machine hits both databases alike.
    const hardened = bufferInto(db)
    const unhardened = bufferInto(baselineDb)
    let seconds = 0
    let secondsBefore = 0
    try {
      for (let round = 0; round < ROUNDS; round++) {
        secondsBefore += await unhardened.round(EVENTS / ROUNDS)
        seconds += await hardened.round(EVENTS / ROUNDS)
      }
    } finally {
      await hardened.close()
      await unhardened.close()
    }
    const stats = hardened.stats
    const rate = stats.written / seconds
    const before = { rate: unhardened.stats.written / secondsBefore }

    const rows = Array.from({ length: 5_000 }, (_, i) => [
      `s${i % 50}`,
      'bench',
      'env_fallback',
      true,
      'env',
    ])
    const rawStart = process.hrtime.bigint()
    for (let written = 0; written < EVENTS; written += rows.length) {
      await raw.query(
        `INSERT INTO public.secret_access_log (secret_name, accessed_by, access_type, success, source)
         SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::boolean[], $5::text[])`,
        [0, 1, 2, 3, 4].map((column) => rows.map((row) => row[column])),
      )
    }
    const rawRate = EVENTS / (Number(process.hrtime.bigint() - rawStart) / 1e9)
    const fmt = (n) => Math.round(n).toLocaleString('en')
    report({
      name: 'audit throughput, hash-chained vs without the hardening migration',
      value: `${fmt(rate)} events/s`,
      baseline: `without migration ${HARDENING_MIGRATION} ${fmt(before.rate)} events/s`,
      ratio: `${(rate / before.rate).toFixed(2)}×`,
      target: '≥ 20,000 events/s',
      met: rate >= 20_000,
    })
    return report({
      name: 'audit throughput through the buffer',
      value: `${fmt(rate)} events/s (${stats.written} written, ${stats.dropped} dropped)`,
      baseline: `plain multi-row INSERT (chained by the trigger too) ${fmt(rawRate)} rows/s`,
      ratio: `${(rate / rawRate).toFixed(2)}×`,
      target: '≥ 20,000 events/s',
      met: rate >= 20_000 && stats.dropped === 0,
    })
  } finally {
    await raw.end()
    await db.drop()
    await baselineDb.drop()
  }
}
