/**
 * Test-only: one session's transaction that is always rolled back, on either SQL backend, for
 * tests that change what the rest of a file must not see (an owner tampering with the audit log,
 * a caller planting temporary objects). Nothing here is part of the package build.
 */
import type { Transaction } from '@electric-sql/pglite'
import type { SqlBackend } from './sql-backends.ts'

/** Statements inside the open transaction, and the NOTICEs the server sent meanwhile. */
export interface RolledBackSession {
  run<Row = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<Row[]>
  readonly notices: string[]
}

/**
 * Runs `body` in a transaction that is rolled back afterwards, as the user that applied the
 * migrations (switch roles with `SET LOCAL ROLE`). On PostgreSQL it is a fresh session with the
 * database's root key; PGlite has only its one session.
 */
export async function rolledBack(
  db: SqlBackend,
  body: (session: RolledBackSession) => Promise<void>,
): Promise<void> {
  const notices: string[] = []
  if (db.kind !== 'pglite') {
    const client = await db.database.connect()
    client.on('notice', (notice) => notices.push(notice.message ?? ''))
    try {
      await client.query('BEGIN')
      await body({
        run: async <Row>(sql: string, params: unknown[] = []) =>
          (await client.query(sql, params)).rows as Row[],
        notices,
      })
    } finally {
      await client.query('ROLLBACK').catch(() => {})
      await client.end()
    }
    return
  }
  await db.db.transaction(async (tx: Transaction) => {
    try {
      await body({
        run: async <Row>(sql: string, params: unknown[] = []) =>
          (
            await tx.query<Row>(sql, params, {
              onNotice: (notice) => notices.push(notice.message ?? ''),
            })
          ).rows,
        notices,
      })
    } finally {
      await tx.rollback()
    }
  })
}
