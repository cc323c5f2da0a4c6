/**
 * The supabase store: supabase-js `.rpc()` with the service role key, what the edge function
 * uses on Supabase. Runtime-neutral (Node, Deno, edge). It cannot LISTEN through PostgREST, so
 * it has no change subscription: its cache relies on the TTL, which suits short-lived edge
 * workers.
 */
import {
  createClient,
  type SupabaseClient,
  type SupabaseClientOptions,
} from '@supabase/supabase-js'
import { errorFromDatabase, KeywardenError } from '../errors/index.ts'
import type { SecretStore } from './index.ts'
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
  stagedAtFromRow,
  storedSecretFromRow,
} from './rows.ts'
import { auditArguments, storeArguments } from './sql.ts'

/** Options for {@link createSupabaseStore}. */
export interface SupabaseStoreOptions {
  /** The project URL, e.g. `https://abc.supabase.co` (`SUPABASE_URL`). */
  url: string
  /** The service role key (`SUPABASE_SERVICE_ROLE_KEY`); never logged. */
  serviceRoleKey: string
  /** A fetch to use instead of the global one. */
  fetch?: typeof fetch
}

type Row = Record<string, unknown>
type RealtimeTransport = NonNullable<
  NonNullable<SupabaseClientOptions<'public'>['realtime']>['transport']
>

/**
 * supabase-js builds a Realtime client in createClient and throws where there is no global
 * WebSocket (Node 20). The store never opens a channel, so a transport that refuses is enough.
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
  const rows = async (fn: string, args: Row, secretName?: string): Promise<Row[]> => {
    const data = await rpc(fn, args, secretName)
    return Array.isArray(data) ? (data as Row[]) : []
  }

  return {
    kind: 'supabase',
    target,

    async getSecret(name, accessedBy, version = 'current') {
      const [row] = await rows(
        'get_secrets',
        { secret_names: [name], accessed_by: accessedBy, version },
        name,
      )
      return row ? storedSecretFromRow(row)[1] : null
    },

    async getSecrets(names, accessedBy) {
      const result = await rows('get_secrets', {
        secret_names: [...names],
        accessed_by: accessedBy,
      })
      return new Map(result.map(storedSecretFromRow))
    },

    async storeSecret(name, value, input, accessedBy) {
      const [
        description,
        type,
        expiresAt,
        interval,
        agentVisible,
        allowedHosts,
        allowedCommands,
        isProtected,
      ] = storeArguments(input)
      const id = await rpc(
        'store_secret',
        {
          secret_name: name,
          secret_value: value,
          secret_description: description,
          secret_type: type,
          expires_at: expiresAt,
          rotation_interval: interval,
          accessed_by: accessedBy,
          agent_visible: agentVisible,
          allowed_hosts: allowedHosts,
          allowed_commands: allowedCommands,
          protected: isProtected,
        },
        name,
      )
      return String(id)
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
      return (await rows('list_secret_names', { accessed_by: accessedBy })).map(metadataFromRow)
    },

    async checkExpiringSecrets(days, accessedBy, now) {
      return (
        await rows('check_expiring_secrets', { days, accessed_by: accessedBy, ...atTime(now) })
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
      return (await rows('secret_metrics', atTime(now))).map(metricFromRow)
    },

    async secretAlerts(filter) {
      return (
        await rows('secret_alerts', {
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

    async queryAudit(filter) {
      const [secretName, failedOnly, since, maxRows] = auditArguments(filter)
      const result = await rows('query_secret_access_log', {
        secret_name: secretName,
        failed_only: failedOnly,
        since,
        max_rows: maxRows,
      })
      return result.map(auditRecordFromRow)
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

    async ping() {
      await rows('check_expiring_secrets', { days: 0, accessed_by: 'keywarden:health' })
    },

    async close() {
      await client.removeAllChannels()
    },
  }
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
