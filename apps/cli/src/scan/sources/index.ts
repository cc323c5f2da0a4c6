/**
 * Where `keywarden scan` looks: the files in which shells, MCP clients and command-line tools
 * keep tokens in plaintext, at each tool's documented place on macOS, Linux and Windows, and
 * the `.env*` files under a project directory.
 */
import type { Dirent } from 'node:fs'
import { readdir, readFile, stat } from 'node:fs/promises'
import { posix, relative, sep, win32 } from 'node:path'
import type { Environment } from '@keywarden/core'
import ignore, { type Ignore } from 'ignore'
import { isDotenvFile } from '../../import/parse.ts'
import { MCP_CLIENTS } from '../../mcp-clients/index.ts'

/** How a file is written, which decides how a finding's variable is read from it. */
export type SourceFormat =
  | 'shell'
  | 'fish'
  | 'dotenv'
  | 'json'
  | 'toml'
  | 'yaml'
  | 'npmrc'
  | 'netrc'

/** What a file is, for the report. */
export type SourceGroup = 'shell' | 'mcp' | 'project' | 'credentials'

/** The MCP clients whose configurations are scanned. */
export type McpClient =
  | 'claude-desktop'
  | 'claude-code'
  | 'cursor'
  | 'vscode'
  | 'windsurf'
  | 'codex'
  | 'gemini'

/** A file to scan (it may not exist: the scan skips what is not there). */
export interface ScanTarget {
  path: string
  format: SourceFormat
  group: SourceGroup
  /** For MCP configurations: whose. */
  client?: McpClient
}

/** Where to look. */
export interface SourceOptions {
  /** The user's home (`$HOME`). */
  home: string
  env: Environment
  platform?: NodeJS.Platform
  /** The project directory: its MCP files, and every `.env*` file under it. */
  dir: string
  /** Leave out what the project's `.gitignore` files ignore (what git would not commit). */
  respectGitignore?: boolean
}

/**
 * The files of the user's home and of the project directory, before the walk for `.env*`
 * files ({@link findDotenvFiles}). The order is the report's.
 */
export function homeTargets(options: SourceOptions): ScanTarget[] {
  const { home, env, dir } = options
  const platform = options.platform ?? process.platform
  const path = platform === 'win32' ? win32 : posix
  const configHome = env.XDG_CONFIG_HOME || path.join(home, '.config')
  // Windows keeps application data in %APPDATA%; the others use their own folders.
  const appData = env.APPDATA || path.join(home, 'AppData', 'Roaming')
  const zdotdir = env.ZDOTDIR || home
  const vscodeUser =
    platform === 'win32'
      ? path.join(appData, 'Code', 'User')
      : platform === 'darwin'
        ? path.join(home, 'Library', 'Application Support', 'Code', 'User')
        : path.join(configHome, 'Code', 'User')
  const ghConfig =
    env.GH_CONFIG_DIR ||
    (env.XDG_CONFIG_HOME
      ? path.join(env.XDG_CONFIG_HOME, 'gh')
      : platform === 'win32'
        ? path.join(appData, 'GitHub CLI')
        : path.join(home, '.config', 'gh'))

  const shell = (file: string, format: SourceFormat = 'shell'): ScanTarget => ({
    path: file,
    format,
    group: 'shell',
  })
  const mcp = (client: McpClient, file: string, format: SourceFormat = 'json'): ScanTarget => ({
    path: file,
    format,
    group: 'mcp',
    client,
  })
  const credentials = (file: string, format: SourceFormat): ScanTarget => ({
    path: file,
    format,
    group: 'credentials',
  })
  return [
    shell(path.join(zdotdir, '.zshrc')),
    shell(path.join(zdotdir, '.zshenv')),
    shell(path.join(zdotdir, '.zprofile')),
    shell(path.join(home, '.bashrc')),
    shell(path.join(home, '.bash_profile')),
    shell(path.join(home, '.bash_login')),
    shell(path.join(home, '.profile')),
    shell(path.join(configHome, 'fish', 'config.fish'), 'fish'),
    mcp(
      'claude-desktop',
      MCP_CLIENTS['claude-desktop'].locate('user', { platform, env, home, cwd: dir }) ?? '',
    ),
    mcp('claude-code', path.join(home, '.claude.json')),
    mcp('claude-code', path.join(dir, '.mcp.json')),
    mcp('cursor', path.join(home, '.cursor', 'mcp.json')),
    mcp('cursor', path.join(dir, '.cursor', 'mcp.json')),
    mcp('vscode', path.join(vscodeUser, 'mcp.json')),
    mcp('vscode', path.join(dir, '.vscode', 'mcp.json')),
    mcp('windsurf', path.join(home, '.codeium', 'windsurf', 'mcp_config.json')),
    mcp('codex', path.join(env.CODEX_HOME || path.join(home, '.codex'), 'config.toml'), 'toml'),
    mcp('gemini', path.join(home, '.gemini', 'settings.json')),
    mcp('gemini', path.join(dir, '.gemini', 'settings.json')),
    credentials(env.NPM_CONFIG_USERCONFIG || path.join(home, '.npmrc'), 'npmrc'),
    credentials(path.join(dir, '.npmrc'), 'npmrc'),
    credentials(env.NETRC || path.join(home, platform === 'win32' ? '_netrc' : '.netrc'), 'netrc'),
    credentials(path.join(ghConfig, 'hosts.yml'), 'yaml'),
    credentials(path.join(env.DOCKER_CONFIG || path.join(home, '.docker'), 'config.json'), 'json'),
  ]
}

/** The fish configuration snippets in `conf.d`, which fish reads like `config.fish`. */
export async function fishSnippets(options: SourceOptions): Promise<ScanTarget[]> {
  const configHome = options.env.XDG_CONFIG_HOME || posix.join(options.home, '.config')
  const folder = posix.join(configHome, 'fish', 'conf.d')
  const entries = await readdir(folder, { withFileTypes: true }).catch(() => [])
  return entries
    .filter((entry) => entry.name.endsWith('.fish') && !entry.isDirectory())
    .map((entry) => ({ path: posix.join(folder, entry.name), format: 'fish', group: 'shell' }))
}

// Never walked: git's own data, and installed packages (their .env files are not the user's).
const SKIPPED_FOLDERS = new Set(['.git', 'node_modules'])

/** A `.gitignore` and the folder its patterns are relative to. */
interface GitignoreLevel {
  base: string
  rules: Ignore
}

/**
 * Every `.env*` (and `*.env`) file under `dir`: a folder's files, then its subfolders, in name order. Symbolic links to
 * folders are not followed (a loop, or half the disk); links to files are taken. With
 * `respectGitignore`, each folder's `.gitignore` applies below it, as git reads them.
 */
export async function findDotenvFiles(
  dir: string,
  options: { respectGitignore?: boolean } = {},
): Promise<ScanTarget[]> {
  const found: ScanTarget[] = []
  const stack: Array<{ folder: string; levels: GitignoreLevel[] }> = [{ folder: dir, levels: [] }]
  while (stack.length > 0) {
    const next = stack.pop()
    if (!next) break
    const entries = await readdir(next.folder, { withFileTypes: true }).catch((): Dirent[] => [])
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
    const levels = options.respectGitignore
      ? await withGitignore(next.folder, entries, next.levels)
      : next.levels
    const folders: string[] = []
    for (const entry of entries) {
      const path = `${next.folder}${sep}${entry.name}`
      if (entry.isDirectory()) {
        if (SKIPPED_FOLDERS.has(entry.name) || ignored(levels, path, true)) continue
        folders.push(path)
      } else if (isDotenvFile(entry.name) && !ignored(levels, path, false)) {
        if (entry.isFile() || (entry.isSymbolicLink() && (await isFile(path)))) {
          found.push({ path, format: 'dotenv', group: 'project' })
        }
      }
    }
    // Reversed onto the stack, so folders come out in name order.
    for (const folder of folders.reverse()) stack.push({ folder, levels })
  }
  return found
}

async function withGitignore(
  folder: string,
  entries: readonly Dirent[],
  levels: GitignoreLevel[],
): Promise<GitignoreLevel[]> {
  if (!entries.some((entry) => entry.name === '.gitignore' && entry.isFile())) return levels
  const text = await readFile(`${folder}${sep}.gitignore`, 'utf8').catch(() => '')
  return [...levels, { base: folder, rules: ignore().add(text) }]
}

/**
 * Whether git would ignore `path`: each level from the top decides in turn, a deeper
 * `.gitignore` able to re-include (`!pattern`) what a higher one ignored.
 */
function ignored(levels: readonly GitignoreLevel[], path: string, folder: boolean): boolean {
  let result = false
  for (const level of levels) {
    const relativePath = relative(level.base, path).split(sep).join('/')
    const verdict = level.rules.test(folder ? `${relativePath}/` : relativePath)
    if (verdict.ignored) result = true
    else if (verdict.unignored) result = false
  }
  return result
}

async function isFile(path: string): Promise<boolean> {
  return stat(path).then(
    (stats) => stats.isFile(),
    () => false,
  )
}
