// `keywarden run --only <10 names> -- true` against the seed's deployment-script pattern, ten
// `psql -c "SELECT public.get_secret(...)"` processes, on the same PostgreSQL server in one run.
// No target was set; the ratio is what to watch. Needs the CLI built (`npm run build`).
import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { createVaultClient } from '@keywarden/core'
import { createPostgresStore } from '@keywarden/core/node'
import { benchDatabase, formatNs, median, report, sample } from './lib.js'

const exec = promisify(execFile)
const CLI = fileURLToPath(new URL('../apps/cli/dist/bin.js', import.meta.url))
const NAMES = Array.from({ length: 10 }, (_, i) => `deploy_secret_${i}`)

export async function run() {
  const db = await benchDatabase()
  const env = { ...process.env, KEYWARDEN_DATABASE_URL: db.url, KEYWARDEN_ROOT_KEY: db.rootKey }
  try {
    const client = createVaultClient({
      store: createPostgresStore({ connectionString: db.url, rootKey: db.rootKey }),
      env: {},
    })
    for (const name of NAMES) await client.storeSecret(name, `value-of-${name}-${'x'.repeat(24)}`)
    await client.close()

    const keywarden = median(
      await sample(
        () =>
          exec(process.execPath, [CLI, 'run', '--only', NAMES.join(','), '--', 'true'], { env }),
        {
          iterations: 15,
          warmup: 2,
        },
      ),
    )
    const psqlEnv = { ...process.env, PGOPTIONS: `-c keywarden.root_key=${db.rootKey}` }
    const psql = median(
      await sample(
        async () => {
          for (const name of NAMES) {
            await exec(
              'psql',
              ['-X', '-qAt', db.url, '-c', `SELECT public.get_secret('${name}', 'bench')`],
              {
                env: psqlEnv,
              },
            )
          }
        },
        { iterations: 5, warmup: 1 },
      ),
    )
    return report({
      name: 'keywarden run --only <10 names> -- true (median, whole process)',
      value: formatNs(keywarden),
      baseline: `10 psql -c processes ${formatNs(psql)}`,
      ratio: `${(psql / keywarden).toFixed(1)}× faster than psql`,
      target: 'faster than the psql pattern',
      met: keywarden < psql,
    })
  } finally {
    await db.drop()
  }
}
