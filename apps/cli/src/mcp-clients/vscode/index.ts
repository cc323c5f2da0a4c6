/**
 * VS Code: `mcp.json` with a `servers` object (and `inputs`, prompted values it keeps in its
 * secret storage), in the workspace as `.vscode/mcp.json` or in the user profile folder
 * (`Code/User/mcp.json` under the app data folder). JSONC: comments allowed.
 */
import { appDataDir, joinFor, type McpClient } from '../client.ts'

/** The VS Code client. */
export const vscode: McpClient = {
  id: 'vscode',
  name: 'VS Code',
  format: 'json',
  locate: (scope, place) =>
    scope === 'user'
      ? joinFor(place.platform)(appDataDir(place), 'Code', 'User', 'mcp.json')
      : joinFor(place.platform)(place.cwd, '.vscode', 'mcp.json'),
  servers: () => [{ path: ['servers'] }],
  keywardenEntry: (launcher, env) => ({
    type: 'stdio',
    command: launcher.command,
    args: launcher.args,
    env,
  }),
}
