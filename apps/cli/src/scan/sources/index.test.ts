/**
 * Where scan looks: each tool's documented path per platform, and the walk for .env files on
 * a real folder tree, with and without the project's .gitignore files.
 */
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { findDotenvFiles, homeTargets } from './index.ts'

let root: string
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'kw-sources-'))
})
afterAll(async () => {
  if (root) await rm(root, { recursive: true, force: true })
})

const pathsOf = (platform: NodeJS.Platform, home: string, env: Record<string, string> = {}) =>
  homeTargets({ home, env, dir: platform === 'win32' ? 'C:\\code\\app' : '/code/app', platform })

describe('homeTargets', () => {
  it('Linux: XDG places, each client, the project files', () => {
    const targets = pathsOf('linux', '/home/me')
    const paths = targets.map((t) => t.path)
    expect(paths).toContain('/home/me/.zshrc')
    expect(paths).toContain('/home/me/.config/fish/config.fish')
    expect(paths).toContain('/home/me/.config/Claude/claude_desktop_config.json')
    expect(paths).toContain('/home/me/.config/Code/User/mcp.json')
    expect(paths).toContain('/code/app/.vscode/mcp.json')
    expect(paths).toContain('/code/app/.mcp.json')
    expect(paths).toContain('/home/me/.codex/config.toml')
    expect(paths).toContain('/home/me/.config/gh/hosts.yml')
    expect(targets.find((t) => t.path.endsWith('config.toml'))?.format).toBe('toml')
  })

  it('macOS: Application Support for Claude Desktop and VS Code', () => {
    const paths = pathsOf('darwin', '/Users/me').map((t) => t.path)
    expect(paths).toContain(
      '/Users/me/Library/Application Support/Claude/claude_desktop_config.json',
    )
    expect(paths).toContain('/Users/me/Library/Application Support/Code/User/mcp.json')
    expect(paths).toContain('/Users/me/.cursor/mcp.json')
  })

  it('Windows: %APPDATA%, _netrc, GitHub CLI', () => {
    const paths = pathsOf('win32', 'C:\\Users\\me', {
      APPDATA: 'C:\\Users\\me\\AppData\\Roaming',
    }).map((t) => t.path)
    expect(paths).toContain('C:\\Users\\me\\AppData\\Roaming\\Claude\\claude_desktop_config.json')
    expect(paths).toContain('C:\\Users\\me\\AppData\\Roaming\\Code\\User\\mcp.json')
    expect(paths).toContain('C:\\Users\\me\\AppData\\Roaming\\GitHub CLI\\hosts.yml')
    expect(paths).toContain('C:\\Users\\me\\_netrc')
    expect(paths).toContain('C:\\Users\\me\\.codeium\\windsurf\\mcp_config.json')
  })

  it('the variables tools honour move their files', () => {
    const paths = pathsOf('linux', '/home/me', {
      CODEX_HOME: '/opt/codex',
      DOCKER_CONFIG: '/opt/docker',
      GH_CONFIG_DIR: '/opt/gh',
      ZDOTDIR: '/home/me/.zsh',
      NETRC: '/home/me/.secrets/netrc',
    }).map((t) => t.path)
    expect(paths).toContain('/opt/codex/config.toml')
    expect(paths).toContain('/opt/docker/config.json')
    expect(paths).toContain('/opt/gh/hosts.yml')
    expect(paths).toContain('/home/me/.zsh/.zshrc')
    expect(paths).toContain('/home/me/.secrets/netrc')
  })
})

describe('findDotenvFiles', () => {
  it('every .env* and *.env file, not in .git or node_modules, symlinked folders not followed', async () => {
    const project = join(root, 'walk')
    const files = [
      '.env',
      '.env.local',
      'prod.env',
      'apps/web/.env.production',
      'apps/web/src/index.ts',
      'node_modules/x/.env',
      '.git/.env',
      'build/app.env',
      'build/keep/app.env',
      'docs/.env.example',
    ]
    for (const file of files) {
      await mkdir(join(project, file, '..'), { recursive: true })
      await writeFile(join(project, file), 'X=1\n')
    }
    await writeFile(
      join(project, '.gitignore'),
      '.env\n.env.*\n!.env.example\nbuild/*\n!build/keep\n',
    )
    await writeFile(join(project, 'apps/web/.gitignore'), '!.env.production\n')
    await symlink(join(project, 'apps'), join(project, 'loop'))
    await symlink(join(project, '.env'), join(project, 'linked.env'))

    const all = (await findDotenvFiles(project)).map((t) => t.path.slice(project.length + 1)).sort()
    expect(all).toEqual([
      '.env',
      '.env.local',
      'apps/web/.env.production',
      'build/app.env',
      'build/keep/app.env',
      'docs/.env.example',
      'linked.env',
      'prod.env',
    ])
    const tracked = (await findDotenvFiles(project, { respectGitignore: true }))
      .map((t) => t.path.slice(project.length + 1))
      .sort()
    // What git would commit: ignored .env files are out, re-included ones are in.
    expect(tracked).toEqual([
      'apps/web/.env.production',
      'build/keep/app.env',
      'docs/.env.example',
      'linked.env',
      'prod.env',
    ])
  })
})
