// `keywarden scan` on a generated project tree of 10,000 files (source, JSON, Markdown and
// 1,000 .env files, some holding tokens), side by side in one run with baselines over the same
// files: detection (secretlint's preset + Keywarden's rules) on every file against reading
// every file, and the whole `keywarden scan --dir TREE` process (walk, read, detect the .env
// files) against `grep -rE` of token prefixes over the same tree.
// Targets: detection ≤ 8× a plain read; the whole command ≤ 12× grep. Measured here
// (2026-12, shared 2-core machine): 2.7× and 5.7×; with secretlint's profiler on (its
// default), 19× and 12×, which is why the detector turns it off.
import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { median, report, sample } from './lib.js'

const exec = promisify(execFile)
const CLI = fileURLToPath(new URL('../apps/cli/dist/bin.js', import.meta.url))
const DIST = new URL('../apps/cli/dist/scan/', import.meta.url)
const FILES = 10_000
const FOLDERS = 100

const random = (n) => randomBytes(n).toString('base64url').replace(/[-_]/g, 'x').slice(0, n)
// Token prefixes joined at run time: no token-shaped literal in the repository.
const token = (i) =>
  [
    () => ['gh', 'p_'].join('') + random(36),
    () => ['sb', '_secret_'].join('') + random(32),
    () => ['xo', 'xb-'].join('') + `1234567890-1234567890123-${random(24)}`,
  ][i % 3]()

function fileContent(i) {
  switch (i % 10) {
    case 0:
      return [
        `# service ${i}`,
        'NODE_ENV=production',
        `PORT=${3000 + (i % 1000)}`,
        `REQUEST_ID=${crypto.randomUUID()}`,
        'REDIS_URL=redis://localhost:6379/0',
        i % 30 === 0 ? `API_TOKEN=${token(i)}` : `COMMIT=${randomBytes(20).toString('hex')}`,
        ...Array.from({ length: 14 }, (_, k) => `FEATURE_${k}=${k % 2 === 0}`),
      ].join('\n')
    case 1:
    case 2:
      return JSON.stringify(
        {
          name: `pkg-${i}`,
          version: '1.0.0',
          dependencies: Object.fromEntries(
            Array.from({ length: 12 }, (_, k) => [
              `dep-${k}`,
              { version: `^${k}.0.0`, integrity: `sha512-${randomBytes(64).toString('base64')}` },
            ]),
          ),
        },
        null,
        2,
      )
    case 3:
      return `# Module ${i}\n\nSee https://github.com/acme/app/blob/${randomBytes(20).toString('hex')}/README.md\n\n${'Lorem ipsum dolor sit amet. '.repeat(40)}\n`
    default:
      return Array.from(
        { length: 60 },
        (_, k) =>
          `export function f${k}(a: number): number { return a * ${k} + ${i} } // ${random(20)}`,
      ).join('\n')
  }
}

function fileName(i) {
  const n = i % 10
  if (n === 0) return ['.env', '.env.local', '.env.production', 'dev.env'][(i / 10) % 4]
  if (n <= 2) return 'config.json'
  if (n === 3) return 'README.md'
  return 'module.ts'
}

async function makeTree() {
  const root = await mkdtemp(join(tmpdir(), 'kw-bench-scan-'))
  const paths = []
  for (let i = 0; i < FILES; i++) {
    const folder = join(root, `pkg-${i % FOLDERS}`, `src-${Math.floor(i / FOLDERS) % 10}`)
    // .env files keep their exact names (the walk looks for .env* and *.env), one per folder.
    const env = i % 10 === 0
    const dir = env ? join(folder, `env-${i}`) : folder
    await mkdir(dir, { recursive: true })
    const path = join(dir, env ? fileName(i) : `${i}-${fileName(i)}`)
    await writeFile(path, fileContent(i))
    paths.push(path)
  }
  return { root, paths }
}

async function measure() {
  const { root, paths } = await makeTree()
  try {
    const { createDetector } = await import(new URL('detect/index.js', DIST).href)
    const detector = await createDetector()
    let found = 0
    const detectAll = async () => {
      found = 0
      for (const path of paths) {
        found += (await detector.detect(path, await readFile(path, 'utf8'))).length
      }
    }
    const readAll = async () => {
      for (const path of paths) await readFile(path, 'utf8')
    }
    const detect = median(await sample(detectAll, { iterations: 3, warmup: 1 }))
    const read = median(await sample(readAll, { iterations: 3, warmup: 1 }))
    const expected = paths.filter((_, i) => i % 30 === 0).length
    if (found !== expected) throw new Error(`scan bench: found ${found}, planted ${expected}`)

    const scanArgs = [CLI, 'scan', '--dir', root, '--no-vault', '--json']
    const env = { PATH: process.env.PATH, HOME: join(root, 'no-home') }
    const once = await exec(process.execPath, scanArgs, { env, maxBuffer: 64 << 20 })
    const reported = JSON.parse(once.stdout).findings.length
    if (reported !== expected) throw new Error(`keywarden scan: ${reported}, planted ${expected}`)
    const command = median(
      await sample(() => exec(process.execPath, scanArgs, { env, maxBuffer: 64 << 20 }), {
        iterations: 3,
        warmup: 1,
      }),
    )
    // grep exits 0 when it matched; the prefixes are those planted.
    const grepArgs = ['-rlE', '(gh[pousr]_|sb_secret_|xox[abpr]-)', root]
    const grep = median(await sample(() => exec('grep', grepArgs), { iterations: 3, warmup: 1 }))

    const filesPerSecond = (ns) => Math.round(FILES / (ns / 1e9))
    report({
      name: `scan detection, ${FILES} files (read + secretlint per file)`,
      value: `${filesPerSecond(detect).toLocaleString('en')} files/s`,
      baseline: `plain read ${filesPerSecond(read).toLocaleString('en')} files/s`,
      ratio: `${(detect / read).toFixed(1)}×`,
      target: '≤ 8× a plain read',
      met: detect <= 8 * read,
    })
    return report({
      name: `keywarden scan --dir (whole process, ${FILES}-file tree, 1,000 .env files)`,
      value: `${(command / 1e6).toFixed(0)} ms, ${filesPerSecond(command).toLocaleString('en')} files/s walked`,
      baseline: `grep -rlE ${(grep / 1e6).toFixed(0)} ms`,
      ratio: `${(command / grep).toFixed(1)}×`,
      target: '≤ 12× grep',
      met: command <= 12 * grep,
    })
  } finally {
    await rm(root, { recursive: true, force: true })
  }
}

export { measure as run }
