/**
 * What Keywarden writes into a client's config: the store configuration a server started by
 * the client needs (secrets in 0600 files, never in the entry), and the launchers for
 * `keywarden-mcp` and `keywarden run`.
 */
import { access, readFile } from 'node:fs/promises'
import { homedir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { type Environment, KeywardenError, resolveStoreConfig } from '@keywarden/core'
import { replaceAtomically } from '../../files.ts'
import type { Launcher } from '../client.ts'

/** The Keywarden configuration a server entry may carry, and the variables left out. */
export interface KeywardenEnvironment {
  env: Record<string, string>
  /** Set here but secret, so not written: the server must get them from its environment. */
  omitted: string[]
  /** Some of `omitted` would go into 0600 files with --write. */
  storable: boolean
  /** The secrets placed in 0600 files, by where they were set. */
  files: { source: string; path: string }[]
}

/** A secret of the configuration that the entry names by a 0600 file instead. */
interface SecretForFile {
  /** The entry's variable naming the file, e.g. `KEYWARDEN_ROOT_KEY_FILE`. */
  variable: string
  /** Where the secret was set, e.g. `KEYWARDEN_ROOT_KEY`. */
  source: string
  value: string
  /** The file's name in the vault home. */
  file: string
}

/**
 * The store configuration in `env` (with `--home` / `--database-url` applied), as environment
 * variables for a server that an MCP client starts — often with a different working directory
 * and none of the shell's environment, only the entry's. Secrets never go into the entry: with
 * `store` (for --write and --wrap) each goes into a 0600 file in the vault home and the entry
 * names the file (`*_FILE`); without it they are left out, and said so.
 */
export async function keywardenEnvironment(
  env: Environment,
  store: boolean,
): Promise<KeywardenEnvironment> {
  const config = resolveStoreConfig(env)
  const result: Record<string, string> = {}
  const omitted: string[] = []
  const secrets: SecretForFile[] = []
  // Named whenever it is not the default: with a database URL left out for its password, the
  // server then fails saying what it misses instead of quietly opening an empty embedded vault.
  if (config.kind !== 'embedded' || setting(env, 'KEYWARDEN_STORE') !== undefined) {
    result.KEYWARDEN_STORE = config.kind
  }
  switch (config.kind) {
    case 'embedded':
      // Absolute: clients start servers in a folder of their own choosing.
      if (config.home !== undefined) result.KEYWARDEN_HOME = resolve(config.home)
      if (config.agent === false) result.KEYWARDEN_AGENT = '0'
      break
    case 'postgres': {
      const url = new URL(config.connectionString)
      if (hasQueryCredentials(url)) {
        // Parameters such as sslpassword= have no file variable: the whole URL stays out.
        omitted.push(config.variable)
        break
      }
      if (url.password !== '') {
        secrets.push({
          variable: 'KEYWARDEN_DATABASE_PASSWORD_FILE',
          source: config.variable,
          value: decodeURIComponent(url.password),
          file: 'mcp-database.password',
        })
        url.password = ''
        result[config.variable] = url.toString()
      } else {
        result[config.variable] = config.connectionString
        if (config.passwordFile !== undefined) {
          result.KEYWARDEN_DATABASE_PASSWORD_FILE = resolve(config.passwordFile)
        }
      }
      break
    }
    case 'supabase':
      result.SUPABASE_URL = config.url
      if (config.serviceRoleKeyFile !== undefined) {
        result.SUPABASE_SERVICE_ROLE_KEY_FILE = resolve(config.serviceRoleKeyFile)
      } else {
        secrets.push({
          variable: 'SUPABASE_SERVICE_ROLE_KEY_FILE',
          source: 'SUPABASE_SERVICE_ROLE_KEY',
          value: config.serviceRoleKey ?? '',
          file: 'mcp-supabase-service-role.key',
        })
      }
      break
  }
  if (config.kind !== 'supabase') {
    if (config.rootKeyFile !== undefined) {
      result.KEYWARDEN_ROOT_KEY_FILE = resolve(config.rootKeyFile)
    } else if (config.rootKey !== undefined) {
      secrets.push({
        variable: 'KEYWARDEN_ROOT_KEY_FILE',
        source: 'KEYWARDEN_ROOT_KEY',
        value: config.rootKey,
        file: 'mcp-root.key',
      })
    }
  } else if (setting(env, 'KEYWARDEN_ROOT_KEY') !== undefined) {
    omitted.push('KEYWARDEN_ROOT_KEY')
  }
  if (!store) {
    for (const secret of secrets) {
      // A URL whose password is left out would only fail to log in: the server says more
      // clearly what it misses without any URL.
      if (secret.variable === 'KEYWARDEN_DATABASE_PASSWORD_FILE') delete result[secret.source]
      omitted.push(secret.source)
    }
    return { env: result, omitted, storable: secrets.length > 0, files: [] }
  }
  if (secrets.length > 0) {
    const home = resolve(
      setting(env, 'KEYWARDEN_HOME') ?? join(env.HOME || homedir(), '.keywarden'),
    )
    for (const secret of secrets) result[secret.variable] = await secretFile(home, secret)
  }
  const files = secrets.map((secret) => ({
    source:
      secret.variable === 'KEYWARDEN_DATABASE_PASSWORD_FILE'
        ? `The password of ${secret.source}`
        : secret.source,
    path: result[secret.variable] ?? '',
  }))
  return { env: result, omitted, storable: false, files }
}

/**
 * Puts `secret` in its 0600 file in `home` (created 0700 and trust-checked like the vault),
 * reusing the file when it already holds the value and passes the same check. Returns the path.
 */
async function secretFile(home: string, secret: SecretForFile): Promise<string> {
  // Node-only and heavy (PGlite comes along): loaded only when there is a secret to place.
  const { checkPrivateFile, checkVaultHome } = await import('@keywarden/core/node')
  await checkVaultHome(home, { create: true })
  const path = join(home, secret.file)
  const content = Buffer.from(`${secret.value}\n`)
  const current = await readFile(path).catch(() => undefined)
  const trusted =
    current !== undefined &&
    (await checkPrivateFile(path, secret.variable).then(
      () => true,
      () => false,
    ))
  if (!trusted || !current.equals(content)) await replaceAtomically(path, content, 0o600)
  return path
}

function setting(env: Environment, name: string): string | undefined {
  const value = env[name]?.trim()
  return value === undefined || value === '' ? undefined : value
}

// Query parameters that can carry a secret (`password=`, `sslpassword=`).
function hasQueryCredentials(url: URL): boolean {
  return [...url.searchParams.keys()].some((key) => /pass|secret|token/i.test(key))
}

/**
 * `keywarden-mcp` as node and the absolute path of its bin, from `@keywarden/mcp-server`, a
 * dependency of this CLI: an MCP client's PATH often holds neither node (the bin's
 * `#!/usr/bin/env node` would fail) nor the bin (Claude Desktop's never does), and Windows
 * cannot start a `.js` file. A broken installation is an error rather than an entry that
 * would not start.
 */
export async function mcpServerLauncher(): Promise<Launcher> {
  let script: string | undefined
  try {
    const packageJson = fileURLToPath(import.meta.resolve('@keywarden/mcp-server/package.json'))
    const { bin } = JSON.parse(await readFile(packageJson, 'utf8')) as {
      bin?: string | Record<string, string>
    }
    const relative = typeof bin === 'string' ? bin : bin?.['keywarden-mcp']
    if (relative !== undefined) script = resolve(dirname(packageJson), relative)
    if (script !== undefined) await access(script)
  } catch {
    script = undefined
  }
  if (script === undefined) {
    throw new KeywardenError(
      'CONFIGURATION_ERROR',
      'cannot find keywarden-mcp: @keywarden/mcp-server, installed with this CLI, is missing or not built; reinstall @keywarden/cli',
    )
  }
  return { command: process.execPath, args: [script] }
}

/** This CLI as node and its bin, for the same reasons as {@link mcpServerLauncher}. */
export function cliLauncher(): Launcher {
  // dist/mcp-clients/keywarden-entry/index.js → dist/bin.js.
  const script = fileURLToPath(new URL('../../bin.js', import.meta.url))
  return { command: process.execPath, args: [script] }
}
