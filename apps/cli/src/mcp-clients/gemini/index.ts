/**
 * Gemini CLI: `~/.gemini/settings.json` for the user, `.gemini/settings.json` in a project,
 * both with `mcpServers`. The same paths on every platform (`%USERPROFILE%` on Windows).
 */
import { joinFor, type McpClient, stdioEntry } from '../client.ts'

/** The Gemini CLI client. */
export const gemini: McpClient = {
  id: 'gemini',
  name: 'Gemini CLI',
  format: 'json',
  locate: (scope, { platform, home, cwd }) =>
    joinFor(platform)(scope === 'user' ? home : cwd, '.gemini', 'settings.json'),
  servers: () => [{ path: ['mcpServers'] }],
  keywardenEntry: stdioEntry,
}
