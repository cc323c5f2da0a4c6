// `keywarden get NAME` on the embedded default, run again and again as a shell would: a fresh
// node process each time, served by the local agent that holds the vault open. Baselines in the
// same run: `node -e 0` (the floor for any node CLI) and a bare PGlite open + query in a fresh
// process (what every command would pay without the agent). Target: ≤ 3× `node -e 0`.
// Needs the CLI built: `npm run build` at the repository root.
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { PGlite } from '@electric-sql/pglite'
import { createAgentStore, stopAgent } from '@keywarden/core/node'
import { formatNs, median, report } from './lib.js'

const CLI = fileURLToPath(new URL('../apps/cli/dist/bin.js', import.meta.url))
const RUNS = 20
const PGLITE_RUNS = 7
const VALUE = `ghp_${'b'.repeat(36)}`

// Variables that would point the CLI at another store than the embedded default.
const STORE_VARIABLES = [
  'KEYWARDEN_STORE',
  'KEYWARDEN_DATABASE_URL',
  'KEYWARDEN_AGENT',
  'SUPABASE_URL',
  'SUPABASE_SERVICE_ROLE_KEY',
  'SUPABASE_DB_URL',
  'POSTGRES_URL',
]

/** Runs `node ...args` to completion; resolves with its wall time in ns and its stdout. */
function timeNode(args, env) {
  return new Promise((resolve, reject) => {
    const start = process.hrtime.bigint()
    const child = spawn(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.setEncoding('utf8').on('data', (chunk) => {
      stdout += chunk
    })
    child.stderr.setEncoding('utf8').on('data', (chunk) => {
      stderr += chunk
    })
    child.on('error', reject)
    child.on('close', (code) => {
      const ns = Number(process.hrtime.bigint() - start)
      if (code !== 0) reject(new Error(`node ${args.join(' ')} exited ${code}: ${stderr.trim()}`))
      else resolve({ ns, stdout })
    })
  })
}

/** Times `runs` runs after one untimed first run (which may start the agent or warm caches). */
async function timeRuns(runs, once) {
  await once()
  const samples = []
  for (let i = 0; i < runs; i++) samples.push(await once())
  return median(samples)
}

export async function run() {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` first`)
  const scratch = await mkdtemp(join(tmpdir(), 'kw-bench-cli-'))
  const home = join(scratch, 'home')
  const env = { ...process.env }
  for (const name of STORE_VARIABLES) delete env[name]
  env.KEYWARDEN_HOME = home
  try {
    // Creates the vault (slow, once) and leaves its agent running, as the user's first
    // command would.
    const seed = await createAgentStore({ home })
    await seed.storeSecret('bench_token', VALUE, {}, 'bench')
    await seed.close()

    const get = async () => {
      const { ns, stdout } = await timeNode([CLI, 'get', 'bench_token'], env)
      if (stdout !== VALUE) throw new Error('keywarden get printed something else than the value')
      return ns
    }
    const nodeOnly = async () => (await timeNode(['-e', '0'], env)).ns
    // Interleaved, so that a busy moment on the machine weighs on both alike.
    const getSamples = []
    const nodeSamples = []
    await get()
    await nodeOnly()
    for (let i = 0; i < RUNS; i++) {
      getSamples.push(await get())
      nodeSamples.push(await nodeOnly())
    }
    const getTime = median(getSamples)
    const nodeTime = median(nodeSamples)

    const dataDir = join(scratch, 'bare-pglite')
    const bare = await PGlite.create({ dataDir })
    await bare.close()
    const pgliteUrl = import.meta.resolve('@electric-sql/pglite')
    const script = `
      const { PGlite } = await import(${JSON.stringify(pgliteUrl)})
      const db = await PGlite.create({ dataDir: ${JSON.stringify(dataDir)} })
      await db.query('SELECT 1')
      await db.close()
    `
    const pgliteTime = await timeRuns(
      PGLITE_RUNS,
      async () => (await timeNode(['--input-type=module', '-e', script], env)).ns,
    )

    return report({
      name: `keywarden get on the embedded default, fresh process (median of ${RUNS})`,
      value: formatNs(getTime),
      baseline: `node -e 0 ${formatNs(nodeTime)}; bare PGlite open + query ${formatNs(pgliteTime)}`,
      ratio: `${(getTime / nodeTime).toFixed(2)}× node -e 0; ${(pgliteTime / getTime).toFixed(1)}× faster than a PGlite open`,
      target: '≤ 3× node -e 0',
      met: getTime <= 3 * nodeTime,
    })
  } finally {
    await stopAgent(home).catch(() => false)
    await rm(scratch, { recursive: true, force: true })
  }
}
