/**
 * Node-only pieces of `@keywarden/core`: file access, the bundled migrations, the embedded
 * database and the local agent that serves it to many processes. The package root stays free of Node built-ins so Deno and edge runtimes can load it.
 * @module
 */

export {
  ALL_SECRETS,
  createPostgresStore,
  type PostgresStoreOptions,
} from '../store/postgres.ts'
export {
  type AgentStoreOptions,
  agentSupported,
  createAgentStore,
  type StopAgentOptions,
  stopAgent,
} from './agent/index.ts'
export {
  type AgentLogEntry,
  type AgentServer,
  type ServeAgentOptions,
  serveAgent,
} from './agent/server.ts'
export { pgConnection, pgliteConnection } from './connections.ts'
export {
  createEmbeddedStore,
  defaultKeywardenHome,
  type EmbeddedStoreOptions,
} from './embedded.ts'
export {
  checkPrivateFile,
  checkVaultHome,
  DATA_DIR,
  ROOT_KEY_FILE,
  type VaultHomeOptions,
} from './home/index.ts'
export { bundledMigrationsDirectory, loadMigrations } from './migrations.ts'
export { type OpenPgliteOptions, openPglite } from './pglite.ts'
export {
  describeRootKey,
  KEYCHAIN_SERVICE,
  type KeychainAvailability,
  keychainAccount,
  type LoadedRootKey,
  loadRootKey,
  moveRootKeyToKeychain,
  type RootKeyEnvironment,
  type RootKeyLocation,
  type RootKeyOptions,
  type RootKeyReport,
  readRootKey,
  restoreRootKey,
} from './root-key/index.ts'
export { readSecretFile } from './secret-files/index.ts'
