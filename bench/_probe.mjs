import { createVaultClient } from '@keywarden/core'
import { createPostgresStore } from '@keywarden/core/node'
import pg from 'pg'
import { benchDatabase, formatNs, median, sample, sampleInterleaved } from './lib.js'
import { cryptoSchema, lowerBoundStatement } from './cold-read.js'
const db = await benchDatabase()
const store = createPostgresStore({ connectionString: db.url, rootKey: db.rootKey, maxConnections: 1 })
const client = createVaultClient({ store: createPostgresStore({ connectionString: db.url, rootKey: db.rootKey, maxConnections: 1 }), accessedBy: 'bench', env: {} })
const raw = new pg.Client({ connectionString: db.url, options: `-c keywarden.root_key=${db.rootKey}` })
await raw.connect()
await client.storeSecret('github_token', 'ghp_' + 'x'.repeat(36))
const bound = lowerBoundStatement(await cryptoSchema(raw))
const extra = process.argv[2] ? JSON.parse(process.argv[2]) : {}
const reads = {
  bound: () => raw.query({ ...bound, values: [['github_token'], 'bench'] }),
  fnRaw: () => raw.query({ name: 'fn', text: 'SELECT * FROM public.get_secret_row($1, $2, $3)', values: ['github_token', 'bench', 'current'] }),
  batch1Raw: () => raw.query({ name: 'fb', text: 'SELECT * FROM public.get_secrets($1::text[], $2)', values: [['github_token'], 'bench'] }),
  store: () => store.getSecret('github_token', 'bench'),
  client: async () => { client.clearSecretCache('github_token'); await client.getSecret('github_token') },
  select: () => raw.query({ name: 'sel', text: 'SELECT $1::text AS value', values: ['x'] }),
  ...Object.fromEntries(Object.entries(extra).map(([k, text]) => [k, () => raw.query({ name: k, text, values: [] })])),
}

const s = await sampleInterleaved(reads, { iterations: 1500 })
const b = median(s.bound)
for (const k of Object.keys(s)) console.log(k.padEnd(10), formatNs(median(s[k])), (median(s[k]) / b).toFixed(2))
await raw.end(); await store.close(); await client.close(); await db.drop()
