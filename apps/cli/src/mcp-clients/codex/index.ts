/**
 * Codex CLI: `config.toml` in `$CODEX_HOME` (default `~/.codex`), and `.codex/config.toml` in
 * a trusted project; each server is a `[mcp_servers.NAME]` table with `command`, `args` and an
 * `env` table.
 */
import { joinFor, type McpClient, stdioEntry } from '../client.ts'

/** The Codex CLI client. */
export const codex: McpClient = {
  id: 'codex',
  name: 'Codex CLI',
  format: 'toml',
  locate: (scope, { platform, env, home, cwd }) => {
    const join = joinFor(platform)
    if (scope === 'project') return join(cwd, '.codex', 'config.toml')
    return join(env.CODEX_HOME || join(home, '.codex'), 'config.toml')
  },
  servers: () => [{ path: ['mcp_servers'] }],
  keywardenEntry: stdioEntry,
}
