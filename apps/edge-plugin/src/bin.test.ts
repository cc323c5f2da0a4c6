/**
 * The `keywarden-edge` bin as users run it: a real process, configured by its environment,
 * serving over a real socket until SIGTERM, which flushes the audit buffer before exiting.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process'
import { once } from 'node:events'
import { readFile } from 'node:fs/promises'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { until } from '../../../packages/core/src/testing/expect.ts'
import { createTestVault, type TestVault, testTokens } from './testing/index.ts'

const run = promisify(execFile)
const packageJson = JSON.parse(
  await readFile(new URL('../package.json', import.meta.url), 'utf8'),
) as { version: string; bin: Record<string, string> }
const binPath = new URL(`../${packageJson.bin['keywarden-edge']}`, import.meta.url).pathname

const tokens = testTokens()
let vault: TestVault
beforeAll(async () => {
  vault = await createTestVault()
})
afterAll(() => vault?.cleanup())

/** Starts the bin on a free port and resolves with its base URL once it listens. */
async function start(env: Record<string, string>): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, [binPath], {
    env: { PATH: process.env.PATH ?? '', PORT: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let output = ''
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    output += chunk
  })
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    output += chunk
  })
  const line = await until(
    'keywarden-edge to listen',
    () => {
      if (child.exitCode !== null) throw new Error(`keywarden-edge exited: ${output}`)
      return /listening on (\S+)/.exec(output)?.[1]
    },
    (url) => url !== undefined,
  )
  return { child, url: line as string }
}

describe('keywarden-edge', () => {
  it('prints its version and help', async () => {
    expect((await run(process.execPath, [binPath, '--version'])).stdout).toBe(
      `${packageJson.version}\n`,
    )
    expect((await run(process.execPath, [binPath, '--help'])).stdout).toContain(
      'PLUGIN_BEARER_TOKEN',
    )
  })

  it('refuses unknown arguments with exit code 2', async () => {
    await expect(run(process.execPath, [binPath, 'serve'])).rejects.toMatchObject({
      code: 2,
      stderr: expect.stringContaining('unknown argument'),
    })
  })

  it('shows the cause of a failed start only with KEYWARDEN_DEBUG=1', async () => {
    const broken = { PATH: process.env.PATH ?? '', PORT: '0', KEYWARDEN_STORE: 'postgres' }
    const plain = run(process.execPath, [binPath], { env: broken })
    await expect(plain).rejects.toMatchObject({
      code: 1,
      stderr: expect.stringContaining('CONFIGURATION_ERROR'),
    })
    await expect(plain).rejects.toMatchObject({ stderr: expect.not.stringContaining('    at ') })
    await expect(
      run(process.execPath, [binPath], { env: { ...broken, KEYWARDEN_DEBUG: '1' } }),
    ).rejects.toMatchObject({ code: 1, stderr: expect.stringMatching(/\n {4}at \S/) })
  })

  it('serves the plugin over HTTP with the token from PLUGIN_BEARER_TOKEN, and stops on SIGTERM', async () => {
    const { child, url } = await start({
      KEYWARDEN_DATABASE_URL: vault.database.url,
      KEYWARDEN_ROOT_KEY: vault.database.rootKey,
      PLUGIN_BEARER_TOKEN: tokens.bearer,
    })
    try {
      expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/chatgpt-plugin$/)
      const health = await fetch(`${url}/health`)
      expect(await health.json()).toMatchObject({
        status: 'ok',
        secret_source: 'vault',
        version: packageJson.version,
      })
      const refused = await fetch(`${url}/secrets`, { headers: { authorization: 'Bearer nope' } })
      expect(refused.status).toBe(401)
      const secrets = await fetch(`${url}/secrets`, {
        headers: { authorization: `Bearer ${tokens.bearer}` },
      })
      expect(secrets.status).toBe(200)
    } finally {
      child.kill('SIGTERM')
    }
    const [code] = await once(child, 'exit')
    expect(code).toBe(0)
    // The failure was written to the audit log on the way out.
    const failures = await vault.client.queryAudit({ failedOnly: true })
    expect(failures.map((record) => record.accessType)).toContain('auth_failure')
  })
})
