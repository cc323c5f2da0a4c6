#!/usr/bin/env node
/**
 * `keywarden-mcp`: the Keywarden MCP server over stdio, for Claude Desktop and other MCP
 * clients. stdout carries only protocol messages; logs go to stderr.
 *
 * The store comes from the environment as for the CLI (the embedded vault with no
 * configuration; PostgreSQL or Supabase when configured). The audit accessor is
 * `mcp:<client name from initialize>`: the vault client is created on the first tool call,
 * by which time the client has introduced itself.
 */
import { readFile } from 'node:fs/promises'
import { createVaultClient, type VaultClient } from '@keywarden/core'
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js'
import { createKeywardenMcpServer } from './server/index.ts'

const { name: packageName, version } = JSON.parse(
  await readFile(new URL('../package.json', import.meta.url), 'utf8'),
) as { name: string; version: string }

const HELP = `Usage: keywarden-mcp [--version | --help]

The Keywarden MCP server (${packageName} ${version}), speaking MCP over stdio. Start it from an
MCP client such as Claude Desktop; \`keywarden mcp-config\` prints the entry to add.

The vault is configured as for the keywarden CLI: the embedded vault by default, or
KEYWARDEN_DATABASE_URL + KEYWARDEN_ROOT_KEY (PostgreSQL), or Supabase when configured.
`

const log = (message: string) => process.stderr.write(`keywarden-mcp: ${message}\n`)

/** `mcp:<client name>`, made safe for the audit log. */
function accessorFor(clientName: string | undefined): string {
  const cleaned = (clientName ?? '')
    .toLowerCase()
    .replace(/[^a-z0-9._-]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 64)
  return cleaned === '' ? 'mcp' : `mcp:${cleaned}`
}

/** A VaultClient that creates the real one on first use, when the client name is known. */
function lazyVaultClient(accessor: () => string): {
  client: VaultClient
  close: () => Promise<void>
} {
  let real: VaultClient | undefined
  const get = () => {
    real ??= createVaultClient({ accessedBy: accessor() })
    return real
  }
  const client: VaultClient = {
    get accessedBy() {
      return real?.accessedBy ?? accessor()
    },
    getSecret: (name, options) => get().getSecret(name, options),
    getSecrets: (names) => get().getSecrets(names),
    storeSecret: (name, value, metadata) => get().storeSecret(name, value, metadata),
    rotateSecret: (name, value, options) => get().rotateSecret(name, value, options),
    stageRotation: (name, value) => get().stageRotation(name, value),
    promoteRotation: (name, options) => get().promoteRotation(name, options),
    discardRotation: (name) => get().discardRotation(name),
    deleteSecret: (name) => get().deleteSecret(name),
    listSecrets: () => get().listSecrets(),
    checkExpiringSecrets: (days, options) => get().checkExpiringSecrets(days, options),
    secretMetrics: (options) => get().secretMetrics(options),
    secretAlerts: (filter) => get().secretAlerts(filter),
    claimNotifications: (claims) => get().claimNotifications(claims),
    releaseNotifications: (claims) => get().releaseNotifications(claims),
    queryAudit: (filter) => get().queryAudit(filter),
    clearSecretCache: (name) => get().clearSecretCache(name),
    recordAccess: (event) => get().recordAccess(event),
    health: () => get().health(),
    close: async (options) => {
      await real?.close(options)
    },
  }
  return { client, close: () => client.close({ timeoutMs: 2_000 }) }
}

async function serve(): Promise<void> {
  let accessor: () => string = () => 'mcp'
  const vault = lazyVaultClient(() => accessor())
  const server = createKeywardenMcpServer(vault.client, { name: 'keywarden', version })
  accessor = () => accessorFor(server.server.getClientVersion()?.name)

  let closing = false
  const shutdown = async (reason: string) => {
    if (closing) return
    closing = true
    log(`shutting down (${reason})`)
    try {
      await server.close()
      await vault.close()
    } catch {
      log('error while closing the vault client')
    } finally {
      process.exit(0)
    }
  }
  process.on('SIGINT', () => void shutdown('SIGINT'))
  process.on('SIGTERM', () => void shutdown('SIGTERM'))
  process.stdin.on('end', () => void shutdown('stdin closed'))

  await server.connect(new StdioServerTransport())
  log(`${packageName} ${version} listening on stdio`)
}

const argument = process.argv[2]
if (argument === '--version' || argument === '-v') {
  process.stdout.write(`${version}\n`)
} else if (argument === '--help' || argument === '-h') {
  process.stdout.write(HELP)
} else if (argument !== undefined) {
  process.stderr.write(`keywarden-mcp: unknown argument (try --help)\n`)
  process.exitCode = 2
} else {
  await serve()
}
