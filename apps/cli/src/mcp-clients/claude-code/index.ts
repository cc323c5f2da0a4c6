/**
 * Claude Code: user servers in `~/.claude.json` (`mcpServers`), the same file keeping each
 * project's local servers under `projects.<path>.mcpServers`, and a project's shared servers
 * in `.mcp.json` at its root. The same paths on every platform (`%USERPROFILE%` on Windows).
 */

import { joinFor, type McpClient } from '../client.ts'
import { isObject } from '../document/index.ts'

/** The Claude Code client. */
export const claudeCode: McpClient = {
  id: 'claude-code',
  name: 'Claude Code',
  format: 'json',
  locate: (scope, { platform, home, cwd }) =>
    scope === 'user'
      ? joinFor(platform)(home, '.claude.json')
      : joinFor(platform)(cwd, '.mcp.json'),
  servers(data) {
    const projects = isObject(data.projects) ? data.projects : {}
    return [
      { path: ['mcpServers'] },
      // `claude mcp add` (local scope, its default) writes here: where most tokens end up.
      ...Object.entries(projects)
        .filter(([, project]) => isObject(project) && isObject(project.mcpServers))
        .map(([project]) => ({
          path: ['projects', project, 'mcpServers'],
          where: `project ${project}`,
        })),
    ]
  },
  keywardenEntry: (launcher, env) => ({
    type: 'stdio',
    command: launcher.command,
    args: launcher.args,
    env,
  }),
}
