#!/usr/bin/env node
/**
 * `keywarden-edge`: serves the ChatGPT edge plugin on Node at `http://127.0.0.1:$PORT/chatgpt-plugin`
 * (PORT default 8787, HOST default 127.0.0.1). The vault and the settings come from the
 * environment, as for every Keywarden door; SIGINT or SIGTERM stops it and flushes the audit buffer.
 */
import { readFile } from 'node:fs/promises'
import { isKeywardenError } from '@keywarden/core'

const DEFAULT_PORT = 8787

const { name, version } = JSON.parse(
  await readFile(new URL('../package.json', import.meta.url), 'utf8'),
) as { name: string; version: string }

const HELP = `keywarden-edge (${name} ${version}): the ChatGPT edge plugin on Node.

Usage: keywarden-edge [--help] [--version]

Serves http://HOST:PORT/chatgpt-plugin (PORT default ${DEFAULT_PORT}, HOST default 127.0.0.1).
The vault is configured as for every Keywarden door (KEYWARDEN_DATABASE_URL, SUPABASE_URL +
SUPABASE_SERVICE_ROLE_KEY, or the embedded vault). The bearer token is the vault secret
plugin_bearer_token, else PLUGIN_BEARER_TOKEN; without either, protected routes answer 503.
Settings: PLUGIN_ALLOWED_ORIGINS, PLUGIN_PUBLIC_URL, GITHUB_API_URL, PLUGIN_MAX_BODY_BYTES,
PLUGIN_METADATA_CACHE_MS. See docs/edge-plugin.md.
`

async function main(argv: readonly string[]): Promise<number> {
  const argument = argv[0]
  if (argument === '--version' || argument === '-v') {
    process.stdout.write(`${version}\n`)
    return 0
  }
  if (argument === '--help' || argument === '-h') {
    process.stdout.write(HELP)
    return 0
  }
  if (argument !== undefined) {
    process.stderr.write(
      `keywarden-edge: unknown argument ${JSON.stringify(argument.slice(0, 40))}; see --help\n`,
    )
    return 2
  }
  const port = process.env.PORT ? Number(process.env.PORT) : DEFAULT_PORT
  if (!Number.isInteger(port) || port < 0 || port > 65_535) {
    process.stderr.write('keywarden-edge: PORT must be a port number\n')
    return 2
  }
  // Loaded only to serve, so --help and --version answer without loading the app.
  const [{ createVaultClient }, { AUDIT_ACCESSOR }, { configFromEnv }, { serveEdgePlugin }] =
    await Promise.all([
      import('@keywarden/core'),
      import('./app/index.ts'),
      import('./config/index.ts'),
      import('./node/index.ts'),
    ])
  const client = createVaultClient({ accessedBy: AUDIT_ACCESSOR })
  const server = await serveEdgePlugin({
    client,
    config: configFromEnv(process.env, { version }),
    port,
    hostname: process.env.HOST || '127.0.0.1',
  })
  process.stdout.write(`keywarden-edge listening on ${server.url}\n`)
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve)
    process.once('SIGTERM', resolve)
  })
  await server.close()
  await client.close()
  return 0
}

process.exitCode = await main(process.argv.slice(2)).catch((error: unknown) => {
  // A KeywardenError's message is vetted (no values); anything else is not shown.
  const message = isKeywardenError(error) ? `${error.code}: ${error.message}` : 'unexpected error'
  process.stderr.write(`keywarden-edge: ${message}\n`)
  // The cause, for whoever debugs a start that failed; a stack names code, not values.
  if (process.env.KEYWARDEN_DEBUG === '1' && error instanceof Error && error.stack) {
    process.stderr.write(`${error.stack}\n`)
  }
  return 1
})
