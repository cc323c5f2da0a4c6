/**
 * Where each client keeps its config on macOS, Linux and Windows (the table in
 * docs/mcp-server.md), and finding the files that exist on a machine.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { CLIENT_IDS, findConfigs, MCP_CLIENTS, type Place, type Scope } from './index.ts'

const mac: Place = { platform: 'darwin', env: {}, home: '/Users/me', cwd: '/Users/me/app' }
const linux: Place = { platform: 'linux', env: {}, home: '/home/me', cwd: '/home/me/app' }
const windows: Place = {
  platform: 'win32',
  env: { APPDATA: 'C:\\Users\\me\\AppData\\Roaming' },
  home: 'C:\\Users\\me',
  cwd: 'C:\\Users\\me\\app',
}

/** [client, scope, macOS, Linux, Windows]; undefined: the client has no such file. */
const TABLE: Array<[string, Scope, string | undefined, string | undefined, string | undefined]> = [
  [
    'claude-desktop',
    'user',
    '/Users/me/Library/Application Support/Claude/claude_desktop_config.json',
    '/home/me/.config/Claude/claude_desktop_config.json',
    'C:\\Users\\me\\AppData\\Roaming\\Claude\\claude_desktop_config.json',
  ],
  ['claude-desktop', 'project', undefined, undefined, undefined],
  [
    'claude-code',
    'user',
    '/Users/me/.claude.json',
    '/home/me/.claude.json',
    'C:\\Users\\me\\.claude.json',
  ],
  [
    'claude-code',
    'project',
    '/Users/me/app/.mcp.json',
    '/home/me/app/.mcp.json',
    'C:\\Users\\me\\app\\.mcp.json',
  ],
  [
    'cursor',
    'user',
    '/Users/me/.cursor/mcp.json',
    '/home/me/.cursor/mcp.json',
    'C:\\Users\\me\\.cursor\\mcp.json',
  ],
  [
    'cursor',
    'project',
    '/Users/me/app/.cursor/mcp.json',
    '/home/me/app/.cursor/mcp.json',
    'C:\\Users\\me\\app\\.cursor\\mcp.json',
  ],
  [
    'vscode',
    'user',
    '/Users/me/Library/Application Support/Code/User/mcp.json',
    '/home/me/.config/Code/User/mcp.json',
    'C:\\Users\\me\\AppData\\Roaming\\Code\\User\\mcp.json',
  ],
  [
    'vscode',
    'project',
    '/Users/me/app/.vscode/mcp.json',
    '/home/me/app/.vscode/mcp.json',
    'C:\\Users\\me\\app\\.vscode\\mcp.json',
  ],
  [
    'windsurf',
    'user',
    '/Users/me/.codeium/windsurf/mcp_config.json',
    '/home/me/.codeium/windsurf/mcp_config.json',
    'C:\\Users\\me\\.codeium\\windsurf\\mcp_config.json',
  ],
  ['windsurf', 'project', undefined, undefined, undefined],
  [
    'codex',
    'user',
    '/Users/me/.codex/config.toml',
    '/home/me/.codex/config.toml',
    'C:\\Users\\me\\.codex\\config.toml',
  ],
  [
    'codex',
    'project',
    '/Users/me/app/.codex/config.toml',
    '/home/me/app/.codex/config.toml',
    'C:\\Users\\me\\app\\.codex\\config.toml',
  ],
  [
    'gemini',
    'user',
    '/Users/me/.gemini/settings.json',
    '/home/me/.gemini/settings.json',
    'C:\\Users\\me\\.gemini\\settings.json',
  ],
  [
    'gemini',
    'project',
    '/Users/me/app/.gemini/settings.json',
    '/home/me/app/.gemini/settings.json',
    'C:\\Users\\me\\app\\.gemini\\settings.json',
  ],
]

describe('where each client keeps its config', () => {
  it('covers every client and scope', () => {
    expect(TABLE.map(([id, scope]) => `${id}:${scope}`).sort()).toEqual(
      CLIENT_IDS.flatMap((id) => [`${id}:project`, `${id}:user`]).sort(),
    )
  })

  it.each(TABLE)('%s (%s)', (id, scope, onMac, onLinux, onWindows) => {
    const client = MCP_CLIENTS[id as keyof typeof MCP_CLIENTS]
    expect(client.locate(scope, mac)).toBe(onMac)
    expect(client.locate(scope, linux)).toBe(onLinux)
    expect(client.locate(scope, windows)).toBe(onWindows)
  })

  it('follows XDG_CONFIG_HOME, %APPDATA% defaults and CODEX_HOME', () => {
    const xdg = { ...linux, env: { XDG_CONFIG_HOME: '/xdg' } }
    expect(MCP_CLIENTS.vscode.locate('user', xdg)).toBe('/xdg/Code/User/mcp.json')
    expect(MCP_CLIENTS['claude-desktop'].locate('user', xdg)).toBe(
      '/xdg/Claude/claude_desktop_config.json',
    )
    expect(MCP_CLIENTS.vscode.locate('user', { ...windows, env: {} })).toBe(
      'C:\\Users\\me\\AppData\\Roaming\\Code\\User\\mcp.json',
    )
    expect(MCP_CLIENTS.codex.locate('user', { ...linux, env: { CODEX_HOME: '/opt/codex' } })).toBe(
      '/opt/codex/config.toml',
    )
  })
})

describe('findConfigs', () => {
  let dir: string | undefined
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true })
  })

  it('finds the files that exist, user and project, each once', async () => {
    dir = await mkdtemp(join(tmpdir(), 'kw-find-configs-'))
    const home = join(dir, 'home')
    const files = [
      join(home, '.cursor', 'mcp.json'),
      join(home, '.codex', 'config.toml'),
      join(home, '.config', 'Code', 'User', 'mcp.json'),
      join(home, 'app', '.mcp.json'),
    ]
    for (const file of files) {
      await mkdir(join(file, '..'), { recursive: true })
      await writeFile(file, '{}')
    }
    // A folder where a file would be is no config.
    await mkdir(join(home, '.gemini', 'settings.json'), { recursive: true })
    const found = await findConfigs({ platform: 'linux', env: {}, home, cwd: join(home, 'app') })
    expect(found.map(({ client, scope, file }) => [client.id, scope, file])).toEqual([
      ['claude-code', 'project', files[3]],
      ['cursor', 'user', files[0]],
      ['vscode', 'user', files[2]],
      ['codex', 'user', files[1]],
    ])
    // Run from the home folder, Cursor's user file is also its project file: listed once.
    const fromHome = await findConfigs({ platform: 'linux', env: {}, home, cwd: home })
    expect(fromHome.filter(({ client }) => client.id === 'cursor')).toHaveLength(1)
  })
})
