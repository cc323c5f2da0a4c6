import { execFile } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import { promisify } from 'node:util'
import { describe, expect, it } from 'vitest'

const run = promisify(execFile)
const packageJson = JSON.parse(
  await readFile(new URL('../package.json', import.meta.url), 'utf8'),
) as { version: string; bin: Record<string, string> }
const binPath = new URL(`../${packageJson.bin.keywarden}`, import.meta.url).pathname

describe('keywarden bin', () => {
  it('prints its version', async () => {
    const { stdout } = await run(process.execPath, [binPath, '--version'])
    expect(stdout).toBe(`${packageJson.version}\n`)
  })

  it('refuses what it cannot do yet, with exit code 1', async () => {
    await expect(run(process.execPath, [binPath, 'anything'])).rejects.toMatchObject({
      code: 1,
      stderr: expect.stringContaining('not implemented yet'),
    })
  })
})
