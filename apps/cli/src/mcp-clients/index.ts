/**
 * The MCP clients Keywarden configures, one module each, and the files they use on this
 * machine. See docs/mcp-server.md for the table of paths.
 */

import { stat } from 'node:fs/promises'
import { resolve } from 'node:path'
import { claudeCode } from './claude-code/index.ts'
import { claudeDesktop } from './claude-desktop/index.ts'
import { CLIENT_IDS, type ClientId, type McpClient, type Place, type Scope } from './client.ts'
import { codex } from './codex/index.ts'
import { cursor } from './cursor/index.ts'
import { gemini } from './gemini/index.ts'
import { vscode } from './vscode/index.ts'
import { windsurf } from './windsurf/index.ts'

export { CLIENT_IDS, type ClientId, type McpClient, type Place, type Scope }

/** Every client, by id. */
export const MCP_CLIENTS: Readonly<Record<ClientId, McpClient>> = {
  'claude-desktop': claudeDesktop,
  'claude-code': claudeCode,
  cursor,
  vscode,
  windsurf,
  codex,
  gemini,
}

/** A client's config file to work on. */
export interface ConfigTarget {
  client: McpClient
  scope: Scope
  file: string
}

/** Whether `id` names a client. */
export function isClientId(id: string): id is ClientId {
  return (CLIENT_IDS as readonly string[]).includes(id)
}

/**
 * Every config file of every client that exists at `place`: user files and the project's.
 * A file two clients or scopes share (a project folder that is the home folder) comes once.
 */
export async function findConfigs(place: Place): Promise<ConfigTarget[]> {
  const found: ConfigTarget[] = []
  const seen = new Set<string>()
  for (const client of Object.values(MCP_CLIENTS)) {
    for (const scope of ['user', 'project'] as const) {
      const located = client.locate(scope, place)
      if (located === undefined) continue
      const file = resolve(located)
      if (seen.has(file)) continue
      const isFile = await stat(file).then(
        (stats) => stats.isFile(),
        () => false,
      )
      if (!isFile) continue
      seen.add(file)
      found.push({ client, scope, file })
    }
  }
  return found
}
