/**
 * Which store a client uses, decided from configuration — explicitly, and reported by
 * `health()`. A half-configured environment (a URL without its key, a malformed URL) is an
 * error naming the variable, never a silent fallback to another store.
 * @module
 */
import { KeywardenError } from '../errors/index.ts'
import type { SecretStore } from '../store/index.ts'

/** The environment variables Keywarden reads, as a plain record. */
export type Environment = Readonly<Record<string, string | undefined>>

/** A store and where its configuration came from. */
export type StoreConfig =
  | {
      kind: 'embedded'
      home?: string
      rootKey?: string
      /** `KEYWARDEN_ROOT_KEY_FILE`: a 0600 file holding the root key, read by {@link openStore}. */
      rootKeyFile?: string
      /**
       * Serve the vault through the local keywarden agent (default, in Node): one process
       * holds PGlite open for every client. `false` opens it in this process instead, as
       * `KEYWARDEN_AGENT=0` does.
       */
      agent?: boolean
    }
  | {
      kind: 'postgres'
      connectionString: string
      variable: string
      rootKey?: string
      rootKeyFile?: string
      /**
       * `KEYWARDEN_DATABASE_PASSWORD_FILE`: a 0600 file holding the password of a URL that has
       * none, read by {@link openStore}. Without either, node-postgres looks in `PGPASSFILE`
       * (default `~/.pgpass`).
       */
      passwordFile?: string
    }
  | {
      kind: 'supabase'
      url: string
      /** Exactly one of the key and its file (`SUPABASE_SERVICE_ROLE_KEY_FILE`) is set. */
      serviceRoleKey?: string
      serviceRoleKeyFile?: string
      /** `KEYWARDEN_REALTIME=0` turns the Realtime change feed off (default: on where possible). */
      realtime?: boolean
    }

const POSTGRES_VARIABLES = ['KEYWARDEN_DATABASE_URL', 'SUPABASE_DB_URL', 'POSTGRES_URL'] as const

/**
 * Chooses the store, in this order:
 * 1. `KEYWARDEN_STORE` (`embedded`, `postgres` or `supabase`), when set;
 * 2. `KEYWARDEN_DATABASE_URL` → postgres;
 * 3. `SUPABASE_URL` with `SUPABASE_SERVICE_ROLE_KEY` → supabase (the Edge Function default:
 *    Supabase sets both, and `SUPABASE_DB_URL` too, so this comes before it);
 * 4. `SUPABASE_DB_URL`, then `POSTGRES_URL` → postgres;
 * 5. otherwise the embedded vault in `KEYWARDEN_HOME` (default `~/.keywarden`), served by
 *    the local agent unless `KEYWARDEN_AGENT=0` (then `agent: false`).
 */
export function resolveStoreConfig(env: Environment): StoreConfig {
  const explicit = value(env, 'KEYWARDEN_STORE')
  switch (explicit) {
    case undefined:
      break
    case 'embedded':
      return embeddedConfig(env)
    case 'postgres': {
      const variable = POSTGRES_VARIABLES.find((name) => value(env, name))
      if (!variable) {
        throw configurationError(
          'KEYWARDEN_STORE=postgres needs KEYWARDEN_DATABASE_URL (or SUPABASE_DB_URL, POSTGRES_URL)',
        )
      }
      return postgresConfig(env, variable)
    }
    case 'supabase':
      return supabaseConfig(env)
    default:
      throw configurationError('KEYWARDEN_STORE must be embedded, postgres or supabase')
  }

  if (value(env, 'KEYWARDEN_DATABASE_URL')) return postgresConfig(env, 'KEYWARDEN_DATABASE_URL')
  if (value(env, 'SUPABASE_URL') || value(env, 'SUPABASE_SERVICE_ROLE_KEY')) {
    return supabaseConfig(env)
  }
  for (const variable of POSTGRES_VARIABLES) {
    if (value(env, variable)) return postgresConfig(env, variable)
  }
  return embeddedConfig(env)
}

/**
 * Opens the store a {@link StoreConfig} describes. Each store's code is imported only when
 * chosen, so an edge function never loads the embedded database, and a CLI never loads
 * supabase-js unless configured for it.
 */
export async function openStore(configuration: StoreConfig): Promise<SecretStore> {
  const config = await withSecretFiles(configuration)
  switch (config.kind) {
    case 'supabase': {
      const { createSupabaseStore } = await import('../store/supabase.ts')
      return createSupabaseStore({
        url: config.url,
        serviceRoleKey: config.serviceRoleKey ?? '',
        ...(config.realtime === undefined ? {} : { realtime: config.realtime }),
      })
    }
    case 'postgres': {
      const { createPostgresStore } = await import('../store/postgres.ts')
      return createPostgresStore({
        connectionString: config.connectionString,
        ...(config.rootKey === undefined ? {} : { rootKey: config.rootKey }),
      })
    }
    case 'embedded': {
      const options = {
        ...(config.home === undefined ? {} : { home: config.home }),
        ...(config.rootKey === undefined ? {} : { rootKey: config.rootKey }),
      }
      if (config.agent ?? agentByDefault()) {
        // Node only (a unix socket and a child process); elsewhere, and for a home whose
        // socket path would be too long, the vault opens in this process as before.
        const agent = await import('../node/agent/index.ts')
        if (agent.agentSupported(config.home)) return agent.createAgentStore(options)
      }
      const { createEmbeddedStore } = await import('../node/embedded.ts')
      return createEmbeddedStore(options)
    }
  }
}

/**
 * The configuration with every `*_FILE` secret read in (Node only: the reader is imported only
 * when a file is named, so an edge function that sets none never loads `node:fs`).
 */
async function withSecretFiles(config: StoreConfig): Promise<StoreConfig> {
  const rootKeyFile = config.kind === 'supabase' ? undefined : config.rootKeyFile
  const passwordFile = config.kind === 'postgres' ? config.passwordFile : undefined
  const serviceRoleKeyFile = config.kind === 'supabase' ? config.serviceRoleKeyFile : undefined
  if (rootKeyFile === undefined && passwordFile === undefined && serviceRoleKeyFile === undefined) {
    return config
  }
  const { readSecretFile } = await import('../node/secret-files/index.ts')
  if (config.kind === 'supabase') {
    const serviceRoleKey = await readSecretFile(
      serviceRoleKeyFile ?? '',
      'SUPABASE_SERVICE_ROLE_KEY_FILE',
    )
    return { ...config, serviceRoleKey }
  }
  const read = { ...config }
  if (rootKeyFile !== undefined) {
    read.rootKey = checkedRootKey(
      await readSecretFile(rootKeyFile, 'KEYWARDEN_ROOT_KEY_FILE'),
      `KEYWARDEN_ROOT_KEY_FILE ${rootKeyFile}`,
    )
  }
  if (read.kind === 'postgres' && passwordFile !== undefined) {
    const url = new URL(read.connectionString)
    url.password = encodeURIComponent(
      await readSecretFile(passwordFile, 'KEYWARDEN_DATABASE_PASSWORD_FILE'),
    )
    read.connectionString = url.toString()
  }
  return read
}

/** The agent is the default in Node, unless this process's `KEYWARDEN_AGENT` is `0`. */
function agentByDefault(): boolean {
  const runtime = globalThis as { process?: { versions?: { node?: string }; env?: Environment } }
  if (runtime.process?.versions?.node === undefined) return false
  // Deno also reports versions.node; its Node compatibility is not enough for the agent.
  if ((globalThis as { Deno?: unknown }).Deno !== undefined) return false
  return runtime.process.env?.KEYWARDEN_AGENT?.trim() !== '0'
}

/**
 * A database URL without what must not be printed: the password, the query (it can carry
 * `password=` or `sslkey=`) and the fragment. Unparseable input is not echoed at all.
 */
export function describeDatabaseUrl(connectionString: string): string {
  try {
    const url = new URL(connectionString)
    url.password = ''
    url.search = ''
    url.hash = ''
    return url.toString()
  } catch {
    return 'the database URL'
  }
}

function embeddedConfig(env: Environment): StoreConfig {
  const home = value(env, 'KEYWARDEN_HOME')
  return {
    kind: 'embedded',
    ...(home === undefined ? {} : { home }),
    ...rootKeyFrom(env),
    // Only the opt-out is recorded: the default (the agent, in Node) is openStore's to pick.
    ...(value(env, 'KEYWARDEN_AGENT') === '0' ? { agent: false } : {}),
  }
}

function postgresConfig(env: Environment, variable: string): StoreConfig {
  const connectionString = value(env, variable) ?? ''
  let url: URL | undefined
  try {
    url = new URL(connectionString)
  } catch {}
  if (!url || (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:')) {
    throw configurationError(`${variable} must be a postgres:// or postgresql:// URL`)
  }
  const passwordFile = value(env, 'KEYWARDEN_DATABASE_PASSWORD_FILE')
  if (passwordFile !== undefined && url.password !== '') {
    throw configurationError(
      `${variable} holds a password and KEYWARDEN_DATABASE_PASSWORD_FILE names another; keep one`,
    )
  }
  return {
    kind: 'postgres',
    connectionString,
    variable,
    ...rootKeyFrom(env),
    ...(passwordFile === undefined ? {} : { passwordFile }),
  }
}

function supabaseConfig(env: Environment): StoreConfig {
  const url = value(env, 'SUPABASE_URL')
  const serviceRoleKey = value(env, 'SUPABASE_SERVICE_ROLE_KEY')
  const serviceRoleKeyFile = value(env, 'SUPABASE_SERVICE_ROLE_KEY_FILE')
  if (!url) throw configurationError('SUPABASE_SERVICE_ROLE_KEY is set but SUPABASE_URL is not')
  if (!serviceRoleKey && !serviceRoleKeyFile) {
    throw configurationError(
      'SUPABASE_URL is set but SUPABASE_SERVICE_ROLE_KEY (or SUPABASE_SERVICE_ROLE_KEY_FILE) is not',
    )
  }
  if (serviceRoleKey && serviceRoleKeyFile) {
    throw configurationError(
      'SUPABASE_SERVICE_ROLE_KEY and SUPABASE_SERVICE_ROLE_KEY_FILE are both set; keep one',
    )
  }
  let parsed: URL | undefined
  try {
    parsed = new URL(url)
  } catch {}
  if (!parsed || (parsed.protocol !== 'https:' && parsed.protocol !== 'http:')) {
    throw configurationError(
      'SUPABASE_URL must be an http(s) URL, e.g. https://<project>.supabase.co',
    )
  }
  return {
    kind: 'supabase',
    url,
    ...(serviceRoleKey === undefined ? { serviceRoleKeyFile } : { serviceRoleKey }),
    ...(value(env, 'KEYWARDEN_REALTIME') === '0' ? { realtime: false } : {}),
  }
}

/** `KEYWARDEN_ROOT_KEY`, checked, or `KEYWARDEN_ROOT_KEY_FILE` (read later): not both. */
function rootKeyFrom(env: Environment): { rootKey?: string; rootKeyFile?: string } {
  const rootKey = value(env, 'KEYWARDEN_ROOT_KEY')
  const rootKeyFile = value(env, 'KEYWARDEN_ROOT_KEY_FILE')
  if (rootKey !== undefined && rootKeyFile !== undefined) {
    throw configurationError(
      'KEYWARDEN_ROOT_KEY and KEYWARDEN_ROOT_KEY_FILE are both set; keep one',
    )
  }
  if (rootKey !== undefined) return { rootKey: checkedRootKey(rootKey, 'KEYWARDEN_ROOT_KEY') }
  return rootKeyFile === undefined ? {} : { rootKeyFile }
}

function checkedRootKey(rootKey: string, source: string): string {
  if (!/^[0-9a-fA-F]{64}$/.test(rootKey.trim())) {
    throw new KeywardenError(
      'ROOT_KEY_INVALID',
      `${source} must hold 64 hex characters (a 256-bit key)`,
    )
  }
  return rootKey.trim()
}

function value(env: Environment, name: string): string | undefined {
  const raw = env[name]
  return raw === undefined || raw.trim() === '' ? undefined : raw.trim()
}

function configurationError(message: string): KeywardenError {
  return new KeywardenError('CONFIGURATION_ERROR', message)
}
