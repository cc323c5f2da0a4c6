/**
 * Claude Desktop: `claude_desktop_config.json` in the app's data folder, `mcpServers`. It has
 * no project file.
 */
import { appDataDir, joinFor, type McpClient, type Place, stdioEntry } from '../client.ts'

/** Claude Desktop's config file on `place.platform`. */
export function claudeDesktopConfigPath(place: Place): string {
  return joinFor(place.platform)(appDataDir(place), 'Claude', 'claude_desktop_config.json')
}

/** The Claude Desktop client. */
export const claudeDesktop: McpClient = {
  id: 'claude-desktop',
  name: 'Claude Desktop',
  format: 'json',
  locate: (scope, place) => (scope === 'user' ? claudeDesktopConfigPath(place) : undefined),
  servers: () => [{ path: ['mcpServers'] }],
  keywardenEntry: stdioEntry,
}
