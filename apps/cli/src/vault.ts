/**
 * Opens the vault client for a command: the store from the environment (with the global flags
 * applied), audited as `cli` (or the door given) and restricted to that door of the door policy. The first use of the embedded vault says where it was created.
 *
 * The embedded vault is served by the keywarden agent (see @keywarden/core's node/agent),
 * started on demand, so a command does not pay PGlite's start-up; this module deliberately
 * avoids importing `@keywarden/core/node`, which would load PGlite anyway.
 */
import { existsSync } from 'node:fs'
import { mkdir, open } from 'node:fs/promises'
import { homedir } from 'node:os'
import { join } from 'node:path'
import {
  CLI_DOOR,
  createVaultClient,
  type Environment,
  resolveStoreConfig,
  restrictToDoor,
  type VaultClient,
} from '@keywarden/core'
import type { Output } from './output.ts'

/** How a command wants its vault client. */
export interface OpenVaultOptions {
  /** The door it is audited as and restricted to (default `cli`). */
  door?: string
  /** Subscribe to change notifications (default true); see the core's VaultClientOptions. */
  changeNotifications?: boolean
}

export async function openVaultClient(
  env: Environment,
  out: Output,
  { door = CLI_DOOR, changeNotifications }: OpenVaultOptions = {},
): Promise<VaultClient> {
  const config = resolveStoreConfig(env)
  // The same default as the core's defaultKeywardenHome (config.home is KEYWARDEN_HOME).
  const home =
    config.kind === 'embedded' ? (config.home ?? join(homedir(), '.keywarden')) : undefined
  const isNew = home !== undefined && !existsSync(join(home, 'data'))
  // Of several first commands at once, only the one that claimed the creation says so.
  const creator = isNew && (await claimCreation(home))
  const client = createVaultClient({
    env,
    accessedBy: door,
    store: config,
    ...(changeNotifications === undefined ? {} : { changeNotifications }),
  })
  if (isNew) {
    // Open now, so the note comes before the command's own output. With the agent this
    // starts it, and it creates the vault before it answers.
    await client.health()
    // Only when it really was made: a failure to open is the command's to report.
    if (creator && existsSync(join(home, 'data'))) {
      out.note(`keywarden: created an embedded vault in ${home}`)
    }
  }
  // The CLI is a door too: full rights by default, but a `cli` rule of the door policy binds it.
  // The dashboard is the `ui` door, under its own rules.
  return restrictToDoor(client, { door })
}

/** The file whose exclusive creation elects the one first command that reports the new vault. */
const CREATION_CLAIM = '.created'

/**
 * Claims the creation of the vault in `home` (made 0700 if missing, as the vault makes it):
 * true for exactly one caller, however many first commands start at once.
 */
async function claimCreation(home: string): Promise<boolean> {
  try {
    await mkdir(home, { recursive: true, mode: 0o700 })
    await (await open(join(home, CREATION_CLAIM), 'wx', 0o600)).close()
    return true
  } catch {
    // Another command claimed it, or the home is unusable: opening the vault says which.
    return false
  }
}
