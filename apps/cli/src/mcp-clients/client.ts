/**
 * What every MCP client module provides: where the client keeps its config on each platform,
 * where the server entries sit in it, and how Keywarden's own entry is spelled there. Planning
 * and applying the edits is shared (../wrap), done through the file's document.
 */
import { posix, win32 } from 'node:path'
import type { Environment } from '@keywarden/core'
import type { DocumentFormat, JsonObject } from './document/index.ts'

/** The clients `keywarden mcp-config --client` knows. */
export const CLIENT_IDS = [
  'claude-desktop',
  'claude-code',
  'cursor',
  'vscode',
  'windsurf',
  'codex',
  'gemini',
] as const

/** One of {@link CLIENT_IDS}. */
export type ClientId = (typeof CLIENT_IDS)[number]

/** A user's own file (in the home folder) or a project's (in its folder, often committed). */
export type Scope = 'user' | 'project'

/** Where to look: the platform, its environment, the home folder and the project folder. */
export interface Place {
  platform: NodeJS.Platform
  env: Environment
  home: string
  /** The project folder (the working directory). */
  cwd: string
}

/** A servers object in a file: its path, and what to call it in messages when not the main one. */
export interface ServersAt {
  path: string[]
  /** e.g. `project /home/me/app` for Claude Code's per-project servers in ~/.claude.json. */
  where?: string
}

/** A launcher: the command and its leading arguments. */
export interface Launcher {
  command: string
  args: string[]
}

/** One MCP client. */
export interface McpClient {
  id: ClientId
  /** Its name for people, e.g. `Claude Desktop`. */
  name: string
  format: DocumentFormat
  /** The config file for `scope`, or undefined when the client has no file of that scope. */
  locate(scope: Scope, place: Place): string | undefined
  /** Every servers object in the file; the first is where Keywarden's own entry goes. */
  servers(data: JsonObject): ServersAt[]
  /** Keywarden's entry (`keywarden-mcp` started by `launcher` with `env`) as this client spells it. */
  keywardenEntry(launcher: Launcher, env: Record<string, string>): JsonObject
}

/** `path.join` of the platform the paths are for (Windows paths on any machine, for tests). */
export function joinFor(platform: NodeJS.Platform): (...parts: string[]) => string {
  return platform === 'win32' ? win32.join : posix.join
}

/**
 * The per-user application data folder Electron apps (Claude Desktop, VS Code) use:
 * Application Support on macOS, %APPDATA% on Windows, $XDG_CONFIG_HOME (default ~/.config)
 * elsewhere.
 */
export function appDataDir({ platform, env, home }: Place): string {
  const join = joinFor(platform)
  if (platform === 'win32') return env.APPDATA || join(home, 'AppData', 'Roaming')
  if (platform === 'darwin') return join(home, 'Library', 'Application Support')
  return env.XDG_CONFIG_HOME || join(home, '.config')
}

/** The plain `{command, args, env}` entry most clients use. */
export function stdioEntry(launcher: Launcher, env: Record<string, string>): JsonObject {
  return { command: launcher.command, args: launcher.args, env }
}
