/**
 * The command suite on the embedded default: a temporary KEYWARDEN_HOME and no database URL,
 * served by the local agent the first command starts (stopped again at cleanup).
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { stopAgent } from '@keywarden/core/node'
import { defineCommandSuite } from '../testing/command-suite.ts'

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
