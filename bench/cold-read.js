// A cold getSecret through the postgres store against the physical lower bound of an audited
// read: one hand-written prepared statement doing the same work — the lookup, the root key's
// check, the decryption, the audit row's INSERT (hash-chained by its trigger) and the relaxed
// commit — with the same driver on the same database. Target: ≤ 1.25× the lower bound.
// A bare parameterized SELECT round trip is reported beside it for reference (no target: an
// audited read writes a row and commits, which a bare SELECT does not).
// The ratio is of CPU time per read, this process's and its backend's together: on a shared
// machine wall-clock medians move with everyone else's load (they are printed too).
// Each iteration runs all three, in rotating order, so that load on the machine hits them alike.
import { createVaultClient } from '@keywarden/core'
import { createPostgresStore } from '@keywarden/core/node'
import pg from 'pg'
import { backendPid, benchDatabase, formatNs, median, report, sampleInterleaved } from './lib.js'

const ITERATIONS = 3000
const NAME = 'github_token'

/** The schema pgcrypto lives in, for the hand-written statements. */
export async function cryptoSchema(connection) {
  const { rows } = await connection.query(
    "SELECT extnamespace::regnamespace::text AS schema FROM pg_extension WHERE extname = 'pgcrypto'",
  )
  return rows[0].schema
}

/**
 * The lower bound of an audited read of `names` (a text[]): everything the SQL API does for
 * it, as one statement with no function boundary. `$1` names, `$2` the accessor.
 */
export function lowerBoundStatement(crypto) {
  return {
    name: 'lower_bound_read',
    text: `
      WITH relaxed AS (
        SELECT pg_catalog.set_config('synchronous_commit', 'off', true) AS mode
      ), session_key AS MATERIALIZED (
        SELECT k.root,
               left(encode(${crypto}.hmac(convert_to('keywarden-root-key-id', 'UTF8'), k.root, 'sha256'), 'hex'), 32)::uuid AS key_id
          FROM (SELECT decode(current_setting('keywarden.root_key'), 'hex') AS root) k
      ), requested AS (
        SELECT n.name, n.ord FROM unnest($1::text[]) WITH ORDINALITY AS n (name, ord)
      ), found AS MATERIALIZED (
        SELECT r.ord, r.name, coalesce(m.version, 1) AS version,
               CASE WHEN v.key_id = k.key_id THEN convert_from(${crypto}.pgp_sym_decrypt_bytea(
                 decode(v.secret, 'base64'),
                 encode(${crypto}.hmac(convert_to('keywarden-vault-v1:' || v.id::text, 'UTF8') || v.nonce, k.root, 'sha256'), 'hex')),
                 'UTF8') END AS value
          FROM requested r
          CROSS JOIN session_key k
          LEFT JOIN vault.secrets v ON v.name = r.name
          LEFT JOIN keywarden.secrets m ON m.vault_secret_id = v.id
      ), logged AS (
        INSERT INTO public.secret_access_log
          (secret_name, accessed_by, access_type, success, error_message, secret_version)
        SELECT f.name, $2, 'read', f.value IS NOT NULL,
               CASE WHEN f.value IS NULL THEN 'secret not found' END, f.version
          FROM found f, relaxed
      )
      SELECT f.name, f.value, f.version FROM found f ORDER BY f.ord`,
  }
}

/** A connection string naming its connection, so that its backend can be found. */
export function namedUrl(url, name) {
  const named = new URL(url)
  named.searchParams.set('application_name', name)
  return named.toString()
}

export async function run() {
  const db = await benchDatabase()
  const client = createVaultClient({
    store: createPostgresStore({
      connectionString: namedUrl(db.url, 'bench_client'),
      rootKey: db.rootKey,
      maxConnections: 1,
    }),
    accessedBy: 'bench',
    env: {},
  })
  const raw = new pg.Client({
    connectionString: namedUrl(db.url, 'bench_raw'),
    options: `-c keywarden.root_key=${db.rootKey}`,
  })
  await raw.connect()
  try {
    const value = `ghp_${'x'.repeat(36)}`
    await client.storeSecret(NAME, value)
    const bound = lowerBoundStatement(await cryptoSchema(raw))
    const reads = {
      client: async () => {
        client.clearSecretCache(NAME)
        await client.getSecret(NAME)
      },
      bound: async () => {
        const { rows } = await raw.query({ ...bound, values: [[NAME], 'bench'] })
        if (rows[0]?.value !== value) throw new Error('the lower bound did not read the secret')
      },
      select: () =>
        raw.query({ name: 'bare_select', text: 'SELECT $1::text AS value', values: [NAME] }),
    }
    const rawServer = await backendPid(raw, 'bench_raw')
    const { wall, cpu } = await sampleInterleaved(reads, {
      iterations: ITERATIONS,
      servers: {
        client: await backendPid(raw, 'bench_client'),
        bound: rawServer,
        select: rawServer,
      },
    })
    const ratio = (samples, a, b) => median(samples[a]) / median(samples[b])
    return report({
      name: 'cold getSecret via the postgres store, CPU time per read (client process + its backend, median)',
      value: `${formatNs(median(cpu.client))} (wall-clock median ${formatNs(median(wall.client))})`,
      baseline: `lower bound (one prepared statement: lookup, key check, decrypt, chained audit INSERT, relaxed commit) ${formatNs(median(cpu.bound))} (wall ${formatNs(median(wall.bound))}); bare SELECT ${formatNs(median(cpu.select))} (wall ${formatNs(median(wall.select))}; the read is ${ratio(wall, 'client', 'select').toFixed(2)}× it in wall-clock time, for reference)`,
      ratio: `${ratio(cpu, 'client', 'bound').toFixed(2)}× the lower bound in CPU time (${ratio(wall, 'client', 'bound').toFixed(2)}× in wall-clock time)`,
      target: '≤ 1.25× the lower bound',
      met: ratio(cpu, 'client', 'bound') <= 1.25,
    })
  } finally {
    await raw.end()
    await client.close()
    await db.drop()
  }
}
