// `npm run demo`: Keywarden's main job on the embedded default, through the real CLI. A
// throwaway vault in a temporary folder stores a token from stdin, lists it, hands it to a
// command (whose output is masked), rotates it and shows the audit trail. It prints each command
// as a transcript; the token's value itself is never printed.
import { spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { stopAgent } from '@keywarden/core/node'

const cli = fileURLToPath(new URL('../apps/cli/dist/bin.js', import.meta.url))
const home = mkdtempSync(join(tmpdir(), 'keywarden-demo-'))
const env = { ...process.env, KEYWARDEN_HOME: home, KEYWARDEN_DATABASE_URL: '', SUPABASE_URL: '' }

function keywarden(args, input, shown = args.join(' ')) {
  process.stdout.write(`\n$ ${input === undefined ? '' : '<token> | '}keywarden ${shown}\n`)
  const result = spawnSync(process.execPath, [cli, ...args], {
    env,
    input,
    stdio: ['pipe', 'inherit', 'inherit'],
  })
  if (result.status !== 0) throw new Error(`keywarden ${args[0]} exited with ${result.status}`)
}

try {
  process.stdout.write(`A throwaway embedded vault in ${home}\n`)
  keywarden(
    ['set', 'github_token', '--type', 'github_token', '--description', 'GitHub PAT'],
    `ghp_${randomBytes(18).toString('hex')}\n`,
  )
  keywarden(['list'])
  keywarden(
    [
      'run',
      '--only',
      'github_token',
      '--',
      process.execPath,
      '-e',
      'console.log("the command sees GITHUB_TOKEN =", process.env.GITHUB_TOKEN)',
    ],
    undefined,
    'run --only github_token -- node -e \'console.log("the command sees GITHUB_TOKEN =", process.env.GITHUB_TOKEN)\'',
  )
  keywarden(['rotate', 'github_token', '--grace', '1h'], `ghp_${randomBytes(18).toString('hex')}\n`)
  keywarden(['audit', '--limit', '8'])
} finally {
  await stopAgent(home).catch(() => {})
  rmSync(home, { recursive: true, force: true })
}
