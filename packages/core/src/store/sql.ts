/**
 * The store over a direct SQL session, shared by the postgres and embedded stores: the same
 * SQL text, only the connection differs. Runtime-neutral.
 */
import { errorFromDatabase } from '../errors/index.ts'
import type { AuditFilter, SecretStore, StoreKind, StoreSecretInput } from './index.ts'
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

/** How {@link QueryFunction} runs a statement. */
export interface QueryOptions {
  /**
   * A name under which a server connection keeps the statement parsed and planned, for the
   * statements of the read path: each call then costs one Bind/Execute, not a Parse as well.
   * A store over an in-process database may ignore it.
   */
  prepare?: string
}

/** Runs one parameterized statement and returns its rows. */
export type QueryFunction = (
  sql: string,
  params: unknown[],
  options?: QueryOptions,
) => Promise<Record<string, unknown>[]>

/** What a concrete SQL store supplies. */
export interface SqlStoreParts {
  kind: StoreKind
  target: string
  query: QueryFunction
  subscribe?: SecretStore['subscribe']
  close(): Promise<void>
}

/** Builds a {@link SecretStore} that calls the SQL API through `parts.query`. */
export function createSqlStore(parts: SqlStoreParts): SecretStore {
  const run = async (
    sql: string,
    params: unknown[],
    secretName?: string,
    options?: QueryOptions,
  ) => {
    try {
      return await parts.query(sql, params, options)
    } catch (error) {
      throw errorFromDatabase(error, secretName === undefined ? {} : { secretName })
    }
  }

  return {
    kind: parts.kind,
    target: parts.target,

    async getSecret(name, accessedBy, version = 'current') {
      // get_secret_row, not get_secrets(ARRAY[$1]): its plan is kept across calls.
      const rows = await run(
        'SELECT * FROM public.get_secret_row($1, $2, $3)',
        [name, accessedBy, version],
        name,
        { prepare: 'keywarden_get_secret_row' },
      )
      return secretFromRow(rows[0])
    },

    async getSecrets(names, accessedBy) {
      const rows = await run(
        'SELECT * FROM public.get_secrets($1::text[], $2)',
        [[...names], accessedBy],
        undefined,
        { prepare: 'keywarden_get_secrets' },
      )
      return new Map(rows.map(storedSecretFromRow))
    },

    async storeSecret(name, value, input, accessedBy) {
      const rows = await run(
        `SELECT public.store_secret($1, $2, $3, $4, $5, $6::interval, $7, $8, $9::text[], $10::text[], $11) AS id`,
        [name, value, ...Object.values(metadataArguments(input, accessedBy))],
        name,
      )
      return String(rows[0]?.id)
    },

    async updateSecretMetadata(name, input, accessedBy) {
      const rows = await run(
        `SELECT public.update_secret_metadata($1, $2, $3, $4, $5::interval, $6, $7, $8::text[], $9::text[], $10) AS version`,
        [name, ...Object.values(metadataArguments(input, accessedBy))],
        name,
      )
      return Number(rows[0]?.version)
    },

    async rotateSecret(name, value, gracePeriodSeconds, accessedBy) {
      const rows = await run(
        'SELECT * FROM public.rotate_secret($1, $2, make_interval(secs => $3), $4)',
        [name, value, gracePeriodSeconds, accessedBy],
        name,
      )
      return rotationFromRow(rows[0])
    },

    async deleteSecret(name, accessedBy) {
      const rows = await run(
        'SELECT public.delete_secret($1, $2) AS deleted',
        [name, accessedBy],
        name,
      )
      return rows[0]?.deleted === true
    },

    async listSecrets(accessedBy) {
      const rows = await run(
        'SELECT * FROM public.list_secret_names($1)',
        [accessedBy],
        undefined,
        {
          prepare: 'keywarden_list_secret_names',
        },
      )
      return rows.map(metadataFromRow)
    },

    async checkExpiringSecrets(days, accessedBy, now) {
      const rows = await run(
        'SELECT * FROM public.check_expiring_secrets($1, $2, coalesce($3::timestamptz, now()))',
        [days, accessedBy, now?.toISOString() ?? null],
      )
      return rows.map(expiringFromRow)
    },

    async stageRotation(name, value, accessedBy) {
      const rows = await run(
        'SELECT public.stage_rotation($1, $2, $3) AS staged_at',
        [name, value, accessedBy],
        name,
      )
      return stagedAtFromRow(rows[0])
    },

    async getStagedSecret(name, accessedBy) {
      const rows = await run(
        'SELECT public.get_staged_secret($1, $2) AS value',
        [name, accessedBy],
        name,
      )
      const value = rows[0]?.value
      return typeof value === 'string' ? value : null
    },

    async promoteRotation(name, gracePeriodSeconds, accessedBy) {
      const rows = await run(
        'SELECT * FROM public.promote_staged_rotation($1, make_interval(secs => $2), $3)',
        [name, gracePeriodSeconds, accessedBy],
        name,
      )
      return rotationFromRow(rows[0])
    },

    async discardRotation(name, accessedBy) {
      const rows = await run(
        'SELECT public.discard_staged_rotation($1, $2) AS discarded',
        [name, accessedBy],
        name,
      )
      return rows[0]?.discarded === true
    },

    async secretMetrics(now) {
      const rows = await run(
        'SELECT * FROM public.secret_metrics(coalesce($1::timestamptz, now()))',
        [now?.toISOString() ?? null],
      )
      return rows.map(metricFromRow)
    },

    async secretAlerts(filter) {
      const rows = await run(
        'SELECT * FROM public.secret_alerts($1, coalesce($2::timestamptz, now()))',
        [filter.since?.toISOString() ?? null, filter.now?.toISOString() ?? null],
      )
      return rows.map(alertFromRow)
    },

    async claimNotifications(claims, accessedBy) {
      const rows = await run('SELECT * FROM public.claim_notifications($1::jsonb, $2)', [
        JSON.stringify(claimsArgument(claims)),
        accessedBy,
      ])
      return rows.map(claimFromRow)
    },

    async releaseNotifications(claims) {
      const rows = await run('SELECT public.release_notifications($1::jsonb) AS released', [
        JSON.stringify(claimsArgument(claims)),
      ])
      return Number(rows[0]?.released ?? 0)
    },

    async logAccessBatch(events) {
      const rows = await run('SELECT public.log_secret_access_batch($1::jsonb) AS written', [
        JSON.stringify(events),
      ])
      return Number(rows[0]?.written ?? 0)
    },

    async queryAudit(filter) {
      const rows = await run(
        'SELECT * FROM public.query_secret_access_log($1, $2, $3, $4)',
        auditArguments(filter),
      )
      return rows.map(auditRecordFromRow)
    },

    async verifyAuditLog(anchor) {
      const rows = await run('SELECT * FROM public.verify_secret_access_log($1, $2)', [
        anchor?.id ?? null,
        anchor?.hash ?? null,
      ])
      return verificationFromRow(rows[0])
    },

    async dashboardQuery(fn, args) {
      const values = Object.values(args)
      const placeholders = values.map((_, index) => `$${index + 1}`).join(', ')
      // fn is one of DASHBOARD_FUNCTIONS (the type, and the agent checks it on its socket).
      const rows = await run(`SELECT public.${fn}(${placeholders}) AS result`, values)
      const result = rows[0]?.result
      return Array.isArray(result) ? (result as Record<string, unknown>[]) : []
    },

    async listDoorPolicies() {
      return (await run('SELECT * FROM public.list_door_policies()', [])).map(doorPolicyFromRow)
    },

    async setDoorPolicy(rule, accessedBy) {
      await run(
        'SELECT public.set_door_policy($1, $2, $3, $4, $5, $6, $7, $8, $9)',
        Object.values(doorPolicyArguments(rule, accessedBy)),
      )
    },

    async deleteDoorPolicy(doorPattern, secretPattern, accessedBy) {
      const rows = await run('SELECT public.delete_door_policy($1, $2, $3) AS deleted', [
        doorPattern,
        secretPattern,
        accessedBy,
      ])
      return rows[0]?.deleted === true
    },

    async oauthCall(operation, args) {
      const rows = await run('SELECT public.oauth_call($1, $2::jsonb) AS result', [
        operation,
        JSON.stringify(args),
      ])
      return rows[0]?.result ?? null
    },

    async ping() {
      await run('SELECT 1', [])
    },

    async schemaVersion() {
      try {
        // Where `keywarden db migrate`, the embedded vault and `supabase db push` record them.
        const rows = await parts.query(
          'SELECT max(version)::text AS version FROM supabase_migrations.schema_migrations',
          [],
        )
        return typeof rows[0]?.version === 'string' ? rows[0].version : null
      } catch (error) {
        const mapped = errorFromDatabase(error)
        // No migration table (or schema): nothing was ever applied.
        if (mapped.sqlState === '42P01' || mapped.sqlState === '3F000') return null
        throw mapped
      }
    },

    ...(parts.subscribe ? { subscribe: parts.subscribe } : {}),
    close: parts.close,
  }
}

/**
 * The metadata arguments of `store_secret` and `update_secret_metadata`, named as the SQL
 * names them and in their order (after the name, and the value for `store_secret`): the
 * supabase store passes them by name, the SQL store by position.
 */
export function metadataArguments(input: StoreSecretInput, accessedBy: string) {
  return {
    secret_description: input.description ?? null,
    secret_type: input.type ?? null,
    expires_at: input.expiresAt?.toISOString() ?? null,
    rotation_interval:
      input.rotationIntervalDays === undefined ? null : `${input.rotationIntervalDays} days`,
    accessed_by: accessedBy,
    agent_visible: input.agentVisible ?? null,
    allowed_hosts: input.allowedHosts === undefined ? null : [...input.allowedHosts],
    allowed_commands: input.allowedCommands === undefined ? null : [...input.allowedCommands],
    protected: input.protected ?? null,
  }
}

/** query_secret_access_log's arguments, in order. */
export function auditArguments(filter: AuditFilter): unknown[] {
  return [
    filter.secretName ?? null,
    filter.failedOnly ?? false,
    filter.since?.toISOString() ?? null,
    filter.limit ?? 100,
  ]
}
