/**
 * The postgres store: a direct connection to any PostgreSQL that has Keywarden's migrations
 * (a Supabase database included). It LISTENs on `keywarden_secrets`, so a change made by any
 * client anywhere reaches this one's cache at once.
 *
 * Driver: `pg` (node-postgres); docs/architecture.md gives the measurement behind the choice.
 */
import pg from 'pg'
import { describeDatabaseUrl } from '../config/index.ts'
import { KeywardenError } from '../errors/index.ts'
import type { SecretStore } from './index.ts'
import { createSqlStore } from './sql.ts'

/** Options for {@link createPostgresStore}. */
export interface PostgresStoreOptions {
  /** `postgres://user:password@host:port/database`. */
  connectionString: string
  /**
   * The vault root key (64 hex characters) for Keywarden's compatible vault. Not needed where
   * the real Supabase Vault provides the `vault` schema.
   */
  rootKey?: string
  /** Pool size (default 4). */
  maxConnections?: number
  /** How long to wait for a connection before the vault counts as unavailable (default 5 s). */
  connectTimeoutMs?: number
  /** Listen for changes (default true). */
  listen?: boolean
}

/** The sentinel name a change listener receives when it may have missed changes. */
export const ALL_SECRETS = '*'

const CHANNEL = 'keywarden_secrets'

/** Opens a pool to the database. Nothing connects until the first query. */
export function createPostgresStore(options: PostgresStoreOptions): SecretStore {
  const target = describeConnection(options.connectionString)
  const config: pg.PoolConfig = {
    connectionString: options.connectionString,
    max: options.maxConnections ?? 4,
    connectionTimeoutMillis: options.connectTimeoutMs ?? 5_000,
    idleTimeoutMillis: 30_000,
    // One connection stays when idle: below `min` the pool arms no idle timer on each release
    // and clears none on each checkout, which was a sizeable part of a cold read's client time.
    min: 1,
    // A script that forgets close() still exits once its queries are done.
    allowExitOnIdle: true,
    ...(options.rootKey === undefined ? {} : { options: rootKeyOption(options.rootKey) }),
  }
  const pool = new pg.Pool(config)
  // An idle connection dying (server restart, terminated backend) must not crash the process;
  // the next query gets a fresh connection or a VAULT_UNAVAILABLE error.
  pool.on('error', () => {})

  const listeners = new Set<(name: string) => void>()
  let listener: ChangeListener | undefined

  return createSqlStore({
    kind: 'postgres',
    target,
    async query(sql, params, options) {
      const statement = options?.prepare
        ? { name: options.prepare, text: sql, values: params }
        : { text: sql, values: params }
      return (await pool.query(statement)).rows
    },
    ...(options.listen === false
      ? {}
      : {
          async subscribe(onChange) {
            listeners.add(onChange)
            listener ??= startListening(config, (name) => {
              for (const notify of listeners) notify(name)
            })
            // A change made right after subscribe() resolves must be heard.
            await listener.ready
            return async () => {
              listeners.delete(onChange)
              if (listeners.size === 0 && listener) {
                await listener.stop()
                listener = undefined
              }
            }
          },
        }),
    async close() {
      await listener?.stop()
      listener = undefined
      listeners.clear()
      await pool.end()
    },
  })
}

interface ChangeListener {
  /**
   * Settles once the first connection LISTENs, or failed to (it then keeps retrying, and
   * reports {@link ALL_SECRETS} when it is back). Never rejects.
   */
  ready: Promise<void>
  stop(): Promise<void>
}

/**
 * Keeps one connection LISTENing, reconnecting with backoff when it drops. Notifications sent
 * while it was down are lost, so after every reconnect it reports {@link ALL_SECRETS}.
 */
function startListening(config: pg.PoolConfig, onChange: (name: string) => void): ChangeListener {
  let stopped = false
  let client: pg.Client | undefined
  let retryTimer: ReturnType<typeof setTimeout> | undefined
  let attempt = 0

  const connect = async (): Promise<void> => {
    const next = new pg.Client(config)
    client = next
    next.on('notification', (message) => {
      if (message.channel === CHANNEL && message.payload) onChange(message.payload)
    })
    next.on('error', () => scheduleReconnect(next))
    next.on('end', () => scheduleReconnect(next))
    try {
      await next.connect()
      await next.query(`LISTEN ${CHANNEL}`)
      if (attempt > 0) onChange(ALL_SECRETS)
      attempt = 0
    } catch {
      scheduleReconnect(next)
    }
  }

  const scheduleReconnect = (failed: pg.Client) => {
    if (stopped || failed !== client || retryTimer) return
    client = undefined
    failed.end().catch(() => {})
    attempt++
    const delay = Math.min(100 * 2 ** (attempt - 1), 5_000)
    retryTimer = setTimeout(() => {
      retryTimer = undefined
      void connect()
    }, delay)
    retryTimer.unref?.()
  }

  return {
    ready: connect(),
    async stop() {
      stopped = true
      if (retryTimer) clearTimeout(retryTimer)
      const current = client
      client = undefined
      await current?.end().catch(() => {})
    },
  }
}

/** The connection string without its password, for reports and errors. */
export function describeConnection(connectionString: string): string {
  let url: URL
  try {
    url = new URL(connectionString)
  } catch {
    throw new KeywardenError('CONFIGURATION_ERROR', 'the database URL is not a valid URL')
  }
  if (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:') {
    throw new KeywardenError(
      'CONFIGURATION_ERROR',
      `the database URL must start with postgres:// or postgresql://, not ${url.protocol}//`,
    )
  }
  return describeDatabaseUrl(connectionString)
}

function rootKeyOption(rootKey: string): string {
  if (!/^[0-9a-fA-F]{64}$/.test(rootKey)) {
    throw new KeywardenError('ROOT_KEY_INVALID', 'the vault root key must be 64 hex characters')
  }
  return `-c keywarden.root_key=${rootKey}`
}
