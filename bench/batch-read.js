// getSecrets of 100 names against 100 sequential getSecret calls and against the seed's shell
// pattern, 100 × `psql -c "SELECT public.get_secret(...)"`. Target: ≥ 30× faster than sequential.
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { createVaultClient } from '@keywarden/core'
import { createPostgresStore } from '@keywarden/core/node'
import { benchDatabase, formatNs, median, report, sample } from './lib.js'

const run$ = promisify(execFile)

export async function run() {
  const db = await benchDatabase()
  const client = createVaultClient({
    store: createPostgresStore({ connectionString: db.url, rootKey: db.rootKey }),
    accessedBy: 'bench',
    env: {},
  })
  const names = Array.from({ length: 100 }, (_, i) => `service_${String(i).padStart(3, '0')}`)
  try {
    for (const name of names) await client.storeSecret(name, `value-${name}-${'x'.repeat(32)}`)
    const batch = median(
      await sample(
        async () => {
          client.clearSecretCache()
          await client.getSecrets(names)
        },
        { iterations: 50 },
      ),
    )
    const sequential = median(
      await sample(
        async () => {
          client.clearSecretCache()
          for (const name of names) await client.getSecret(name)
        },
        { iterations: 10 },
      ),
    )
    // The seed's pattern: one psql process per secret (timed once: 100 processes).
    const start = process.hrtime.bigint()
    for (const name of names) {
      await run$(
        'psql',
        ['-X', '-qAt', db.url, '-c', `SELECT public.get_secret('${name}', 'bench')`],
        {
          env: { ...process.env, PGOPTIONS: `-c keywarden.root_key=${db.rootKey}` },
        },
      )
    }
    const psql = Number(process.hrtime.bigint() - start)
    return report({
      name: 'getSecrets of 100 names (median)',
      value: formatNs(batch),
      baseline: `100 sequential getSecret ${formatNs(sequential)}; 100 psql processes ${formatNs(psql)}`,
      ratio: `${(sequential / batch).toFixed(1)}× vs sequential, ${(psql / batch).toFixed(0)}× vs psql`,
      target: '≥ 30× faster than sequential',
      met: sequential / batch >= 30,
    })
  } finally {
    await client.close()
    await db.drop()
  }
}
