/**
 * What holds a finding: the variable or key it is assigned to, and for an MCP configuration
 * the server whose entry it is in. This names the secret in the vault (`GITHUB_TOKEN` →
 * `github_token`) and decides how `--fix` can move it.
 */
import { findNodeAtLocation, getLocation, type JSONPath, type Node, parseTree } from 'jsonc-parser'
import { parseAssignments } from '../../import/parse.ts'
import type { SourceFormat } from '../sources/index.ts'

/** Where in its file a finding sits. */
export interface Place {
  /** The variable or key the value is assigned to, when there is one. */
  variable?: string
  /** For JSON: the path of keys to the value (`["mcpServers", "github", "env", "GITHUB_TOKEN"]`). */
  path?: JSONPath
  /** For an MCP configuration: the server entry holding the value. */
  server?: string
  /**
   * The whole value the secret sits in, when it is assigned to a variable or key: what `--fix`
   * would store (a URL with a password, not only the part the rule matched). Compared with the
   * vault and fingerprinted instead of the match.
   */
  value?: string
}

/** Places findings of one file; the file is parsed once, whatever the number of findings. */
export function createLocator(format: SourceFormat, content: string) {
  const lines = content.split('\n')
  let assignments: ReturnType<typeof parseAssignments> | undefined
  let tree: Node | undefined
  return (offset: number, line: number): Place => {
    const text = lines[line - 1] ?? ''
    switch (format) {
      case 'shell':
      case 'dotenv': {
        assignments ??= parseAssignments(content, format)
        const assignment = assignments.assignments.find(
          (candidate) => candidate.line <= line && line <= candidate.endLine,
        )
        if (assignment) return { variable: assignment.variable, value: assignment.value }
        const variable = assignments.skipped.find((candidate) => candidate.line === line)?.variable
        return variable === undefined ? {} : { variable }
      }
      case 'fish': {
        // `set -gx NAME value`: fish's only way to set a variable.
        const variable = /^\s*set\s+(?:-[A-Za-z-]+\s+)*([A-Za-z_][A-Za-z0-9_]*)\s/.exec(text)?.[1]
        return variable === undefined ? {} : { variable }
      }
      case 'json': {
        const place = jsonPlace(getLocation(content, offset + 1).path)
        tree ??= parseTree(content, [], { allowTrailingComma: true })
        const node = tree && place.path ? findNodeAtLocation(tree, place.path) : undefined
        return typeof node?.value === 'string' ? { ...place, value: node.value } : place
      }
      case 'toml': {
        const column = offset - lineStart(content, offset)
        const variable = keyBefore(text.slice(0, column))
        const server = lastTomlServer(lines.slice(0, line))
        return { ...(variable === undefined ? {} : { variable }), ...(server ? { server } : {}) }
      }
      default: {
        const column = offset - lineStart(content, offset)
        const variable = keyBefore(text.slice(0, column))
        return variable === undefined ? {} : { variable }
      }
    }
  }
}

/**
 * The variable and server of a JSON path: `mcpServers.<server>.env.<VAR>` (Claude, Cursor,
 * Windsurf, Gemini), `servers.<server>.env.<VAR>` (VS Code), `projects.<dir>.mcpServers…`
 * (Claude Code's per-project servers in `~/.claude.json`), and otherwise the last key.
 */
function jsonPlace(path: JSONPath): Place {
  const last = path.at(-1)
  const variable = typeof last === 'string' ? last : undefined
  const at = path.findIndex((key) => key === 'mcpServers' || key === 'servers')
  const server = at === -1 ? undefined : path[at + 1]
  return {
    path,
    ...(variable === undefined ? {} : { variable }),
    ...(typeof server === 'string' ? { server } : {}),
  }
}

function lineStart(content: string, offset: number): number {
  return content.lastIndexOf('\n', offset - 1) + 1
}

/**
 * The key a value on this line is assigned to, from the text before it: `KEY = "`, `key: `,
 * `"KEY": "`, `//registry/:_authToken=`. Only a name for the report and the vault.
 */
function keyBefore(prefix: string): string | undefined {
  return /([A-Za-z_][A-Za-z0-9_.-]*)["']?\s*[:=]\s*["']?$/.exec(prefix)?.[1]
}

/** The server of the last `[mcp_servers.NAME]` (or `[mcp_servers.NAME.env]`) table so far. */
function lastTomlServer(lines: readonly string[]): string | undefined {
  for (let index = lines.length - 1; index >= 0; index--) {
    const header = /^\s*\[\s*([^\]]+?)\s*\]/.exec(lines[index] ?? '')?.[1]
    if (header === undefined) continue
    const match = /^mcp_servers\.(?:"([^"]+)"|([A-Za-z0-9_-]+))/.exec(header)
    return match?.[1] ?? match?.[2]
  }
  return undefined
}
