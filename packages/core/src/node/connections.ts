import type { PGlite } from '@electric-sql/pglite'
import type { ClientBase } from 'pg'
import type { SqlConnection } from '../migrate/index.ts'

/** Adapts one `pg` client (not a pool) to a {@link SqlConnection}. */
export function pgConnection(client: ClientBase): SqlConnection {
  return {
    async query(sql, params) {
      const result = await client.query(sql, params)
      return { rows: result.rows }
    },
    async exec(sql) {
      // Without parameters pg uses the simple query protocol, which accepts many statements.
      await client.query(sql)
    },
  }
}

/** Adapts a PGlite instance to a {@link SqlConnection}. */
export function pgliteConnection(db: PGlite): SqlConnection {
  return {
    async query<Row>(sql: string, params?: unknown[]) {
      const result = await db.query<Row>(sql, params)
      return { rows: result.rows }
    },
    async exec(sql) {
      await db.exec(sql)
    },
  }
}
