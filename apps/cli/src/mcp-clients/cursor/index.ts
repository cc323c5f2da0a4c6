/**
 * Cursor: `~/.cursor/mcp.json` for every project, `.cursor/mcp.json` in a project, both with
 * `mcpServers` (JSONC: comments allowed). The same paths on every platform.
 */
import { joinFor, type McpClient, stdioEntry } from '../client.ts'

/** The Cursor client. */
export const cursor: McpClient = {
  id: 'cursor',
  name: 'Cursor',
  format: 'json',
  locate: (scope, { platform, home, cwd }) =>
    joinFor(platform)(scope === 'user' ? home : cwd, '.cursor', 'mcp.json'),
  servers: () => [{ path: ['mcpServers'] }],
  keywardenEntry: stdioEntry,
}
