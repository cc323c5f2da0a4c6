/**
 * Windsurf: `~/.codeium/windsurf/mcp_config.json` (`%USERPROFILE%\.codeium\windsurf\...` on
 * Windows), `mcpServers`. It has no project file.
 */
import { joinFor, type McpClient, stdioEntry } from '../client.ts'

/** The Windsurf client. */
export const windsurf: McpClient = {
  id: 'windsurf',
  name: 'Windsurf',
  format: 'json',
  locate: (scope, { platform, home }) =>
    scope === 'user'
      ? joinFor(platform)(home, '.codeium', 'windsurf', 'mcp_config.json')
      : undefined,
  servers: () => [{ path: ['mcpServers'] }],
  keywardenEntry: stdioEntry,
}
