// `keywarden --help` against `node -e 0`, each a whole process, side by side in one run.
// Target: ≤ 1.6× (commands load lazily, so help loads no vault code).
import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { formatNs, median, report, sample } from './lib.js'

const exec = promisify(execFile)
const CLI = fileURLToPath(new URL('../apps/cli/dist/bin.js', import.meta.url))

async function measure() {
  const node = median(
    await sample(() => exec(process.execPath, ['-e', '0']), { iterations: 30, warmup: 3 }),
  )
  const help = median(
    await sample(() => exec(process.execPath, [CLI, '--help']), { iterations: 30, warmup: 3 }),
  )
  return report({
    name: 'keywarden --help (median, whole process)',
    value: formatNs(help),
    baseline: `node -e 0 ${formatNs(node)}`,
    ratio: `${(help / node).toFixed(2)}×`,
    target: '≤ 1.6× node -e 0',
    met: help <= 1.6 * node,
  })
}

export { measure as run }
