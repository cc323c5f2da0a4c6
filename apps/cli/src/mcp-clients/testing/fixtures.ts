/**
 * Test-only: a realistic config file for each MCP client, as people have them — comments,
 * several servers, only some with tokens, references the client resolves, other settings —
 * with fake tokens in the real formats (each says FAKE and ends in random hex, so no output
 * could contain one by chance). One server of each, `probe`, reports the token it receives.
 */
import { randomBytes } from 'node:crypto'
import type { ClientId } from '../client.ts'

const random = (length: number) => randomBytes(length).toString('hex').slice(0, length)

/** Fake tokens, one per kind, made fresh for each test run. */
export const TOKENS = {
  github: `ghp_FAKE${random(32)}`,
  openai: `sk-proj-FAKE${random(40)}`,
  slack: `xoxb-000000000000-0000000000000-FAKE${random(20)}`,
  anthropic: `sk-ant-api03-FAKE${random(40)}`,
  stripe: `sk_test_FAKE${random(40)}`,
  supabase: `sb_secret_FAKE${random(28)}`,
  sentry: `sntrys_FAKE${random(40)}`,
  linear: `lin_api_FAKE${random(36)}`,
} as const

/**
 * The probe server: prints the length and SHA-256 of the variable named by its argument,
 * which prove the value it got without being one of the forms `keywarden run` masks.
 */
export const PROBE = `const t = process.env[process.argv[1]] ?? ''; process.stdout.write(t.length + ':' + require('node:crypto').createHash('sha256').update(t).digest('hex'))`

/** One client's file. */
export interface Fixture {
  client: ClientId
  /** Where the client keeps it, relative to the home folder (user) or the project (project). */
  path: string
  scope: 'user' | 'project'
  text: string
  /** Comments in the text that every edit must keep. */
  comments: string[]
  /** The servers object's path. */
  servers: string[]
  /** The servers --wrap rewrites (`name` or `name@project` for Claude Code's projects). */
  wrapped: string[]
  /** The probe's variable and its token. */
  probe: { variable: string; token: string }
}

const q = JSON.stringify
const node = process.execPath
const probeArgs = (variable: string) => q(['-e', PROBE, variable])

/** Every client's fixture. */
export function fixtures(): Fixture[] {
  return [
    {
      client: 'claude-desktop',
      path: '.config/Claude/claude_desktop_config.json',
      scope: 'user',
      // Claude Desktop reads strict JSON, written by itself with 2 spaces.
      text: `${JSON.stringify(
        {
          globalShortcut: 'Alt+Space',
          mcpServers: {
            github: {
              command: 'npx',
              args: ['-y', '@modelcontextprotocol/server-github'],
              env: { GITHUB_PERSONAL_ACCESS_TOKEN: TOKENS.github, GITHUB_HOST: 'github.com' },
            },
            filesystem: {
              command: 'npx',
              args: ['-y', '@modelcontextprotocol/server-filesystem', '/Users/me/Desktop'],
            },
            probe: {
              command: node,
              args: ['-e', PROBE, 'GITHUB_PERSONAL_ACCESS_TOKEN'],
              env: { GITHUB_PERSONAL_ACCESS_TOKEN: TOKENS.github },
            },
          },
          preferences: { theme: 'dark' },
        },
        null,
        2,
      )}\n`,
      comments: [],
      servers: ['mcpServers'],
      wrapped: ['github', 'probe'],
      probe: { variable: 'GITHUB_PERSONAL_ACCESS_TOKEN', token: TOKENS.github },
    },
    {
      client: 'claude-code',
      path: '.claude.json',
      scope: 'user',
      // Written by Claude Code: user servers at the top, `claude mcp add`'s local ones per project.
      text: `{
  "numStartups": 42,
  "theme": "dark",
  "mcpServers": {
    "sentry": {
      "type": "stdio",
      "command": "npx",
      "args": ["-y", "@sentry/mcp-server"],
      "env": { "SENTRY_AUTH_TOKEN": ${q(TOKENS.sentry)}, "SENTRY_HOST": "sentry.io" }
    },
    "probe": {
      "type": "stdio",
      "command": ${q(node)},
      "args": ${probeArgs('ANTHROPIC_API_KEY')},
      "env": { "ANTHROPIC_API_KEY": ${q(TOKENS.anthropic)} }
    }
  },
  "projects": {
    "/home/me/app": {
      "allowedTools": [],
      "mcpServers": {
        "github": {
          "type": "stdio",
          "command": "docker",
          "args": ["run", "-i", "--rm", "-e", "GITHUB_PERSONAL_ACCESS_TOKEN", "ghcr.io/github/github-mcp-server"],
          "env": { "GITHUB_PERSONAL_ACCESS_TOKEN": ${q(TOKENS.github)} }
        }
      }
    },
    "/home/me/docs": { "allowedTools": ["Read"], "hasTrustDialogAccepted": true }
  }
}
`,
      comments: [],
      servers: ['mcpServers'],
      wrapped: ['sentry', 'probe', 'github@/home/me/app'],
      probe: { variable: 'ANTHROPIC_API_KEY', token: TOKENS.anthropic },
    },
    {
      client: 'cursor',
      path: '.cursor/mcp.json',
      scope: 'user',
      text: `// Cursor MCP servers, edited by hand
{
  "mcpServers": {
    // Linear, with a personal API key pasted in
    "linear": {
      "command": "npx",
      "args": ["-y", "linear-mcp-server"],
      "env": {
        "LINEAR_API_KEY": ${q(TOKENS.linear)},
        "LINEAR_TEAM": "ENG" // the team to file into
      }
    },
    /* A remote server: Cursor fills in the reference itself */
    "context7": {
      "url": "https://mcp.context7.com/mcp",
      "headers": { "CONTEXT7_API_KEY": "\${env:CONTEXT7_API_KEY}" }
    },
    "probe": {
      "command": ${q(node)},
      "args": ${probeArgs('OPENAI_API_KEY')},
      "env": { "OPENAI_API_KEY": ${q(TOKENS.openai)} }
    }
  }
}
`,
      comments: [
        '// Cursor MCP servers, edited by hand',
        '// Linear, with a personal API key pasted in',
        '// the team to file into',
        '/* A remote server: Cursor fills in the reference itself */',
      ],
      servers: ['mcpServers'],
      wrapped: ['linear', 'probe'],
      probe: { variable: 'OPENAI_API_KEY', token: TOKENS.openai },
    },
    {
      client: 'vscode',
      path: '.vscode/mcp.json',
      scope: 'project',
      text: `{
  // Prompted once, then kept in VS Code's secret storage
  "inputs": [
    {
      "type": "promptString",
      "id": "github-token",
      "description": "GitHub personal access token",
      "password": true
    }
  ],
  "servers": {
    "github": {
      "type": "stdio",
      "command": "npx",
      "args": ["-y", "@modelcontextprotocol/server-github"],
      "env": { "GITHUB_PERSONAL_ACCESS_TOKEN": "\${input:github-token}" }
    },
    /* Slack: the bot token pasted in */
    "slack": {
      "type": "stdio",
      "command": "npx",
      "args": ["-y", "@modelcontextprotocol/server-slack"],
      "env": {
        "SLACK_BOT_TOKEN": ${q(TOKENS.slack)},
        "SLACK_TEAM_ID": "T00000000"
      }
    },
    "probe": {
      "type": "stdio",
      "command": ${q(node)},
      "args": ${probeArgs('SLACK_BOT_TOKEN')},
      "env": { "SLACK_BOT_TOKEN": ${q(TOKENS.slack)} },
    },
  },
}
`,
      comments: [
        "// Prompted once, then kept in VS Code's secret storage",
        '/* Slack: the bot token pasted in */',
      ],
      servers: ['servers'],
      wrapped: ['slack', 'probe'],
      probe: { variable: 'SLACK_BOT_TOKEN', token: TOKENS.slack },
    },
    {
      client: 'windsurf',
      path: '.codeium/windsurf/mcp_config.json',
      scope: 'user',
      // Four spaces, as Windsurf's own editor leaves it.
      text: `${JSON.stringify(
        {
          mcpServers: {
            stripe: {
              command: 'npx',
              args: ['-y', '@stripe/mcp', '--tools=all'],
              env: { STRIPE_SECRET_KEY: TOKENS.stripe },
              disabled: false,
            },
            probe: {
              command: node,
              args: ['-e', PROBE, 'STRIPE_SECRET_KEY'],
              env: { STRIPE_SECRET_KEY: TOKENS.stripe },
            },
            remote: { serverUrl: 'https://mcp.example.com/sse' },
          },
        },
        null,
        4,
      )}\n`,
      comments: [],
      servers: ['mcpServers'],
      wrapped: ['stripe', 'probe'],
      probe: { variable: 'STRIPE_SECRET_KEY', token: TOKENS.stripe },
    },
    {
      client: 'codex',
      path: '.codex/config.toml',
      scope: 'user',
      text: `# Codex CLI configuration
model = "gpt-5-codex"          # the default model
approval_policy = "on-request"

[mcp_servers.github]
# GitHub's server, the token inline
command = "npx"
args = ["-y", "@modelcontextprotocol/server-github"]
env = { "GITHUB_PERSONAL_ACCESS_TOKEN" = ${q(TOKENS.github)}, GITHUB_HOST = "github.com" }
startup_timeout_sec = 20

[mcp_servers.docs]
command = "uvx"
args = ["mcp-docs"]   # no secrets here

[mcp_servers.probe]
command = ${q(node)}
args = ${probeArgs('ANTHROPIC_API_KEY')}

  [mcp_servers.probe.env]
  ANTHROPIC_API_KEY = ${q(TOKENS.anthropic)}
  LOG_LEVEL = "debug"   # stays as it is

[profiles.fast]
# a quicker model for small tasks
model = "o4-mini"
`,
      comments: [
        '# Codex CLI configuration',
        '# the default model',
        '# no secrets here',
        '# stays as it is',
        '# a quicker model for small tasks',
      ],
      servers: ['mcp_servers'],
      wrapped: ['github', 'probe'],
      probe: { variable: 'ANTHROPIC_API_KEY', token: TOKENS.anthropic },
    },
    {
      client: 'gemini',
      path: '.gemini/settings.json',
      scope: 'user',
      text: `{
  // Gemini CLI settings
  "theme": "GitHub",
  "selectedAuthType": "gemini-api-key",
  "mcpServers": {
    "supabase": {
      "command": "npx",
      "args": ["-y", "@supabase/mcp-server-supabase@latest", "--read-only"],
      "env": { "SUPABASE_SECRET_KEY": ${q(TOKENS.supabase)} },
      "trust": false
    },
    // Gemini CLI expands $VAR itself: no plaintext here
    "context": {
      "command": "node",
      "args": ["/opt/context/index.js"],
      "env": { "AUGMENT_API_TOKEN": "$AUGMENT_API_TOKEN" }
    },
    "probe": {
      "command": ${q(node)},
      "args": ${probeArgs('SUPABASE_SECRET_KEY')},
      "env": { "SUPABASE_SECRET_KEY": ${q(TOKENS.supabase)} },
      "timeout": 30000
    }
  }
}
`,
      comments: ['// Gemini CLI settings', '// Gemini CLI expands $VAR itself: no plaintext here'],
      servers: ['mcpServers'],
      wrapped: ['supabase', 'probe'],
      probe: { variable: 'SUPABASE_SECRET_KEY', token: TOKENS.supabase },
    },
  ]
}
