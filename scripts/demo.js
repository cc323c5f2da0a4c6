// `npm run demo`: the vault's SQL API end to end on the embedded database (PGlite, in memory),
// through the same migrations a Supabase project or a PostgreSQL server gets. It stores, reads,
// rotates and audits a secret, and never prints a value: only lengths and whether they match.
import { randomBytes } from 'node:crypto'
import { runMigrations } from '@keywarden/core'
import { loadMigrations, openPglite, pgliteConnection } from '@keywarden/core/node'

const say = (line) => process.stdout.write(`${line}\n`)
const rootKey = randomBytes(32).toString('hex')
const token = `ghp_${randomBytes(18).toString('hex')}`
const rotated = `ghp_${randomBytes(18).toString('hex')}`

const db = await openPglite({ rootKey })
const report = await runMigrations(pgliteConnection(db), await loadMigrations())
say(`embedded vault ready: ${report.applied.length} migrations applied`)
await db.exec('SET ROLE service_role')

const [stored] = (
  await db.query(
    "SELECT public.store_secret('github_token', $1, 'GitHub PAT', 'github_token', accessed_by => 'demo') AS id",
    [token],
  )
).rows
say(`stored github_token as vault secret ${stored.id}`)

const [ciphertext] = (
  await db.query("SELECT secret FROM vault.secrets WHERE name = 'github_token'")
).rows
say(
  `at rest: ${ciphertext.secret.length} characters of ciphertext, plaintext absent: ${!ciphertext.secret.includes(token)}`,
)

const [read] = (await db.query("SELECT public.get_secret('github_token', 'demo') AS value")).rows
say(`get_secret: ${read.value.length} characters, matches what was stored: ${read.value === token}`)

const [rotation] = (
  await db.query(
    "SELECT * FROM public.rotate_secret('github_token', $1, interval '24 hours', 'demo')",
    [rotated],
  )
).rows
say(
  `rotated to version ${rotation.secret_version}; previous value served until ${rotation.previous_valid_until.toISOString()}`,
)

const [both] = (
  await db.query(
    "SELECT public.get_secret('github_token', 'demo') AS current, public.get_secret('github_token', 'demo', 'previous') AS previous",
  )
).rows
say(
  `after rotation: current is the new value: ${both.current === rotated}; previous still readable: ${both.previous === token}`,
)

const missing = (await db.query("SELECT public.get_secret('openai_api_key', 'demo') AS value"))
  .rows[0]
say(`get_secret of a missing secret returns ${missing.value}`)

say('\naudit log (newest first):')
const audit = await db.query(
  'SELECT secret_name, accessed_by, access_type, success, error_message FROM public.secret_access_log ORDER BY id DESC',
)
for (const row of audit.rows) {
  say(
    `  ${row.success ? 'ok  ' : 'FAIL'} ${row.access_type.padEnd(7)} ${row.secret_name.padEnd(15)} by ${row.accessed_by}${row.error_message ? ` (${row.error_message})` : ''}`,
  )
}
await db.close()
