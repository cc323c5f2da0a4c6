/**
 * The supabase store: supabase-js `.rpc()` with the service role key, what the edge function
 * uses on Supabase. Runtime-neutral (Node, Deno, edge). It cannot LISTEN through PostgREST;
 * where a WebSocket exists it hears changes through Supabase Realtime instead (`./realtime.ts`),
 * and its cache TTL stays the fallback.
 */
import {
  createClient,
  type SupabaseClient,
  type SupabaseClientOptions,
} from '@supabase/supabase-js'
import { errorFromDatabase, KeywardenError } from '../errors/index.ts'
import type { SecretStore } from './index.ts'
import { type ChangeFeed, type OpenChangeChannel, startChangeFeed } from './realtime.ts'
import {
  alertFromRow,
  auditRecordFromRow,
  claimFromRow,
  claimsArgument,
  doorPolicyArguments,
  doorPolicyFromRow,
  expiringFromRow,
  metadataFromRow,
  metricFromRow,
  rotationFromRow,
  secretFromRow,
  stagedAtFromRow,
  storedSecretFromRow,
  verificationFromRow,
} from './rows.ts'
import { auditArguments, metadataArguments } from './sql.ts'

/** Options for {@link createSupabaseStore}. */
export interface SupabaseStoreOptions {
  /** The project URL, e.g. `https://abc.supabase.co` (`SUPABASE_URL`). */
  url: string
  /** The service role key (`SUPABASE_SERVICE_ROLE_KEY`); never logged. */
  serviceRoleKey: string
  /** A fetch to use instead of the global one. */
  fetch?: typeof fetch
  /**
   * Hear changes made anywhere through Supabase Realtime's private `keywarden:secrets` channel,
   * so the client evicts at once instead of after its TTL. Default: true where the runtime has
   * a WebSocket (Deno, browsers, Node 22+) or `openChannel` is given.
   */
  realtime?: boolean
  /** Opens the Realtime channel; default: supabase-js's `client.channel(topic, private)`. */
  openChannel?: OpenChangeChannel
}

type Row = Record<string, unknown>
type RealtimeTransport = NonNullable<
  NonNullable<SupabaseClientOptions<'public'>['realtime']>['transport']
>

/**
 * supabase-js builds a Realtime client in createClient and throws where there is no global
 * WebSocket (Node 20). There the store opens no channel of supabase-js's (only one given as
 * `openChannel`), so a transport that refuses is enough.
 */
const RealtimeUnavailable = class {
  constructor() {
    throw new KeywardenError('INTERNAL', 'Keywarden does not use Supabase Realtime')
  }
} as unknown as RealtimeTransport

/** Creates a store that calls the SQL API through Supabase's REST gateway. */
export function createSupabaseStore(options: SupabaseStoreOptions): SecretStore {
  const target = describeProject(options.url)
  const client: SupabaseClient = createClient(options.url, options.serviceRoleKey, {
    auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false },
    ...(options.fetch ? { global: { fetch: options.fetch } } : {}),
    ...(globalThis.WebSocket ? {} : { realtime: { transport: RealtimeUnavailable } }),
  })
  const openChannel = realtimeChannelOpener(options, client)
  const listeners = new Set<(name: string) => void>()
  let feed: ChangeFeed | undefined

  const rpc = async (fn: string, args: Row, secretName?: string): Promise<unknown> => {
    let response: { data: unknown; error: unknown; status: number }
    try {
      response = await client.rpc(fn, args)
    } catch (error) {
      throw new KeywardenError('VAULT_UNAVAILABLE', `Supabase at ${target} is unreachable`, {
        cause: error,
      })
    }
    if (response.error) {
      // supabase-js reports a failed fetch as an error with no SQLSTATE and status 0.
      if (response.status === 0 || response.status >= 500) {
        throw new KeywardenError(
          'VAULT_UNAVAILABLE',
          `Supabase at ${target} is unavailable (HTTP ${response.status})`,
          { cause: response.error },
        )
      }
      throw errorFromDatabase(response.error, secretName === undefined ? {} : { secretName })
    }
    return response.data
  }
  // Calls that can yield more rows than the Data API's cap (1000 on Supabase, cut silently) go
  // to the `*_json` functions, which return all of them as one JSON array in one snapshot.
  const rows = async (fn: string, args: Row, secretName?: string): Promise<Row[]> => {
    const data = await rpc(fn, args, secretName)
    return Array.isArray(data) ? (data as Row[]) : []
  }

  return {
    kind: 'supabase',
    target,

    async getSecret(name, accessedBy, version = 'current') {
      // get_secret_row, not get_secrets([name]): its plan is kept across calls.
      const [row] = await rows(
        'get_secret_row',
        { secret_name: name, accessed_by: accessedBy, version },
        name,
      )
      return secretFromRow(row)
    },

    async getSecrets(names, accessedBy) {
      const result = await rows('get_secrets', {
        secret_names: [...names],
        accessed_by: accessedBy,
      })
      return new Map(result.map(storedSecretFromRow))
    },

    async storeSecret(name, value, input, accessedBy) {
      const id = await rpc(
        'store_secret',
        {
          secret_name: name,
          secret_value: value,
          ...metadataArguments(input, accessedBy),
        },
        name,
      )
      return String(id)
    },

    async updateSecretMetadata(name, input, accessedBy) {
      const version = await rpc(
        'update_secret_metadata',
        {
          secret_name: name,
          ...metadataArguments(input, accessedBy),
        },
        name,
      )
      return Number(version)
    },

    async rotateSecret(name, value, gracePeriodSeconds, accessedBy) {
      const result = await rows(
        'rotate_secret',
        {
          secret_name: name,
          new_value: value,
          grace_period: `${gracePeriodSeconds} seconds`,
          accessed_by: accessedBy,
        },
        name,
      )
      return rotationFromRow(result[0])
    },

    async deleteSecret(name, accessedBy) {
      return (
        (await rpc('delete_secret', { secret_name: name, accessed_by: accessedBy }, name)) === true
      )
    },

    async listSecrets(accessedBy) {
      return (await rows('list_secret_names_json', { accessed_by: accessedBy })).map(
        metadataFromRow,
      )
    },

    async checkExpiringSecrets(days, accessedBy, now) {
      return (
        await rows('check_expiring_secrets_json', {
          days,
          accessed_by: accessedBy,
          ...atTime(now),
        })
      ).map(expiringFromRow)
    },

    async stageRotation(name, value, accessedBy) {
      const stagedAt = await rpc(
        'stage_rotation',
        { secret_name: name, new_value: value, accessed_by: accessedBy },
        name,
      )
      return stagedAtFromRow({ staged_at: stagedAt })
    },

    async getStagedSecret(name, accessedBy) {
      const value = await rpc(
        'get_staged_secret',
        { secret_name: name, accessed_by: accessedBy },
        name,
      )
      return typeof value === 'string' ? value : null
    },

    async promoteRotation(name, gracePeriodSeconds, accessedBy) {
      const result = await rows(
        'promote_staged_rotation',
        {
          secret_name: name,
          grace_period: `${gracePeriodSeconds} seconds`,
          accessed_by: accessedBy,
        },
        name,
      )
      return rotationFromRow(result[0])
    },

    async discardRotation(name, accessedBy) {
      return (
        (await rpc(
          'discard_staged_rotation',
          { secret_name: name, accessed_by: accessedBy },
          name,
        )) === true
      )
    },

    async secretMetrics(now) {
      return (await rows('secret_metrics_json', atTime(now))).map(metricFromRow)
    },

    async secretAlerts(filter) {
      return (
        await rows('secret_alerts_json', {
          p_since: filter.since?.toISOString() ?? null,
          ...atTime(filter.now),
        })
      ).map(alertFromRow)
    },

    async claimNotifications(claims, accessedBy) {
      return (
        await rows('claim_notifications', {
          claims: claimsArgument(claims),
          accessed_by: accessedBy,
        })
      ).map(claimFromRow)
    },

    async releaseNotifications(claims) {
      return Number(await rpc('release_notifications', { claims: claimsArgument(claims) }))
    },

    async logAccessBatch(events) {
      return Number(await rpc('log_secret_access_batch', { events }))
    },

    async dashboardQuery(fn, args) {
      return rows(fn, args)
    },

    async queryAudit(filter) {
      const [secretName, failedOnly, since, maxRows] = auditArguments(filter)
      const result = await rows('query_secret_access_log_json', {
        secret_name: secretName,
        failed_only: failedOnly,
        since,
        max_rows: maxRows,
      })
      return result.map(auditRecordFromRow)
    },

    async verifyAuditLog(anchor) {
      const result = await rows('verify_secret_access_log', {
        anchor_id: anchor?.id ?? null,
        anchor_hash: anchor?.hash ?? null,
      })
      return verificationFromRow(result[0])
    },

    async listDoorPolicies() {
      return (await rows('list_door_policies', {})).map(doorPolicyFromRow)
    },

    async setDoorPolicy(rule, accessedBy) {
      await rpc('set_door_policy', doorPolicyArguments(rule, accessedBy))
    },

    async deleteDoorPolicy(doorPattern, secretPattern, accessedBy) {
      return (
        (await rpc('delete_door_policy', {
          door_pattern: doorPattern,
          secret_pattern: secretPattern,
          accessed_by: accessedBy,
        })) === true
      )
    },

    async oauthCall(operation, args) {
      return (await rpc('oauth_call', { operation, arguments: args })) ?? null
    },

    async ping() {
      await rows('check_expiring_secrets', { days: 0, accessed_by: 'keywarden:health' })
    },

    async schemaVersion() {
      try {
        const version = await rpc('keywarden_schema_version', {})
        return typeof version === 'string' ? version : null
      } catch (error) {
        // Before migration 10 the function does not exist: the version is unknown, not missing.
        if (error instanceof KeywardenError && error.code === 'SCHEMA_MISSING') return null
        throw error
      }
    },

    ...(openChannel === undefined
      ? {}
      : {
          async subscribe(onChange: (name: string) => void) {
            listeners.add(onChange)
            feed ??= startChangeFeed(openChannel, (name) => {
              for (const notify of listeners) notify(name)
            })
            return async () => {
              listeners.delete(onChange)
              if (listeners.size === 0 && feed) {
                const stopping = feed
                feed = undefined
                await stopping.stop()
              }
            }
          },
        }),

    async close() {
      listeners.clear()
      const stopping = feed
      feed = undefined
      await stopping?.stop()
      await client.removeAllChannels()
    },
  }
}

/** How the store opens its change channel, or undefined when it does not listen. */
function realtimeChannelOpener(
  options: SupabaseStoreOptions,
  client: SupabaseClient,
): OpenChangeChannel | undefined {
  const wanted = options.realtime ?? (options.openChannel !== undefined || !!globalThis.WebSocket)
  if (!wanted) return undefined
  if (options.openChannel) return options.openChannel
  if (!globalThis.WebSocket) {
    throw new KeywardenError(
      'CONFIGURATION_ERROR',
      'Supabase Realtime needs a WebSocket, which this runtime lacks; set realtime: false',
    )
  }
  return (topic) => client.channel(topic, { config: { private: true } })
}

/** The `p_now` argument: left out (the database's now()) unless a time is injected. */
function atTime(now: Date | undefined): Row {
  return now === undefined ? {} : { p_now: now.toISOString() }
}

function describeProject(url: string): string {
  try {
    const parsed = new URL(url)
    if (parsed.protocol === 'https:' || parsed.protocol === 'http:') return parsed.origin
  } catch {}
  throw new KeywardenError('CONFIGURATION_ERROR', 'SUPABASE_URL is not an http(s) URL')
}
