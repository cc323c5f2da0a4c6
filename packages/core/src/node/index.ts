/**
 * Node-only pieces of `@keywarden/core`: file access, the bundled migrations and the embedded
 * database. The package root stays free of Node built-ins so Deno and edge runtimes can load it.
 * @module
 */
export { pgConnection, pgliteConnection } from './connections.ts'
export { bundledMigrationsDirectory, loadMigrations } from './migrations.ts'
export { type OpenPgliteOptions, openPglite } from './pglite.ts'
