/** `keywarden status`: where the vault is, whether it answers, and what needs attention. */
import {
  describeDatabaseUrl,
  type Environment,
  KeywardenError,
  type KeywardenErrorCode,
  resolveStoreConfig,
} from '@keywarden/core'
import { loadMigrations } from '@keywarden/core/node'
import type { CommandContext, CommandModule } from '../context.ts'
import { UsageError } from '../errors.ts'
import { describeSource, embeddedRootKey, type RootKeySource } from '../root-key.ts'

export const options: CommandModule['options'] = {}

export const help = `Usage: keywarden status [--json]

Shows which vault the CLI uses and where it points (never a password), whether it answers, where
the embedded vault's root key is kept (the OS keychain or a 0600 file; never the key; see
keywarden key), where values come from (secret_source: vault, env or none), the schema version (the latest migration
applied; an error when it is newer than this CLI knows), how many secrets it holds, rotations and
expiries due within 7 days, failed accesses in the last hour, and the client cache's figures.
Exits 4 when the vault cannot be reached.

Options:
  --json   {"backend": {"kind", "target", "reachable"}, "root_key" (embedded: {"kind": "keychain" |
           "file" | "environment" | "missing" | "none", ...}), "secret_source", "schema_version", "secret_count",
           "rotations_due", "rotations_overdue", "expiring", "expired",
           "audit_failures_last_hour", "cache", "change_notifications"}

Examples:
  keywarden status
  keywarden status --database-url postgres://postgres@db.example.com:5432/postgres
  keywarden status --json | jq .secret_source`

const WINDOW_DAYS = 7
const HOUR_MS = 60 * 60 * 1000

export const run: CommandModule['run'] = async (context, { positionals }) => {
  if (positionals.length > 0) {
    throw new UsageError('status takes no arguments; see keywarden status --help')
  }
  const client = await context.client()
  const health = await client.health()
  const { out } = context
  const { backend } = health
  const rootKey = await rootKeySource(context)
  const rootKeyJson = rootKey === undefined ? {} : { root_key: rootKey }
  const rootKeyLine = () => {
    if (rootKey === undefined) return
    const text = describeSource(rootKey)
    out.line(`Root key       ${rootKey.kind === 'missing' ? out.paint.red(text) : text}`)
  }
  if (!backend.reachable) {
    const code = (backend.error ?? 'VAULT_UNAVAILABLE') as KeywardenErrorCode
    // The store never opened, so the client can only name the variable; show where it points.
    const target = describeTarget(context.env) ?? backend.target
    if (out.json) {
      out.printJson({
        backend: { ...backend, target },
        ...rootKeyJson,
        secret_source: health.secret_source,
      })
    } else {
      out.line(`Backend        ${backend.kind} ${target} ${out.paint.red(`(${code})`)}`)
      rootKeyLine()
      out.line(`Secret source  ${health.secret_source}`)
    }
    // The CLI's one error line and exit code (4 when unreachable).
    throw new KeywardenError(code, `cannot reach the vault at ${target} (${code})`)
  }
  await checkSchema(health.schema_version)
  // Three queries side by side: one round trip's wait instead of three.
  const [secrets, expiring, failures] = await Promise.all([
    client.listSecrets(),
    client.checkExpiringSecrets(WINDOW_DAYS),
    client.queryAudit({
      failedOnly: true,
      since: new Date(Date.now() - HOUR_MS),
      limit: 100_000,
    }),
  ])
  const rotations = expiring.filter((secret) => secret.reason === 'rotation_due')
  const expiries = expiring.filter((secret) => secret.reason === 'expires')
  const overdueRotations = rotations.filter((secret) => secret.overdue).length
  const expired = expiries.filter((secret) => secret.overdue).length
  // Cache hits are logged one row per minute with a count; count events, not rows.
  const failureCount = failures.reduce((sum, record) => sum + record.eventCount, 0)
  // The health result, after the queries above, so the cache figures include them.
  const { cache, change_notifications } = await client.health()
  if (out.json) {
    out.printJson({
      backend,
      ...rootKeyJson,
      secret_source: health.secret_source,
      schema_version: health.schema_version,
      secret_count: secrets.length,
      rotations_due: rotations.length,
      rotations_overdue: overdueRotations,
      expiring: expiries.length,
      expired,
      audit_failures_last_hour: failureCount,
      cache,
      change_notifications,
    })
    return 0
  }
  const { paint } = out
  const attention = (count: number, text: string) => (count > 0 ? paint.yellow(text) : text)
  out.line(`Backend        ${backend.kind} ${backend.target} ${paint.green('(reachable)')}`)
  rootKeyLine()
  out.line(`Secret source  ${health.secret_source}`)
  out.line(`Schema         ${health.schema_version ?? 'unknown (not readable through this store)'}`)
  out.line(`Secrets        ${secrets.length}`)
  out.line(
    `Rotations due  ${attention(rotations.length, `${rotations.length} within ${WINDOW_DAYS} days`)}${overdueRotations > 0 ? paint.red(` (${overdueRotations} overdue)`) : ''}`,
  )
  out.line(
    `Expiring       ${attention(expiries.length, `${expiries.length} within ${WINDOW_DAYS} days`)}${expired > 0 ? paint.red(` (${expired} expired)`) : ''}`,
  )
  out.line(
    `Audit failures ${failureCount > 0 ? paint.red(`${failureCount} in the last hour`) : '0 in the last hour'}`,
  )
  out.line(
    `Cache          ${cache.size} held, ${cache.hits} hits, ${cache.misses} misses, TTL ${Math.round(cache.ttl_ms / 1000)} s`,
  )
  out.line(
    `Notifications  ${change_notifications ? 'on (changes elsewhere evict at once)' : 'off'}`,
  )
  return 0
}

/**
 * Refuses a database migrated by a newer Keywarden: its functions may take other arguments,
 * and `keywarden db migrate` from this CLI would not help. (A missing or older schema shows as
 * SCHEMA_MISSING on the first query.)
 */
async function checkSchema(version: string | null): Promise<void> {
  if (version === null) return
  const known = (await loadMigrations()).at(-1)?.version ?? ''
  if (version > known) {
    throw new KeywardenError(
      'CONFIGURATION_ERROR',
      `the vault's schema (${version}) is newer than this keywarden knows (${known}): upgrade it, e.g. npm install -g @keywarden/cli`,
    )
  }
}

/** Where the embedded vault's root key is; undefined for other stores (theirs is the user's). */
async function rootKeySource(context: CommandContext): Promise<RootKeySource | undefined> {
  try {
    if (resolveStoreConfig(context.env).kind !== 'embedded') return undefined
  } catch {
    return undefined
  }
  return (await embeddedRootKey(context.env)).source
}

/** Where the configuration points, without credentials; undefined when it cannot say. */
function describeTarget(env: Environment): string | undefined {
  try {
    const config = resolveStoreConfig(env)
    if (config.kind === 'postgres') return describeDatabaseUrl(config.connectionString)
    if (config.kind === 'supabase') return new URL(config.url).origin
    return config.home
  } catch {
    return undefined
  }
}
