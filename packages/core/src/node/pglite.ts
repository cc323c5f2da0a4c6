import { PGlite } from '@electric-sql/pglite'
import { pgcrypto } from '@electric-sql/pglite/contrib/pgcrypto'

/** Options for {@link openPglite}. */
export interface OpenPgliteOptions {
  /** Where the database lives; in memory when omitted. */
  dataDir?: string
  /** The vault root key (64 hex characters), set for the whole session. */
  rootKey?: string
}

/**
 * Opens an embedded PostgreSQL (PGlite) with pgcrypto loaded, ready for Keywarden's migrations.
 * PGlite is one session, so the root key set here holds for every query on it.
 */
export async function openPglite(options: OpenPgliteOptions = {}): Promise<PGlite> {
  const db = await PGlite.create({
    ...(options.dataDir === undefined ? {} : { dataDir: options.dataDir }),
    extensions: { pgcrypto },
  })
  if (options.rootKey !== undefined) {
    await db.query('SELECT set_config($1, $2, false)', ['keywarden.root_key', options.rootKey])
  }
  return db
}
