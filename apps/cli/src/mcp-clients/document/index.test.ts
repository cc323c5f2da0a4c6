/**
 * Editing a config file keeps what the user wrote: comments, key order, formatting, in JSONC
 * and in TOML; and a syntax error is reported by position, never by quoting the text.
 */
import { parse as parseToml } from 'smol-toml'
import { describe, expect, it } from 'vitest'
import { parseDocument } from './index.ts'

const FAKE = 'ghp_FAKE0000000000000000000000000000test'

describe('JSON and JSONC', () => {
  const text = `{
    // servers, by hand
    "mcpServers": {
        "github": {
            "command": "npx", /* pinned below */
            "env": { "GITHUB_TOKEN": "${FAKE}", "HOST": "github.com" } // host stays
        }
    },
    "theme": "dark",
}
`
  it('edits in place: comments, 4-space indent, trailing comma and order survive', () => {
    const document = parseDocument(text, 'json', 'mcp.json')
    document.set(['mcpServers', 'github', 'env', 'GITHUB_TOKEN'], undefined)
    document.set(['mcpServers', 'github', 'env', 'KEYWARDEN_HOME'], '/h', { first: true })
    document.set(['mcpServers', 'keywarden'], { command: 'node', args: ['k.js'] })
    const written = document.text()
    expect(written).not.toContain(FAKE)
    for (const kept of [
      '// servers, by hand',
      '/* pinned below */',
      '"HOST": "github.com"\n            } // host stays',
      '"theme": "dark",\n}',
    ]) {
      expect(written).toContain(kept)
    }
    expect(written).toContain('\n        "keywarden": {\n            "command": "node",')
    expect(Object.keys(document.data.mcpServers as object)).toEqual(['github', 'keywarden'])
  })

  it('an empty file is an empty object; a broken one says where, not what', () => {
    const empty = parseDocument('  \n', 'json', 'a.json')
    empty.set(['servers', 'keywarden'], { command: 'node' })
    expect(JSON.parse(empty.text())).toEqual({ servers: { keywarden: { command: 'node' } } })
    const broken = `{\n  "env": { "TOKEN": ${FAKE} }\n}\n`
    expect(() => parseDocument(broken, 'json', 'b.json')).toThrow(
      /^b\.json is not valid JSON \(line 2, column 21\); nothing was written$/,
    )
    expect(() => parseDocument('[1]', 'json', 'c.json')).toThrow('does not hold a JSON object')
  })
})

describe('TOML', () => {
  const text = `# Codex
model = "gpt-5-codex"   # default

[mcp_servers.github]
command = "npx"
env = { GITHUB_TOKEN = "${FAKE}", HOST = "github.com" }

[profiles.fast]
model = "o4-mini"   # quick
`
  it('edits in place and adds a new server as its own [mcp_servers.NAME] section', () => {
    const document = parseDocument(text, 'toml', 'config.toml')
    document.set(['mcp_servers', 'github', 'env', 'GITHUB_TOKEN'], undefined)
    document.set(['mcp_servers', 'github', 'command'], 'node')
    document.set(['mcp_servers', 'keywarden'], { command: 'node', args: ['k.js'], env: { A: 'b' } })
    const written = document.text()
    expect(written).not.toContain(FAKE)
    expect(written).toBe(`# Codex
model = "gpt-5-codex"   # default

[mcp_servers.github]
command = "node"
env = { HOST = "github.com" }

[profiles.fast]
model = "o4-mini"   # quick

[mcp_servers.keywarden]
command = "node"
args = [ "k.js" ]
env = { A = "b" }
`)
    expect(parseToml(written)).toEqual({
      model: 'gpt-5-codex',
      mcp_servers: {
        github: { command: 'node', env: { HOST: 'github.com' } },
        keywarden: { command: 'node', args: ['k.js'], env: { A: 'b' } },
      },
      profiles: { fast: { model: 'o4-mini' } },
    })
  })

  it('servers in an inline mcp_servers table stay valid TOML', () => {
    const inline = 'mcp_servers = { docs = { command = "uvx" } }\n'
    const document = parseDocument(inline, 'toml', 'config.toml')
    document.set(['mcp_servers', 'keywarden'], { command: 'node' })
    expect(parseToml(document.text())).toEqual({
      mcp_servers: { docs: { command: 'uvx' }, keywarden: { command: 'node' } },
    })
  })

  it('a broken file says where, not what', () => {
    expect(() => parseDocument(`a = "${FAKE}\nb = 1\n`, 'toml', 'config.toml')).toThrow(
      /^config\.toml is not valid TOML \(line 1, column \d+\); nothing was written$/,
    )
  })
})
