/**
 * The command suite on the embedded default: a temporary KEYWARDEN_HOME and no database URL,
 * served by the local agent the first command starts (stopped again at cleanup).
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { stopAgent } from '@keywarden/core/node'
import { describe, expect, it } from 'vitest'
import { defineCommandSuite } from '../testing/command-suite.ts'
import { runCli } from '../testing/run-cli.ts'

describe('the first commands on a new embedded vault', () => {
  it('five at once: all succeed, and exactly one says it created the vault', async () => {
    const home = join(await mkdtemp(join(tmpdir(), 'kw-cli-first-')), 'vault')
    try {
      const results = await Promise.all(
        Array.from({ length: 5 }, () =>
          runCli(['list', '--json'], { env: { KEYWARDEN_HOME: home } }),
        ),
      )
      expect(results.map((result) => result.code)).toEqual([0, 0, 0, 0, 0])
      const notes = results.filter((result) => result.stderr.includes('created an embedded vault'))
      expect(notes).toHaveLength(1)
      expect(notes[0]?.stderr).toBe(`keywarden: created an embedded vault in ${home}\n`)
      // And never again afterwards.
      expect((await runCli(['list'], { env: { KEYWARDEN_HOME: home } })).stderr).toBe('')
    } finally {
      await stopAgent(home)
      await rm(join(home, '..'), { recursive: true, force: true, maxRetries: 3 })
    }
  })
})

defineCommandSuite({
  name: 'embedded',
  async setup() {
    const home = await mkdtemp(join(tmpdir(), 'kw-cli-home-'))
    return {
      env: { KEYWARDEN_HOME: home },
      hidden: [],
      async cleanup() {
        await stopAgent(home)
        await rm(home, { recursive: true, force: true, maxRetries: 3 })
      },
    }
  },
})
