/**
 * Test-only: a generated home directory with tokens of every kind `keywarden scan` knows planted
 * in every file it reads, among realistic lines that hold no secret. Tokens are made at run
 * time from random characters and split prefixes, so no token-like literal is committed (a
 * push-protection scanner would rightly refuse one).
 */
import { randomBytes } from 'node:crypto'
import { mkdir, writeFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'

const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789'

/** `n` random characters of `alphabet`. */
export function randomText(n: number, alphabet = ALNUM): string {
  let text = ''
  for (const byte of randomBytes(n)) text += alphabet[byte % alphabet.length]
  return text
}

const hex = (n: number) => randomText(n, '0123456789abcdef')
const lower = (n: number) => randomText(n, 'abcdefghijklmnopqrstuvwxyz')
const digits = (n: number) => randomText(n, '0123456789')
// Prefixes are joined at run time: `p('gh', 'p_')`.
const p = (...parts: string[]) => parts.join('')

function jwt(claims: Record<string, unknown>): string {
  const part = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url')
  return `${part({ alg: 'HS256', typ: 'JWT' })}.${part(claims)}.${randomText(43)}`
}

function pem(): string {
  const body = `MII${randomBytes(600).toString('base64')}`
  const lines = body.match(/.{1,64}/g) ?? []
  return [p('-----BEGIN ', 'PRIVATE KEY-----'), ...lines, p('-----END ', 'PRIVATE KEY-----')].join(
    '\n',
  )
}

/** Fresh fake tokens, one per kind, keyed by the kind `keywarden scan` reports. */
export function fakeTokens() {
  return {
    githubClassic: p('gh', 'p_') + randomText(36),
    githubOauth: p('gh', 'o_') + randomText(36),
    githubFineGrained: p('github', '_pat_') + randomText(82),
    openai: `${p('sk-', 'proj-')}${randomText(74)}${p('T3Blbk', 'FJ')}${randomText(74)}`,
    anthropic: `${p('sk-ant-', 'api03-')}${randomText(93)}AA`,
    awsSecret: randomText(40),
    slackBot: `${p('xo', 'xb-')}${digits(12)}-${digits(13)}-${randomText(24)}`,
    slackWebhook: `${p('https://hooks.', 'slack.com/services/T')}${randomText(10)}/B${randomText(10)}/${randomText(24)}`,
    stripe: p('sk', '_live_') + randomText(24),
    stripeRestricted: p('rk', '_live_') + randomText(24),
    npm: p('np', 'm_') + randomText(36),
    gitlab: p('glp', 'at-') + randomText(20),
    huggingface:
      p('h', 'f_') + randomText(34, 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ'),
    groq: p('gs', 'k_') + randomText(52),
    linear: p('lin', '_api_') + randomText(40),
    notion: p('nt', 'n_') + digits(11) + randomText(35),
    sendgrid: `${p('S', 'G.')}${randomText(22)}.${randomText(43)}`,
    shopify: p('shp', 'at_') + hex(32),
    vercel: p('vc', 'p_') + randomText(24),
    figma: p('fi', 'gd_') + randomText(40),
    cloudflare: p('cf', 'ut_') + randomText(40) + hex(8),
    tailscale: `${p('tskey', '-auth-')}${randomText(12)}-${randomText(30)}`,
    databricks: p('da', 'pi') + hex(32),
    vault: p('hv', 's.') + randomText(100),
    dockerPat: p('dckr', '_pat_') + randomText(27),
    postgresUrl: `${p('postgres', '://')}app:${randomText(16)}@db.internal.example.com:5432/app`,
    basicAuthUrl: `https://deploy:${randomText(14)}@ci.example.com/hooks`,
    privateKey: pem(),
    supabaseServiceRole: jwt({ iss: 'supabase', ref: lower(20), role: 'service_role', iat: 1 }),
    supabaseSecret: p('sb', '_secret_') + randomText(32),
    netrcPassword: randomText(20),
    dockerAuth: Buffer.from(`me:${randomText(27)}`).toString('base64'),
  }
}

/** Fake tokens, as {@link fakeTokens} makes them. */
export type FakeTokens = ReturnType<typeof fakeTokens>

/** A secret planted in the fake home: where, what kind, and the value (never to be printed). */
export interface Planted {
  /** Relative to the home (or the project, for paths starting `project/`). */
  file: string
  line: number
  kind: string
  value: string
  /** Whether `scan --fix` moves it into the vault. */
  fixable: boolean
}

// Lines and files that hold no secret, yet look busy: paths, URLs without credentials,
// UUIDs, hashes of lockfiles and commits, base64 images, public Supabase keys, placeholders.
function decoys() {
  const uuid = () => `${hex(8)}-${hex(4)}-4${hex(3)}-a${hex(3)}-${hex(12)}`
  return {
    uuid,
    gitSha: hex(40),
    sha256: hex(64),
    integrity: `sha512-${randomBytes(64).toString('base64')}`,
    image: `data:image/png;base64,iVBORw0KGgo${randomBytes(300).toString('base64')}`,
    anonKey: jwt({ iss: 'supabase', ref: lower(20), role: 'anon', iat: 1 }),
    publishable: p('sb', '_publishable_') + randomText(32),
  }
}

/**
 * Writes the fake home under `home` (the project under `home/project`) and returns what was
 * planted, with the line each value starts on.
 */
export async function plantFakeHome(home: string, tokens: FakeTokens = fakeTokens()) {
  const planted: Planted[] = []
  const decoy = decoys()
  const write = async (file: string, lines: ReadonlyArray<string | Plant>) => {
    const text: string[] = []
    for (const item of lines) {
      if (typeof item === 'string') {
        text.push(item)
        continue
      }
      const [before = '', after = ''] = item.line.split('$VALUE')
      planted.push({
        file,
        line: text.join('\n').split('\n').length + (text.length === 0 ? 0 : 1),
        kind: item.kind,
        value: item.value,
        fixable: item.fixable ?? false,
      })
      text.push(`${before}${item.value}${after}`)
    }
    const path = join(home, file)
    await mkdir(dirname(path), { recursive: true })
    await writeFile(path, `${text.join('\n')}\n`)
  }
  const t = tokens
  const plant = (line: string, kind: string, value: string, fixable = false): Plant => ({
    line,
    kind,
    value,
    fixable,
  })

  await write('.zshrc', [
    '# ~/.zshrc',
    'export ZSH="$HOME/.oh-my-zsh"',
    'plugins=(git docker kubectl)',
    'source $ZSH/oh-my-zsh.sh',
    'export PATH="$HOME/.local/bin:/opt/homebrew/bin:$PATH"',
    'export EDITOR=nvim',
    'export NODE_OPTIONS=--max-old-space-size=4096',
    'export API_URL="https://api.example.com/v1?region=eu&limit=100"',
    `export BUILD_COMMIT=${decoy.gitSha}`,
    `export DEVICE_ID=${decoy.uuid()}`,
    "alias ll='ls -lah'",
    plant('export GITHUB_TOKEN=$VALUE', 'github/GITHUB_TOKEN', t.githubClassic, true),
    plant('export OPENAI_API_KEY="$VALUE"', 'openai/OPENAI_TOKEN', t.openai, true),
    plant("export ANTHROPIC_API_KEY='$VALUE'", 'anthropic/ANTHROPIC_API_KEY', t.anthropic, true),
    plant('export AWS_SECRET_ACCESS_KEY=$VALUE', 'aws/AWSSecretAccessKey', t.awsSecret, true),
    plant("alias pay='STRIPE_KEY=$VALUE ./pay.sh'", 'stripe/STRIPE_SECRET_KEY_LIVE', t.stripe),
    'eval "$(starship init zsh)"',
    'export GH_TOKEN=$(gh auth token)',
  ])
  await write('.bashrc', [
    '# ~/.bashrc',
    '[ -z "$PS1" ] && return',
    'HISTSIZE=10000',
    plant('export SLACK_BOT_TOKEN=$VALUE', 'slack/SLACK_TOKEN', t.slackBot, true),
    plant('export SLACK_WEBHOOK_URL=$VALUE', 'slack/IncomingWebhook', t.slackWebhook, true),
    'export GOPATH="$HOME/go"',
  ])
  await write('.bash_profile', [
    '[ -f ~/.bashrc ] && . ~/.bashrc',
    plant('export GITLAB_TOKEN=$VALUE', 'gitlab/GITLAB_PERSONAL_ACCESS_TOKEN', t.gitlab, true),
  ])
  await write('.profile', [
    'export LANG=en_US.UTF-8',
    plant('HF_TOKEN=$VALUE', 'huggingface/HUGGINGFACE_USER_ACCESS_TOKEN', t.huggingface, true),
    plant('export GROQ_API_KEY=$VALUE', 'groq/GROQ_API_KEY', t.groq, true),
  ])
  await write('.config/fish/config.fish', [
    'if status is-interactive',
    '    set -g fish_greeting',
    'end',
    'fish_add_path $HOME/.cargo/bin',
    plant('set -gx LINEAR_API_KEY $VALUE', 'linear/LINEAR_API_TOKEN', t.linear),
  ])

  // Claude Desktop on Linux (XDG_CONFIG_HOME unset).
  await write('.config/Claude/claude_desktop_config.json', [
    '{',
    '  "mcpServers": {',
    '    "github": {',
    '      "command": "npx",',
    '      "args": ["-y", "@modelcontextprotocol/server-github"],',
    '      "env": {',
    plant(
      '        "GITHUB_PERSONAL_ACCESS_TOKEN": "$VALUE"',
      'github/GITHUB_TOKEN',
      t.githubFineGrained,
      true,
    ),
    '      }',
    '    },',
    '    "supabase": {',
    '      "command": "npx",',
    '      "args": ["-y", "@supabase/mcp-server-supabase", "--project-ref", "abcdefghijklmnop"],',
    '      "env": {',
    `        "SUPABASE_URL": "https://abcdefghijklmnop.supabase.co",`,
    `        "SUPABASE_ANON_KEY": "${decoy.anonKey}",`,
    plant(
      '        "SUPABASE_SERVICE_ROLE_KEY": "$VALUE"',
      'supabase/SUPABASE_SERVICE_ROLE_KEY',
      t.supabaseServiceRole,
      true,
    ),
    '      }',
    '    },',
    '    "filesystem": {',
    '      "command": "npx",',
    '      "args": ["-y", "@modelcontextprotocol/server-filesystem", "/home/me/Documents"]',
    '    }',
    '  }',
    '}',
  ])
  await write('.claude.json', [
    '{',
    '  "numStartups": 42,',
    `  "userID": "${decoy.sha256}",`,
    '  "mcpServers": {',
    '    "notion": {',
    '      "type": "stdio",',
    '      "command": "npx",',
    '      "args": ["-y", "@notionhq/notion-mcp-server"],',
    '      "env": {',
    plant('        "NOTION_TOKEN": "$VALUE"', 'notion/NOTION_INTEGRATION_TOKEN', t.notion, true),
    '      }',
    '    }',
    '  },',
    '  "projects": {',
    '    "/home/me/code/app": {',
    '      "mcpServers": {',
    '        "mail": {',
    '          "command": "mail-mcp",',
    plant('          "env": { "SENDGRID_API_KEY": "$VALUE" }', 'sendgrid/SENDGRID_KEY', t.sendgrid),
    '        }',
    '      }',
    '    }',
    '  }',
    '}',
  ])
  await write('.cursor/mcp.json', [
    '{',
    '  "mcpServers": {',
    '    "db": {',
    '      "command": "npx",',
    plant(
      '      "args": ["-y", "@modelcontextprotocol/server-postgres", "$VALUE"]',
      'database-connection-string/PostgreSQLConnection',
      t.postgresUrl,
    ),
    '    },',
    '    "docs": { "url": "https://docs.example.com/mcp?version=2" }',
    '  }',
    '}',
  ])
  await write('.codeium/windsurf/mcp_config.json', [
    '{',
    '  "mcpServers": {',
    '    "vercel": {',
    '      "command": "npx",',
    '      "args": ["-y", "vercel-mcp"],',
    plant(
      '      "env": { "VERCEL_TOKEN": "$VALUE" }',
      'vercel/VERCEL_PERSONAL_ACCESS_TOKEN',
      t.vercel,
      true,
    ),
    '    }',
    '  }',
    '}',
  ])
  await write('.codex/config.toml', [
    'model = "o4-mini"',
    'approval_policy = "on-request"',
    '',
    '[mcp_servers.figma]',
    'command = "npx"',
    'args = ["-y", "figma-developer-mcp", "--stdio"]',
    '',
    '[mcp_servers.figma.env]',
    plant('FIGMA_API_KEY = "$VALUE"', 'figma/FIGMA_PERSONAL_ACCESS_TOKEN', t.figma),
    '',
    '[mcp_servers.cloudflare]',
    'command = "npx"',
    plant(
      'env = { "CLOUDFLARE_API_TOKEN" = "$VALUE" }',
      'cloudflare/CLOUDFLARE_USER_API_TOKEN',
      t.cloudflare,
    ),
  ])
  await write('.gemini/settings.json', [
    '{',
    '  "theme": "GitHub",',
    '  "selectedAuthType": "oauth-personal",',
    '  "mcpServers": {',
    '    "tailscale": {',
    '      "command": "tailscale-mcp",',
    '      "env": {',
    plant(
      '        "TAILSCALE_API_KEY": "$VALUE"',
      'tailscale/TAILSCALE_AUTH_KEY',
      t.tailscale,
      true,
    ),
    '      }',
    '    }',
    '  }',
    '}',
  ])
  await write('.npmrc', [
    'registry=https://registry.npmjs.org/',
    '@acme:registry=https://npm.pkg.github.com',
    // biome-ignore lint/suspicious/noTemplateCurlyInString: npm's own reference syntax
    '//npm.pkg.github.com/:_authToken=${GITHUB_TOKEN}',
    plant('//registry.npmjs.org/:_authToken=$VALUE', 'npm/Npmrc_authToken', t.npm),
    'save-exact=true',
  ])
  await write('.netrc', [
    'machine github.com',
    '  login me',
    plant('  password $VALUE', 'netrc/NETRC_PASSWORD', t.netrcPassword),
  ])
  await write('.config/gh/hosts.yml', [
    'github.com:',
    '    users:',
    '        me:',
    plant('            oauth_token: $VALUE', 'github/GITHUB_TOKEN', t.githubOauth),
    '    git_protocol: https',
    '    user: me',
  ])
  await write('.docker/config.json', [
    '{',
    '  "auths": {',
    '    "https://index.docker.io/v1/": {',
    plant('      "auth": "$VALUE"', 'docker-config/DOCKER_AUTH', t.dockerAuth),
    '    },',
    '    "ghcr.io": {}',
    '  },',
    '  "credsStore": "desktop",',
    plant(
      '  "currentContext": "default", "hint": "$VALUE"',
      'docker/DOCKER_PERSONAL_ACCESS_TOKEN',
      t.dockerPat,
    ),
    '}',
  ])

  // The project: its MCP files and .env files at several depths.
  await write('project/.mcp.json', [
    '{',
    '  "mcpServers": {',
    '    "stripe": {',
    '      "command": "npx",',
    '      "args": ["-y", "@stripe/mcp", "--tools=all"],',
    '      "env": {',
    plant(
      '        "STRIPE_SECRET_KEY": "$VALUE"',
      'stripe/STRIPE_RESTRICTED_KEY_LIVE',
      t.stripeRestricted,
      true,
    ),
    '      }',
    '    }',
    '  }',
    '}',
  ])
  await write('project/.cursor/mcp.json', [
    '{',
    '  "mcpServers": {',
    '    "hf": {',
    '      "command": "hf-mcp",',
    `      "args": ["--cache", "/home/me/.cache/huggingface", "--id", "${decoy.uuid()}"]`,
    '    }',
    '  }',
    '}',
  ])
  await write('project/.vscode/mcp.json', [
    '{',
    '  // Servers for this workspace',
    '  "inputs": [{ "type": "promptString", "id": "token", "description": "Token", "password": true }],',
    '  "servers": {',
    '    "vault": {',
    '      "type": "stdio",',
    '      "command": "vault-mcp",',
    '      "env": {',
    '        // the root token, to be moved',
    plant(
      '        "VAULT_TOKEN": "$VALUE",',
      'hashicorp-vault/HASHICORP_VAULT_SERVICE_TOKEN',
      t.vault,
    ),
    // biome-ignore lint/suspicious/noTemplateCurlyInString: VS Code's own input syntax
    '        "OTHER_TOKEN": "${input:token}"',
    '      }',
    '    }',
    '  }',
    '}',
  ])
  await write('project/.env', [
    '# local development',
    'NODE_ENV=development',
    'PORT=3000',
    `NEXT_PUBLIC_SUPABASE_URL=https://${lower(20)}.supabase.co`,
    `NEXT_PUBLIC_SUPABASE_ANON_KEY=${decoy.anonKey}`,
    `NEXT_PUBLIC_SUPABASE_PUBLISHABLE_KEY=${decoy.publishable}`,
    plant('SUPABASE_SECRET_KEY=$VALUE', 'supabase/SUPABASE_SECRET_KEY', t.supabaseSecret, true),
    plant(
      'DATABASE_URL=$VALUE',
      'database-connection-string/PostgreSQLConnection',
      t.postgresUrl,
      true,
    ),
    'REDIS_URL=redis://localhost:6379/0',
    plant('DEPLOY_HOOK=$VALUE', 'basicauth/BasicAuth', t.basicAuthUrl, true),
  ])
  await write('project/apps/web/.env.local', [
    `SESSION_ID=${decoy.uuid()}`,
    `LOGO=${decoy.image}`,
    plant(
      'DATABRICKS_TOKEN=$VALUE',
      'databricks/DATABRICKS_PERSONAL_ACCESS_TOKEN',
      t.databricks,
      true,
    ),
    plant('SIGNING_KEY="$VALUE"', 'privatekey/PrivateKey', t.privateKey, true),
  ])
  await write('project/packages/api/.env.example', [
    '# copy to .env and fill in',
    'OPENAI_API_KEY=sk-your-key-here',
    'GITHUB_TOKEN=ghp_xxxxxxxxxxxxxxxx',
    'DATABASE_URL=postgres://localhost:5432/app',
    'STRIPE_SECRET_KEY=',
    `LOCKFILE_INTEGRITY=${decoy.integrity}`,
    `CHECKSUM=${decoy.sha256}`,
  ])
  await write('project/README.md', [
    '# not scanned: only .env files are read in the project',
    plant('token: $VALUE', 'unscanned', t.githubClassic),
  ])
  // Installed packages are never walked.
  await write('project/node_modules/pkg/.env', [plant('X=$VALUE', 'unscanned', t.stripe)])
  return { planted: planted.filter((secret) => secret.kind !== 'unscanned'), tokens }
}

interface Plant {
  line: string
  kind: string
  value: string
  fixable?: boolean
}
