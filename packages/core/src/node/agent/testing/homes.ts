/**
 * Test-only helpers for the agent suites: vault homes that are cheap to make, polling without
 * fixed sleeps, and a look at which agent processes are running.
 *
 * Creating a PGlite vault costs 5-10 s, so each suite creates one template vault and copies
 * its files into every home it needs; opening a copy costs only PGlite's start (≈1 s).
 */
import { cp, mkdtemp, readdir, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { randomRootKey } from '../../../testing/databases.ts'
import { createEmbeddedStore } from '../../embedded.ts'

export { until } from '../../../testing/expect.ts'

/** A closed, migrated vault to copy homes from. */
export interface VaultTemplate {
  readonly dir: string
  readonly rootKey: string
  /** Another home holding a copy of the vault (no agent, no lock). */
  copy(): Promise<string>
  /** Removes the template and every copy made from it. */
  cleanup(): Promise<void>
}

/** Creates the template vault (slow: PGlite's initdb). */
export async function createVaultTemplate(): Promise<VaultTemplate> {
  const parent = await mkdtemp(join(tmpdir(), 'kw-agent-'))
  const dir = join(parent, 'template')
  const rootKey = randomRootKey()
  const store = await createEmbeddedStore({ home: dir, rootKey })
  await store.close()
  let copies = 0
  return {
    dir,
    rootKey,
    async copy() {
      // Short names: a unix socket path must stay under ~104 bytes.
      const home = join(parent, `h${copies++}`)
      await cp(dir, home, { recursive: true })
      return home
    },
    cleanup: () => rm(parent, { recursive: true, force: true }),
  }
}

/** The pid written in the vault lock, if any. */
export async function lockPid(home: string): Promise<number | undefined> {
  const text = await readFile(join(home, 'vault.lock'), 'utf8').catch(() => '')
  const pid = Number.parseInt(text, 10)
  return Number.isInteger(pid) ? pid : undefined
}

/**
 * The pids of live agent processes serving `home` (Linux: read from /proc). Zombies have no
 * command line and do not count.
 */
export async function agentProcesses(home: string): Promise<number[]> {
  const pids: number[] = []
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      const command = await readFile(join('/proc', entry, 'cmdline'), 'utf8')
      if (!command.includes('agent/process.js')) continue
      const environment = await readFile(join('/proc', entry, 'environ'), 'utf8')
      if (environment.split('\0').includes(`KEYWARDEN_HOME=${home}`)) pids.push(Number(entry))
    } catch {
      // Gone meanwhile, or another user's.
    }
  }
  return pids
}

/** Whether a process with this pid exists. */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}
