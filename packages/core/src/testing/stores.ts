/**
 * Test-only: each of the three stores over a fresh database of its own, for the store contract
 * suite and for client tests that need a real store underneath. Nothing here is part of the
 * package build.
 *
 * - `embedded`: {@link createEmbeddedStore} in a new temporary home (PGlite, ≈5 s to create).
 * - `postgres`: {@link createPostgresStore} on a fresh migrated database on the real server.
 * - `supabase`: {@link createSupabaseStore} through the PostgREST test double over another fresh
 *   database, with a service_role JWT, the Data API's 1000-row cap, and Realtime off (the
 *   double serves none; `store/supabase.test.ts` tests the change feed).
 *
 * `postgres` and `supabase` also run on the Supabase-like cluster (`server: 'supabase-like'`),
 * with the real vault; there the double logs in as `authenticator`, as Supabase's PostgREST does,
 * and switches to the JWT's role per request, under authenticator's timeouts.
 *
 * Every handle has `cleanup()`, which closes whatever it opened and drops its database or home.
 */
import { randomBytes } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createEmbeddedStore } from '../node/embedded.ts'
import type { SecretStore, StoreKind } from '../store/index.ts'
import { createPostgresStore } from '../store/postgres.ts'
import { createSupabaseStore } from '../store/supabase.ts'
import {
  createPostgresTestDatabase,
  includeSupabaseLike,
  type PostgresTestDatabase,
  randomRootKey,
  type TestServer,
} from './databases.ts'
import {
  type PostgrestDouble,
  SUPABASE_MAX_ROWS,
  signTestJwt,
  startPostgrestDouble,
} from './postgrest/index.ts'

interface TestStoreBase {
  /** The store under test. Replaced by `reopen()` on the embedded store. */
  readonly store: SecretStore
  /** The key the store's secrets are encrypted under. */
  readonly rootKey: string
  /** Closes every store this handle opened and removes its database or home. Idempotent. */
  cleanup(): Promise<void>
}

/** The embedded store in a temporary home. */
export interface EmbeddedTestStore extends TestStoreBase {
  readonly kind: 'embedded'
  /** The temporary `KEYWARDEN_HOME`. */
  readonly home: string
  /**
   * Closes the current store and opens the home again (PGlite allows one open store per home),
   * with `rootKey` (default: the right one). `store` is the reopened store from then on.
   */
  reopen(options?: { rootKey?: string }): Promise<SecretStore>
}

/** The postgres store on a fresh database; `connect()` opens more stores on it. */
export interface PostgresTestStore extends TestStoreBase {
  readonly kind: 'postgres'
  readonly database: PostgresTestDatabase
  /** The database's URL, without the root key (pass `rootKey` separately). */
  readonly databaseUrl: string
  /**
   * Another store on the same database, closed by `cleanup()`. `rootKey`: omitted, the right
   * key; `null`, no key at all; a string, that key.
   */
  connect(options?: { rootKey?: string | null; listen?: boolean }): Promise<SecretStore>
}

/** The supabase store through the PostgREST double; pause the double to simulate an outage. */
export interface SupabaseTestStore extends TestStoreBase {
  readonly kind: 'supabase'
  readonly database: PostgresTestDatabase
  readonly double: PostgrestDouble
  /** The URL and key given to the store, as `SUPABASE_URL` / `SUPABASE_SERVICE_ROLE_KEY`. */
  readonly url: string
  readonly serviceRoleKey: string
  /** The secret the double verifies JWTs with, to sign tokens of other roles. */
  readonly jwtSecret: string
  /**
   * Another store on the same database, through a second double whose sessions get `rootKey`
   * (omitted, the right key; `null`, none). Closed by `cleanup()`.
   */
  connect(options?: { rootKey?: string | null }): Promise<SecretStore>
}

export interface TestStores {
  embedded: EmbeddedTestStore
  postgres: PostgresTestStore
  supabase: SupabaseTestStore
}

export type TestStore = TestStores[StoreKind]

/** The store kinds, for `describe.each`. */
export const STORE_KINDS: readonly StoreKind[] = ['embedded', 'postgres', 'supabase']

/** Options of {@link createTestStore}. */
export interface TestStoreOptions {
  /** Where the `postgres` and `supabase` stores' database lives (default `postgres`, 5432). */
  server?: TestServer
}

/** One store on one server, for `describe.each` over {@link storeCases}. */
export interface StoreCase {
  /** `postgres`, or `postgres on supabase-like`. */
  label: string
  kind: StoreKind
  server: TestServer
}

/**
 * Every store on the plain server, and the `postgres` and `supabase` stores on the Supabase-like
 * cluster too, in CI (required there) and wherever it is running.
 */
export async function storeCases(): Promise<StoreCase[]> {
  const cases: StoreCase[] = STORE_KINDS.map((kind) => ({ label: kind, kind, server: 'postgres' }))
  if (await includeSupabaseLike()) {
    for (const kind of ['postgres', 'supabase'] as const) {
      cases.push({ label: `${kind} on supabase-like`, kind, server: 'supabase-like' })
    }
  }
  return cases
}

/** Creates a store of `kind` over a database of its own. */
export async function createTestStore<K extends StoreKind>(
  kind: K,
  options?: TestStoreOptions,
): Promise<TestStores[K]>
export async function createTestStore(
  kind: StoreKind,
  options: TestStoreOptions = {},
): Promise<TestStore> {
  switch (kind) {
    case 'embedded':
      return createEmbeddedTestStore()
    case 'postgres':
      return createPostgresTestStore(options)
    case 'supabase':
      return createSupabaseTestStore(options)
  }
}

/** Runs every cleanup step, then throws the first error any of them threw. */
async function runAll(steps: readonly (() => Promise<unknown>)[]): Promise<void> {
  const results = await Promise.allSettled(steps.map((step) => step()))
  const failed = results.find((result) => result.status === 'rejected')
  if (failed) throw failed.reason
}

/** A cleanup that runs once, however often it is called. */
function once(cleanup: () => Promise<void>): () => Promise<void> {
  let running: Promise<void> | undefined
  return () => {
    running ??= cleanup()
    return running
  }
}

/** A temporary home under the OS temp directory, for embedded stores. */
export function createTemporaryHome(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'keywarden-test-'))
}

async function createEmbeddedTestStore(): Promise<EmbeddedTestStore> {
  const home = await createTemporaryHome()
  const rootKey = randomRootKey()
  let store: SecretStore
  try {
    store = await createEmbeddedStore({ home, rootKey })
  } catch (error) {
    await rm(home, { recursive: true, force: true })
    throw error
  }
  let open = true
  return {
    kind: 'embedded',
    home,
    rootKey,
    get store() {
      return store
    },
    async reopen(options = {}) {
      if (open) await store.close()
      open = false
      store = await createEmbeddedStore({ home, rootKey: options.rootKey ?? rootKey })
      open = true
      return store
    },
    cleanup: once(async () => {
      try {
        if (open) await store.close()
        open = false
      } finally {
        await rm(home, { recursive: true, force: true })
      }
    }),
  }
}

async function createPostgresTestStore(options: TestStoreOptions): Promise<PostgresTestStore> {
  const database = await createPostgresTestDatabase(options)
  const opened: SecretStore[] = []
  const open = (rootKey: string | null, listen = true) => {
    const store = createPostgresStore({
      connectionString: database.url,
      ...(rootKey === null ? {} : { rootKey }),
      connectTimeoutMs: 5_000,
      listen,
    })
    opened.push(store)
    return store
  }
  const store = open(database.rootKey)
  return {
    kind: 'postgres',
    store,
    rootKey: database.rootKey,
    database,
    databaseUrl: database.url,
    async connect(options = {}) {
      return open(
        options.rootKey === undefined ? database.rootKey : options.rootKey,
        options.listen,
      )
    },
    cleanup: once(async () => {
      try {
        await runAll(opened.map((each) => () => each.close()))
      } finally {
        await database.drop()
      }
    }),
  }
}

async function createSupabaseTestStore(options: TestStoreOptions): Promise<SupabaseTestStore> {
  const database = await createPostgresTestDatabase(options)
  const jwtSecret = randomBytes(32).toString('hex')
  const serviceRoleKey = signTestJwt({ role: 'service_role' }, jwtSecret)
  const doubles: PostgrestDouble[] = []
  const stores: SecretStore[] = []
  // Supabase's PostgREST logs in as authenticator (LOGIN NOINHERIT, 8 s statement and lock
  // timeouts) and switches to the JWT's role; the plain server has no such role.
  const loginUrl = new URL(database.url)
  if (database.server === 'supabase-like') loginUrl.username = 'authenticator'
  const open = async (rootKey: string | null) => {
    // Set up as Supabase sets up its Data API: at most 1000 rows per set-returning call.
    const double = await startPostgrestDouble({
      databaseUrl: loginUrl.toString(),
      rootKey,
      jwtSecret,
      maxRows: SUPABASE_MAX_ROWS,
    })
    doubles.push(double)
    // The double serves no Realtime: the change feed is tested with a channel of its own.
    const store = createSupabaseStore({ url: double.url, serviceRoleKey, realtime: false })
    stores.push(store)
    return { double, store }
  }
  const cleanup = once(async () => {
    try {
      await runAll([
        ...stores.map((each) => () => each.close()),
        ...doubles.map((each) => () => each.close()),
      ])
    } finally {
      await database.drop()
    }
  })
  let first: { double: PostgrestDouble; store: SecretStore }
  try {
    first = await open(database.rootKey)
  } catch (error) {
    await cleanup()
    throw error
  }
  return {
    kind: 'supabase',
    store: first.store,
    rootKey: database.rootKey,
    database,
    double: first.double,
    url: first.double.url,
    serviceRoleKey,
    jwtSecret,
    async connect(options = {}) {
      return (await open(options.rootKey === undefined ? database.rootKey : options.rootKey)).store
    },
    cleanup,
  }
}
