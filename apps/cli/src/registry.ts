/**
 * Every command, imported only when run, so `keywarden --help` and a single command load only
 * what they use. The summaries live here, not in the command files, for the same reason.
 */
import type { CommandModule } from './context.ts'

interface CommandEntry {
  summary: string
  load: () => Promise<CommandModule>
}

export const COMMANDS: Readonly<Record<string, CommandEntry>> = {
  set: {
    summary: 'store a secret (value from stdin or a hidden prompt)',
    load: () => import('./commands/set.ts'),
  },
  edit: {
    summary:
      "change a secret's metadata (hosts, commands, visibility, expiry...) without its value",
    load: () => import('./commands/edit.ts'),
  },
  get: { summary: "print a secret's value", load: () => import('./commands/get.ts') },
  list: {
    summary: 'list secrets and their metadata, never values',
    load: () => import('./commands/list.ts'),
  },
  rotate: {
    summary: 'replace a value (or stage, verify and promote one), keeping the previous one a while',
    load: () => import('./commands/rotate.ts'),
  },
  rm: { summary: 'delete a secret', load: () => import('./commands/rm.ts') },
  run: {
    summary: 'run a command with secrets in its environment, output masked',
    load: () => import('./commands/run.ts'),
  },
  import: {
    summary: 'import secrets from a .env or shell rc file',
    load: () => import('./commands/import.ts'),
  },
  scan: {
    summary: 'find plaintext secrets in shell rc files, MCP configs, .env files; --fix moves them',
    load: () => import('./commands/scan.ts'),
  },
  export: {
    summary: 'print secrets as dotenv, json or shell',
    load: () => import('./commands/export.ts'),
  },
  audit: { summary: 'query the audit log', load: () => import('./commands/audit.ts') },
  expiring: {
    summary: 'secrets whose expiry or rotation falls due soon',
    load: () => import('./commands/expiring.ts'),
  },
  metrics: {
    summary: 'per-secret usage: accesses, failures, accessors, rotation age',
    load: () => import('./commands/metrics.ts'),
  },
  alerts: {
    summary: 'suspicious access and overdue secrets; new ones go to the webhook',
    load: () => import('./commands/alerts.ts'),
  },
  remind: {
    summary: 'the reminder job: one webhook notification per secret per window',
    load: () => import('./commands/remind.ts'),
  },
  incident: {
    summary: 'leaked secret playbook: rotate, evict, accessors, audit CSV, revoke, notify',
    load: () => import('./commands/incident.ts'),
  },
  ui: {
    summary: 'the local dashboard: inventory, activity, alerts, rotation, report (never a value)',
    load: () => import('./commands/ui.ts'),
  },
  report: {
    summary: 'the compliance report for a period, as html, pdf or csv',
    load: () => import('./commands/report.ts'),
  },
  status: {
    summary: 'where the vault is and how it is doing',
    load: () => import('./commands/status.ts'),
  },
  policy: {
    summary: 'show and edit what each door (cli, edge, mcp:<client>) may do with each secret',
    load: () => import('./commands/policy.ts'),
  },
  connect: {
    summary: 'approve a remote MCP client (ChatGPT, Claude.ai): `connect approve [ID]`',
    load: () => import('./commands/connect.ts'),
  },
  connections: {
    summary: 'list the OAuth connections of remote MCP clients, or --revoke one',
    load: () => import('./commands/connections.ts'),
  },
  'mcp-config': {
    summary:
      'set up MCP clients (Claude Desktop, Claude Code, Cursor, VS Code, Windsurf, Codex, Gemini): the keywarden-mcp entry, and (un)wrapping servers with tokens',
    load: () => import('./commands/mcp-config.ts'),
  },
  key: {
    summary:
      "the embedded vault's root key: where it is, move it into the OS keychain, recovery copy",
    load: () => import('./commands/key.ts'),
  },
  db: {
    summary: 'database tasks: `db migrate` applies the migrations',
    load: () => import('./commands/db.ts'),
  },
}
