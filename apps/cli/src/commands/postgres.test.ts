/**
 * The command suite against the real PostgreSQL server: a fresh migrated database, reached
 * through KEYWARDEN_DATABASE_URL with a password in it (the server trusts local connections,
 * so any password works) that must never be printed.
 */
import { createPostgresTestDatabase } from '../../../../packages/core/src/testing/databases.ts'
import { defineCommandSuite } from '../testing/command-suite.ts'

const PASSWORD = 'pw-never-printed-7c1f'

defineCommandSuite({
  name: 'postgres',
  async setup() {
    const database = await createPostgresTestDatabase()
    const url = new URL(database.url)
    url.password = PASSWORD
    return {
      env: { KEYWARDEN_DATABASE_URL: url.toString(), KEYWARDEN_ROOT_KEY: database.rootKey },
      hidden: [PASSWORD],
      cleanup: () => database.drop(),
    }
  },
})
