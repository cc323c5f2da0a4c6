#!/usr/bin/env node
/**
 * `keywarden-mcp`: the Keywarden MCP server over stdio, for Claude Desktop and other MCP
 * clients. stdout carries only protocol messages; logs go to stderr.
 *
 * The store comes from the environment as for the CLI (the embedded vault with no
 * configuration; PostgreSQL or Supabase when configured). The audit accessor is
 * `mcp:<client name from initialize>`, asked at each access (the store opens on the first
 * tool call).
 */
import { readFile } from 'node:fs/promises'
import { createVaultClient } from '@keywarden/core'
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js'
import { createNodeCommandRunner } from './node/index.ts'
import { errorText } from './results/index.ts'
import { createKeywardenMcpServer, mcpDoorName, parseAllowedCommands } from './server/index.ts'

const { name: packageName, version } = JSON.parse(
  await readFile(new URL('../package.json', import.meta.url), 'utf8'),
) as { name: string; version: string }

const HELP = `Usage: keywarden-mcp [--version | --help]

The Keywarden MCP server (${packageName} ${version}), speaking MCP over stdio. Start it from an
MCP client such as Claude Desktop; \`keywarden mcp-config\` prints the entry to add.

The vault is configured as for the keywarden CLI: the embedded vault by default, or
KEYWARDEN_DATABASE_URL + KEYWARDEN_ROOT_KEY (PostgreSQL), or Supabase when configured. Each
secret may come from a 0600 file instead: KEYWARDEN_ROOT_KEY_FILE,
KEYWARDEN_DATABASE_PASSWORD_FILE, SUPABASE_SERVICE_ROLE_KEY_FILE (keywarden mcp-config --write
writes them, so the client's config holds no secret).

run_command is off unless KEYWARDEN_MCP_ALLOWED_COMMANDS lists the executables the model may
run, comma-separated: bare names found on PATH (terraform,doctl) or absolute paths. A secret is
injected only into executables its allowed_commands list (keywarden edit NAME --allow-command X).
Executables that run code from their arguments or configuration (shells, interpreters, git,
gh, env, find, xargs...) are refused unless KEYWARDEN_MCP_UNSAFE_COMMANDS lists them too:
that equals revealing every secret given to them (keywarden mcp-config --allow-command X
--i-understand-this-reveals writes both).
`

const log = (message: string) => process.stderr.write(`keywarden-mcp: ${message}\n`)

async function serve(): Promise<void> {
  let clientName: () => string | undefined = () => undefined
  // Asked at each access: the client introduces itself at initialize, after this point.
  const vault = createVaultClient({ accessedBy: () => mcpDoorName(clientName()) })
  const allowedCommands = parseAllowedCommands(process.env.KEYWARDEN_MCP_ALLOWED_COMMANDS)
  const unsafeCommands = parseAllowedCommands(process.env.KEYWARDEN_MCP_UNSAFE_COMMANDS)
  const server = createKeywardenMcpServer(vault, {
    name: 'keywarden',
    version,
    log,
    ...(allowedCommands.length > 0
      ? { runCommand: { allowedCommands, unsafeCommands, runner: createNodeCommandRunner() } }
      : {}),
  })
  clientName = () => server.server.getClientVersion()?.name

  let closing = false
  const shutdown = async (reason: string) => {
    if (closing) return
    closing = true
    log(`shutting down (${reason})`)
    try {
      await server.close()
      await vault.close({ timeoutMs: 2_000 })
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
  log(
    `${packageName} ${version} listening on stdio${allowedCommands.length > 0 ? `; run_command allows ${allowedCommands.join(', ')}` : ''}`,
  )
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
  try {
    await serve()
  } catch (error) {
    log(errorText(error))
    // The cause, for whoever debugs a start that failed; a stack names code, not values.
    if (process.env.KEYWARDEN_DEBUG === '1' && error instanceof Error && error.stack) {
      process.stderr.write(`${error.stack}\n`)
    }
    process.exitCode = 1
  }
}
