import { describe, expect, it } from 'vitest'
import { createLocator } from './index.ts'

/** The place of the first occurrence of `needle` in `content`. */
function placeOf(format: Parameters<typeof createLocator>[0], content: string, needle: string) {
  const offset = content.indexOf(needle)
  const line = content.slice(0, offset).split('\n').length
  return createLocator(format, content)(offset, line)
}

describe('createLocator', () => {
  it('shell and .env: the assignment, with its whole value', () => {
    const rc = 'export PATH=/bin\nexport DATABASE_URL="postgres://u:VALUE@h/db"\n'
    expect(placeOf('shell', rc, 'VALUE')).toEqual({
      variable: 'DATABASE_URL',
      value: 'postgres://u:VALUE@h/db',
    })
    // Not an assignment of its own: the variable, no value to store.
    expect(placeOf('shell', "alias x='TOKEN=VALUE ./run'\n", 'VALUE')).toEqual({})
  })

  it('fish: set -gx NAME value', () => {
    expect(placeOf('fish', 'set -gx LINEAR_API_KEY VALUE\n', 'VALUE')).toEqual({
      variable: 'LINEAR_API_KEY',
    })
  })

  it('JSON and JSONC: the path, the MCP server and the string', () => {
    const claude = '{"mcpServers":{"gh":{"env":{"GITHUB_TOKEN":"VALUE"}}}}'
    expect(placeOf('json', claude, 'VALUE')).toEqual({
      path: ['mcpServers', 'gh', 'env', 'GITHUB_TOKEN'],
      variable: 'GITHUB_TOKEN',
      server: 'gh',
      value: 'VALUE',
    })
    const vscode = '{\n  // comment\n  "servers": { "v": { "args": ["--t", "VALUE"], }, },\n}'
    expect(placeOf('json', vscode, 'VALUE')).toMatchObject({
      path: ['servers', 'v', 'args', 1],
      server: 'v',
      value: 'VALUE',
    })
  })

  it('TOML: the key before the value and the [mcp_servers.NAME] table', () => {
    const codex =
      '[mcp_servers.figma.env]\nFIGMA_API_KEY = "VALUE"\n[mcp_servers.cf]\nenv = { "CF_TOKEN" = "OTHER" }\n'
    expect(placeOf('toml', codex, 'VALUE')).toEqual({ variable: 'FIGMA_API_KEY', server: 'figma' })
    expect(placeOf('toml', codex, 'OTHER')).toEqual({ variable: 'CF_TOKEN', server: 'cf' })
  })

  it('other files: the key before the value, when there is one', () => {
    expect(placeOf('yaml', 'github.com:\n    oauth_token: VALUE\n', 'VALUE')).toEqual({
      variable: 'oauth_token',
    })
    expect(placeOf('netrc', 'machine h login me password VALUE\n', 'VALUE')).toEqual({})
  })
})
