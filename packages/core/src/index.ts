/**
 * `@keywarden/core`: the vault client behind every Keywarden front door.
 *
 * This root is runtime-neutral (Node, Deno, edge): Node-only pieces live at
 * `@keywarden/core/node`.
 * @module
 */
export {
  type Migration,
  type MigrationReport,
  parseMigration,
  runMigrations,
  type SqlConnection,
  splitStatements,
} from './migrate/index.ts'
