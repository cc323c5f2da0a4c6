// `keywarden run --only <10 names> -- true` on the postgres store against the same command on
// the embedded default (PGlite behind the local agent), whole processes, interleaved. Target:
// postgres ≤ 1.2× embedded. Beside them, for reference, the seed's deployment-script pattern
// (ten `psql -c "SELECT public.get_secret(...)"` processes on the same server) and
// `dotenvx run` over an encrypted .env of the same ten values. Needs the CLI built
// (`npm run build`).
import { execFile } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { createVaultClient } from '@keywarden/core'
import { createPostgresStore, stopAgent } from '@keywarden/core/node'
import { benchDatabase, formatNs, median, report, sample, sampleInterleaved } from './lib.js'

const exec = promisify(execFile)
const CLI = fileURLToPath(new URL('../apps/cli/dist/bin.js', import.meta.url))
const DOTENVX = fileURLToPath(
  new URL('../node_modules/@dotenvx/dotenvx/src/cli/dotenvx.js', import.meta.url),
)
const NAMES = Array.from({ length: 10 }, (_, i) => `deploy_secret_${i}`)
const valueFor = (name) => `value-of-${name}-${'x'.repeat(24)}`

async function seed(client) {
  for (const name of NAMES) await client.storeSecret(name, valueFor(name))
  await client.close()
}

export async function run() {
  const db = await benchDatabase()
  const home = await mkdtemp(join(tmpdir(), 'kw-bench-run-'))
  const dotenvDir = await mkdtemp(join(tmpdir(), 'kw-bench-dotenvx-'))
  const base = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? home }
  const postgresEnv = { ...base, KEYWARDEN_DATABASE_URL: db.url, KEYWARDEN_ROOT_KEY: db.rootKey }
  const embeddedEnv = { ...base, KEYWARDEN_HOME: home }
  try {
    await seed(
      createVaultClient({
        store: createPostgresStore({ connectionString: db.url, rootKey: db.rootKey }),
        env: {},
      }),
    )
    await seed(createVaultClient({ env: embeddedEnv, envFallback: false }))
    // dotenvx's own way to keep secrets in a file: encrypted, its private key in .env.keys.
    await writeFile(
      join(dotenvDir, '.env'),
      NAMES.map((name) => `${name.toUpperCase()}=${valueFor(name)}\n`).join(''),
    )
    await exec(process.execPath, [DOTENVX, 'encrypt', '-f', '.env'], { cwd: dotenvDir, env: base })

    const keywardenRun = (env) => () =>
      exec(process.execPath, [CLI, 'run', '--only', NAMES.join(','), '--', 'true'], { env })
    const runs = await sampleInterleaved(
      { postgres: keywardenRun(postgresEnv), embedded: keywardenRun(embeddedEnv) },
      { iterations: 15, warmup: 2 },
    )
    const postgres = median(runs.postgres)
    const embedded = median(runs.embedded)
    const psqlEnv = { ...base, PGOPTIONS: `-c keywarden.root_key=${db.rootKey}` }
    const psql = median(
      await sample(
        async () => {
          for (const name of NAMES) {
            await exec(
              'psql',
              ['-X', '-qAt', db.url, '-c', `SELECT public.get_secret('${name}', 'bench')`],
              { env: psqlEnv },
            )
          }
        },
        { iterations: 5, warmup: 1 },
      ),
    )
    const dotenvx = median(
      await sample(
        () =>
          exec(process.execPath, [DOTENVX, 'run', '-q', '-f', '.env', '--', 'true'], {
            cwd: dotenvDir,
            env: base,
          }),
        { iterations: 10, warmup: 1 },
      ),
    )
    return report({
      name: 'keywarden run --only <10 names> -- true (median, whole process)',
      value: `postgres ${formatNs(postgres)}`,
      baseline: `embedded ${formatNs(embedded)}; for reference 10 psql -c processes ${formatNs(psql)} (${(psql / postgres).toFixed(1)}× postgres run), dotenvx run over an encrypted .env ${formatNs(dotenvx)} (${(dotenvx / postgres).toFixed(1)}×)`,
      ratio: `${(postgres / embedded).toFixed(2)}× embedded`,
      target: '≤ 1.2× embedded',
      met: postgres <= 1.2 * embedded,
    })
  } finally {
    await stopAgent(home).catch(() => false)
    await rm(home, { recursive: true, force: true })
    await rm(dotenvDir, { recursive: true, force: true })
    await db.drop()
  }
}
