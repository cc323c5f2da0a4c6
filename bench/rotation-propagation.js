// Time from rotateSecret in client A until client B (its own connection, a 5-minute TTL)
// returns the new value, over 100 rotations. Baseline: a bare LISTEN/NOTIFY round trip between
// two pg connections in the same run. Target: p99 ≤ 100 ms.
import { createVaultClient } from '@keywarden/core'
import { createPostgresStore } from '@keywarden/core/node'
import pg from 'pg'
import { benchDatabase, formatNs, median, percentile, report } from './lib.js'

const ROTATIONS = 100

export async function run() {
  const db = await benchDatabase()
  const open = (accessedBy) =>
    createVaultClient({
      store: createPostgresStore({ connectionString: db.url, rootKey: db.rootKey }),
      accessedBy,
      env: {},
    })
  const a = open('bench-a')
  const b = open('bench-b')
  try {
    await a.storeSecret('github_token', 'ghp_rotation_0')
    await b.getSecret('github_token')
    await new Promise((resolve) => setTimeout(resolve, 200)) // let B's LISTEN connection settle
    const delays = []
    for (let i = 1; i <= ROTATIONS; i++) {
      const expected = `ghp_rotation_${i}`
      const start = process.hrtime.bigint()
      await a.rotateSecret('github_token', expected, { gracePeriodSeconds: 0 })
      while ((await b.getSecret('github_token')).value !== expected) {
        await new Promise((resolve) => setImmediate(resolve))
      }
      delays.push(Number(process.hrtime.bigint() - start))
    }

    const listener = new pg.Client({ connectionString: db.url })
    const notifier = new pg.Client({ connectionString: db.url })
    await listener.connect()
    await notifier.connect()
    await listener.query('LISTEN bench')
    const notifyDelays = []
    for (let i = 0; i < ROTATIONS; i++) {
      const heard = new Promise((resolve) => listener.once('notification', resolve))
      const start = process.hrtime.bigint()
      await notifier.query("NOTIFY bench, 'x'")
      await heard
      notifyDelays.push(Number(process.hrtime.bigint() - start))
    }
    await listener.end()
    await notifier.end()

    const p99 = percentile(delays, 99)
    return report({
      name: 'rotation propagation A → B (p50 / p99)',
      value: `${formatNs(median(delays))} / ${formatNs(p99)}`,
      baseline: `bare NOTIFY round trip p50 ${formatNs(median(notifyDelays))}`,
      ratio: `${(median(delays) / median(notifyDelays)).toFixed(1)}× at p50`,
      target: 'p99 ≤ 100 ms',
      met: p99 <= 100_000_000,
    })
  } finally {
    await a.close()
    await b.close()
    await db.drop()
  }
}
