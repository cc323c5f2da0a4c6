/**
 * The Keywarden MCP tools, defined once for every MCP door (the stdio `keywarden-mcp` and,
 * later, the edge plugin's MCP endpoint): each tool has a zod input and output schema,
 * returns `structuredContent` plus a short text rendering, and carries truthful annotations.
 *
 * What a model can see: names, metadata, expiry, the audit log, usage metrics, alerts,
 * incident reports and health — never a value,
 * except through `reveal_secret` for a secret the user marked agent-visible. Values given to
 * `store_secret` and `rotate_secret` are never echoed back; `http_request` and `run_command`
 * use values and return responses and output with them masked. Errors are `CODE: message`
 * (see ../results), never a driver error's `cause` (those can echo input rows).
 *
 * Runtime-neutral: no `node:` import reaches this module, because the edge plugin loads it
 * under Deno; process spawning comes in through {@link KeywardenMcpServerOptions.runCommand}.
 * @module
 */
import {
  auditRecordJson,
  buildIncidentReport,
  expiringSecretJson,
  type IncidentReport,
  KeywardenError,
  SECRET_TYPES,
  type SecretMetadata,
  type SecretType,
  secretAlertJson,
  secretMetadataJson,
  secretMetricJson,
  type VaultClient,
} from '@keywarden/core'
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js'
import type { ElicitResult } from '@modelcontextprotocol/sdk/types.js'
import { z } from 'zod'
import { type HttpRequestOptions, registerHttpRequestTool } from '../http-request/index.ts'
import { createToolLogger } from '../logging/index.ts'
import { guarded, ok, ToolError } from '../results/index.ts'
import { type RunCommandOptions, registerRunCommandTool } from '../run-command/index.ts'

export type { HttpRequestOptions } from '../http-request/index.ts'
export type { LogLevel } from '../logging/index.ts'
export { errorText, ToolError, toolError } from '../results/index.ts'
export {
  type CommandExit,
  type CommandRequest,
  type CommandRunner,
  parseAllowedCommands,
  type RunCommandOptions,
} from '../run-command/index.ts'

/** Options for {@link createKeywardenMcpServer}. */
export interface KeywardenMcpServerOptions {
  /** The server name announced at initialize. Default `keywarden`. */
  name?: string
  /** The server version announced at initialize. Default `0.0.0`. */
  version?: string
  /** Limits for `http_request` (timeout, response size, redirects). */
  http?: HttpRequestOptions
  /**
   * Turns `run_command` on: the executables allowed and the process runner (Node's is
   * `createNodeCommandRunner` from `@keywarden/mcp-server/node`). Off when absent or when
   * `allowedCommands` is empty.
   */
  runCommand?: RunCommandOptions
  /** Also writes each log message here as a line (`keywarden-mcp` passes stderr). */
  log?: (line: string) => void
}

/**
 * The tools {@link createKeywardenMcpServer} registers, in order; `run_command` only when
 * configured.
 */
export const TOOL_NAMES = [
  'list_secrets',
  'get_secret_metadata',
  'check_expiring_secrets',
  'query_audit_log',
  'vault_health',
  'secret_metrics',
  'secret_alerts',
  'incident_report',
  'store_secret',
  'rotate_secret',
  'delete_secret',
  'reveal_secret',
  'http_request',
  'run_command',
] as const

const secretTypes = SECRET_TYPES as readonly [SecretType, ...SecretType[]]

const nameInput = z
  .string()
  .describe('The secret name: lower-case letters, digits and underscores, e.g. github_token')

/**
 * The JSON shapes of secret metadata, expiring secrets, audit rows, metrics and alerts (core's
 * `secretMetadataJson` and siblings produce them). Exported so the edge plugin declares its
 * OpenAPI responses from the same schemas the MCP tools' output schemas use.
 */
export const secretMetadataShape = z.object({
  name: z.string(),
  description: z.string().nullable(),
  type: z.enum(secretTypes),
  version: z.number().int(),
  created_at: z.string(),
  updated_at: z.string(),
  last_rotated_at: z.string().nullable(),
  expires_at: z.string().nullable(),
  rotation_interval_days: z.number().nullable(),
  rotation_due_at: z.string().nullable(),
  previous_valid_until: z.string().nullable(),
  agent_visible: z.boolean(),
  allowed_hosts: z.array(z.string()),
})

type MetadataOutput = z.infer<typeof secretMetadataShape>

/** See {@link secretMetadataShape}. */
export const expiringSecretShape = z.object({
  name: z.string(),
  type: z.enum(secretTypes),
  reason: z.enum(['expires', 'rotation_due']),
  due_at: z.string(),
  expires_at: z.string().nullable(),
  rotation_due_at: z.string().nullable(),
  overdue: z.boolean(),
})

/** See {@link secretMetadataShape}. */
export const auditRecordShape = z.object({
  id: z.number().int(),
  secret_name: z.string(),
  accessed_by: z.string(),
  access_type: z.string(),
  success: z.boolean(),
  error_message: z.string().nullable(),
  created_at: z.string(),
  event_count: z.number().int(),
  secret_version: z.number().int().nullable(),
  source: z.string().nullable(),
})

const levels = ['low', 'medium', 'high', 'critical'] as const

/** See {@link secretMetadataShape}. */
export const secretMetricShape = z.object({
  name: z.string(),
  type: z.enum(secretTypes),
  risk_level: z.enum(levels),
  accesses_24h: z.number().int(),
  accesses_7d: z.number().int(),
  failed_7d: z.number().int(),
  failure_rate: z.number().describe('Failed share of the 7 days, 0 to 1'),
  accessors_7d: z.array(z.string()),
  last_accessed_at: z.string().nullable(),
  last_rotated_at: z.string().nullable(),
  seconds_since_rotation: z.number().int(),
  rotation_due_at: z.string().nullable(),
  expires_at: z.string().nullable(),
  rotation_staged_at: z.string().nullable(),
})

/** See {@link secretMetadataShape}. */
export const secretAlertShape = z.object({
  key: z.string(),
  kind: z.enum([
    'failed_access_burst',
    'new_accessor',
    'access_spike',
    'rotation_overdue',
    'secret_expired',
  ]),
  severity: z.enum(levels),
  secret_name: z.string().nullable(),
  accessed_by: z.string().nullable(),
  occurred_at: z.string(),
  evidence: z.record(z.string(), z.unknown()).describe('Counts and times behind the alert'),
})

const incidentShape = z.object({
  name: z.string(),
  type: z.enum(secretTypes),
  version: z.number(),
  generated_at: z.string(),
  since: z.string(),
  accessors: z.array(
    z.object({
      accessed_by: z.string(),
      accesses: z.number(),
      failures: z.number(),
      first_at: z.string(),
      last_at: z.string(),
    }),
  ),
  audit_trail: z.object({
    total_rows: z.number(),
    complete: z.boolean(),
    records: z.array(auditRecordShape),
  }),
  revocation: z.object({ instruction: z.string(), urls: z.array(z.string()) }),
})

const iso = (date: Date | null): string | null => (date === null ? null : date.toISOString())

/** The report with the newest `limit` audit rows: the whole trail is the CLI's CSV. */
function incidentOutput(report: IncidentReport, limit: number): z.infer<typeof incidentShape> {
  return {
    name: report.name,
    type: report.type,
    version: report.version,
    generated_at: report.generatedAt.toISOString(),
    since: report.since.toISOString(),
    accessors: report.accessors.map((accessor) => ({
      accessed_by: accessor.accessedBy,
      accesses: accessor.accesses,
      failures: accessor.failures,
      first_at: accessor.firstAt.toISOString(),
      last_at: accessor.lastAt.toISOString(),
    })),
    audit_trail: {
      total_rows: report.auditTrail.length,
      complete: !report.auditTrailTruncated,
      records: report.auditTrail.slice(0, limit).map(auditRecordJson),
    },
    revocation: { instruction: report.revocation.instruction, urls: [...report.revocation.urls] },
  }
}

function describeIncident(report: z.infer<typeof incidentShape>): string {
  const { audit_trail: trail } = report
  return [
    `Incident report for ${report.name} (${report.type}, v${report.version}); nothing was rotated.`,
    `Accessors since ${report.since}:`,
    ...(report.accessors.length === 0
      ? ['- none']
      : report.accessors.map(
          (accessor) =>
            `- ${accessor.accessed_by}: ${accessor.accesses} access(es)${accessor.failures > 0 ? `, ${accessor.failures} failed` : ''}, last ${accessor.last_at}`,
        )),
    `Audit trail: ${trail.total_rows}${trail.complete ? '' : '+'} rows, the newest ${trail.records.length} included.`,
    `Revoke the old value: ${report.revocation.instruction}.`,
    ...report.revocation.urls.map((url) => `  ${url}`),
  ].join('\n')
}

/**
 * Parses `since`: a duration back from `now` (`90m`, `24h`, `30d`) or an ISO 8601 date.
 * Throws INVALID_ARGUMENT otherwise.
 */
export function parseSince(since: string, now: number = Date.now()): Date {
  const duration = /^(\d{1,6})([mhd])$/.exec(since.trim())
  if (duration) {
    const unit = { m: 60_000, h: 3_600_000, d: 86_400_000 }[duration[2] as 'm' | 'h' | 'd']
    return new Date(now - Number(duration[1]) * unit)
  }
  if (/^\d{4}-\d{2}-\d{2}/.test(since.trim())) {
    const parsed = Date.parse(since.trim())
    if (!Number.isNaN(parsed)) return new Date(parsed)
  }
  throw new KeywardenError(
    'INVALID_ARGUMENT',
    'since must be a duration such as 90m, 24h or 30d, or an ISO 8601 date',
  )
}

async function findMetadata(client: VaultClient, name: string): Promise<SecretMetadata> {
  const found = (await client.listSecrets()).find((secret) => secret.name === name)
  if (!found) {
    throw new KeywardenError('SECRET_NOT_FOUND', `secret ${name} is not in the vault`, {
      secretName: name,
    })
  }
  return found
}

function describeSecret(secret: MetadataOutput): string {
  const flags = [
    secret.type,
    `v${secret.version}`,
    ...(secret.expires_at ? [`expires ${secret.expires_at}`] : []),
    ...(secret.agent_visible ? ['agent-visible'] : []),
  ]
  return `${secret.name} (${flags.join(', ')})${secret.description ? `: ${secret.description}` : ''}`
}

/**
 * Creates an MCP server with the Keywarden tools over `client`. The caller connects a
 * transport and owns the client (closing the server does not close it).
 */
export function createKeywardenMcpServer(
  client: VaultClient,
  options: KeywardenMcpServerOptions = {},
): McpServer {
  const server = new McpServer(
    { name: options.name ?? 'keywarden', version: options.version ?? '0.0.0' },
    {
      capabilities: { logging: {} },
      instructions:
        'Keywarden keeps secrets in an encrypted vault. You can list, inspect, audit, store, ' +
        'rotate and delete secrets, but you cannot read values unless the user marked a secret ' +
        'agent-visible (reveal_secret). To use a secret without seeing it, put ' +
        '{{secret:NAME}} in an http_request to one of its allowed hosts.',
    },
  )
  const log = createToolLogger(server, options.log)

  server.registerTool(
    'list_secrets',
    {
      title: 'List secrets',
      description: 'Lists the secrets in the vault with their metadata. Never returns values.',
      inputSchema: z.strictObject({}),
      outputSchema: z.object({ count: z.number(), secrets: z.array(secretMetadataShape) }),
      annotations: { readOnlyHint: true, openWorldHint: false },
    },
    () =>
      guarded('list_secrets', log, async () => {
        const secrets = (await client.listSecrets()).map(secretMetadataJson)
        const text =
          secrets.length === 0
            ? 'The vault has no secrets.'
            : `${secrets.length} secret${secrets.length === 1 ? '' : 's'}:\n${secrets
                .map((secret) => `- ${describeSecret(secret)}`)
                .join('\n')}`
        return ok({ count: secrets.length, secrets }, text)
      }),
  )

  server.registerTool(
    'get_secret_metadata',
    {
      title: 'Get secret metadata',
      description:
        "One secret's metadata: type, version, dates, rotation, whether agents may read it and the hosts it may be sent to. Never the value.",
      inputSchema: z.strictObject({ name: nameInput }),
      outputSchema: secretMetadataShape,
      annotations: { readOnlyHint: true, openWorldHint: false },
    },
    ({ name }) =>
      guarded('get_secret_metadata', log, async () => {
        const secret = secretMetadataJson(await findMetadata(client, name))
        return ok(secret, describeSecret(secret))
      }),
  )

  server.registerTool(
    'check_expiring_secrets',
    {
      title: 'Check expiring secrets',
      description:
        'Secrets that expire or are due for rotation within the next `days` days (default 7), including overdue ones.',
      inputSchema: z.strictObject({
        days: z.number().int().min(0).max(3650).optional().describe('The window in days'),
      }),
      outputSchema: z.object({ days: z.number(), secrets: z.array(expiringSecretShape) }),
      annotations: { readOnlyHint: true, openWorldHint: false },
    },
    ({ days = 7 }) =>
      guarded('check_expiring_secrets', log, async () => {
        const secrets = (await client.checkExpiringSecrets(days)).map(expiringSecretJson)
        const text =
          secrets.length === 0
            ? `Nothing expires or is due for rotation in the next ${days} days.`
            : secrets
                .map(
                  (secret) =>
                    `- ${secret.name}: ${secret.reason === 'expires' ? 'expires' : 'rotation due'} ${secret.due_at}${secret.overdue ? ' (overdue)' : ''}`,
                )
                .join('\n')
        return ok({ days, secrets }, text)
      }),
  )

  server.registerTool(
    'query_audit_log',
    {
      title: 'Query the audit log',
      description:
        'Who accessed which secret, how and when, newest first. Filters: a secret name, failures only, since (a duration such as 24h or 30d, or an ISO date), and a limit (default 50).',
      inputSchema: z.strictObject({
        secret: nameInput.optional(),
        failed_only: z.boolean().optional(),
        since: z.string().max(64).optional().describe('e.g. 90m, 24h, 30d, or 2026-01-31T00:00Z'),
        limit: z.number().int().min(1).max(1000).optional(),
      }),
      outputSchema: z.object({ count: z.number(), records: z.array(auditRecordShape) }),
      annotations: { readOnlyHint: true, openWorldHint: false },
    },
    ({ secret, failed_only, since, limit = 50 }) =>
      guarded('query_audit_log', log, async () => {
        const records = (
          await client.queryAudit({
            ...(secret === undefined ? {} : { secretName: secret }),
            ...(failed_only === undefined ? {} : { failedOnly: failed_only }),
            ...(since === undefined ? {} : { since: parseSince(since) }),
            limit,
          })
        ).map(auditRecordJson)
        const text =
          records.length === 0
            ? 'No audit records match.'
            : records
                .map(
                  (record) =>
                    `${record.created_at} ${record.secret_name} ${record.access_type} by ${record.accessed_by}${record.success ? '' : ` FAILED${record.error_message ? ` (${record.error_message})` : ''}`}${record.event_count > 1 ? ` ×${record.event_count}` : ''}`,
                )
                .join('\n')
        return ok({ count: records.length, records }, text)
      }),
  )

  server.registerTool(
    'vault_health',
    {
      title: 'Vault health',
      description:
        'Whether the vault is reachable, which tier serves secrets, cache and audit-buffer statistics.',
      inputSchema: z.strictObject({}),
      outputSchema: z.object({
        secret_source: z.enum(['vault', 'env', 'none']),
        backend: z.object({
          kind: z.string(),
          target: z.string(),
          reachable: z.boolean(),
          error: z.string().optional(),
        }),
        accessed_by: z.string(),
        cache: z.looseObject({ ttl_ms: z.number() }),
        audit: z.looseObject({}),
        change_notifications: z.boolean(),
        schema_version: z
          .string()
          .nullable()
          .describe('The latest migration applied to the vault database; null when unknown'),
      }),
      annotations: { readOnlyHint: true, openWorldHint: false },
    },
    () =>
      guarded('vault_health', log, async () => {
        const health = await client.health()
        const text = `secret source: ${health.secret_source}; backend ${health.backend.kind} (${health.backend.target}) ${health.backend.reachable ? 'reachable' : `unreachable${health.backend.error ? `: ${health.backend.error}` : ''}`}`
        return ok({ ...health }, text)
      }),
  )

  server.registerTool(
    'secret_metrics',
    {
      title: 'Secret usage metrics',
      description:
        'Per secret: accesses in the last 24 hours and 7 days, the failed share, the accessors (services) of the last 7 days, the last access, time since rotation, risk level and rotation due date. Never values.',
      inputSchema: z.strictObject({}),
      outputSchema: z.object({ count: z.number(), metrics: z.array(secretMetricShape) }),
      annotations: { readOnlyHint: true, openWorldHint: false },
    },
    () =>
      guarded('secret_metrics', log, async () => {
        const metrics = (await client.secretMetrics()).map(secretMetricJson)
        const text =
          metrics.length === 0
            ? 'The vault has no secrets.'
            : metrics
                .map(
                  (metric) =>
                    `- ${metric.name} (${metric.risk_level}): ${metric.accesses_24h} accesses in 24h, ${metric.accesses_7d} in 7d, ${(metric.failure_rate * 100).toFixed(1)}% failed, ${metric.accessors_7d.length} accessor(s)${metric.rotation_due_at ? `, rotation due ${metric.rotation_due_at}` : ''}`,
                )
                .join('\n')
        return ok({ count: metrics.length, metrics }, text)
      }),
  )

  server.registerTool(
    'secret_alerts',
    {
      title: 'Secret alerts',
      description:
        'Suspicious access and overdue secrets since `since` (a duration such as 24h or 7d, or an ISO date; default 24h): failed-access bursts, new accessors, access spikes, overdue rotations, expired secrets. Each alert has a kind, severity, secret, accessor and evidence (counts, times). Sends no notification.',
      inputSchema: z.strictObject({
        since: z.string().max(64).optional().describe('e.g. 90m, 24h, 7d, or 2026-01-31T00:00Z'),
      }),
      outputSchema: z.object({ count: z.number(), alerts: z.array(secretAlertShape) }),
      annotations: { readOnlyHint: true, openWorldHint: false },
    },
    ({ since }) =>
      guarded('secret_alerts', log, async () => {
        const alerts = (
          await client.secretAlerts(since === undefined ? {} : { since: parseSince(since) })
        ).map(secretAlertJson)
        const text =
          alerts.length === 0
            ? 'No alerts.'
            : alerts
                .map(
                  (alert) =>
                    `${alert.occurred_at} ${alert.severity} ${alert.kind} ${alert.secret_name ?? '-'}${alert.accessed_by ? ` by ${alert.accessed_by}` : ''} ${JSON.stringify(alert.evidence)}`,
                )
                .join('\n')
        return ok({ count: alerts.length, alerts }, text)
      }),
  )

  server.registerTool(
    'incident_report',
    {
      title: 'Incident report',
      description:
        'For a possibly leaked secret: every accessor in the last 30 days, its audit trail (the newest `limit` rows, default 50) and where to revoke the old value at the provider. Read-only: it does not rotate; the user runs `keywarden incident NAME` for that.',
      inputSchema: z.strictObject({
        name: nameInput,
        limit: z.number().int().min(1).max(1000).optional().describe('Audit rows to include'),
      }),
      outputSchema: incidentShape,
      annotations: { readOnlyHint: true, openWorldHint: false },
    },
    ({ name, limit = 50 }) =>
      guarded('incident_report', log, async () => {
        const report = incidentOutput(await buildIncidentReport(client, name), limit)
        return ok(report, describeIncident(report))
      }),
  )

  server.registerTool(
    'store_secret',
    {
      title: 'Store a secret',
      description:
        'Creates a secret, or replaces the value of an existing one as a new version. The value is never echoed back. It does not make the secret readable by agents; only the user can (keywarden set NAME --agent-visible).',
      inputSchema: z.strictObject({
        name: nameInput,
        value: z.string().describe('The secret value'),
        description: z.string().max(1000).optional(),
        type: z.enum(secretTypes).optional(),
      }),
      outputSchema: z.object({ name: z.string(), id: z.string(), stored: z.boolean() }),
      // Replacing an existing secret's value is not purely additive.
      annotations: {
        readOnlyHint: false,
        destructiveHint: true,
        idempotentHint: false,
        openWorldHint: false,
      },
    },
    ({ name, value, description, type }) =>
      guarded('store_secret', log, async () => {
        const id = await client.storeSecret(name, value, {
          ...(description === undefined ? {} : { description }),
          ...(type === undefined ? {} : { type }),
        })
        return ok({ name, id, stored: true }, `Stored ${name}.`)
      }),
  )

  server.registerTool(
    'rotate_secret',
    {
      title: 'Rotate a secret',
      description:
        'Replaces a secret value with a new one; the previous value stays available to its users for grace_hours (default 24, 0 drops it at once). The value is never echoed back.',
      inputSchema: z.strictObject({
        name: nameInput,
        value: z.string().describe('The new secret value'),
        grace_hours: z.number().min(0).max(8760).optional(),
      }),
      outputSchema: z.object({
        name: z.string(),
        version: z.number(),
        previous_valid_until: z.string().nullable(),
      }),
      annotations: {
        readOnlyHint: false,
        destructiveHint: true,
        idempotentHint: false,
        openWorldHint: false,
      },
    },
    ({ name, value, grace_hours }) =>
      guarded('rotate_secret', log, async () => {
        const result = await client.rotateSecret(
          name,
          value,
          grace_hours === undefined ? {} : { gracePeriodSeconds: Math.round(grace_hours * 3600) },
        )
        const previous = iso(result.previousValidUntil)
        return ok(
          { name, version: result.version, previous_valid_until: previous },
          `Rotated ${name} to version ${result.version}; ${previous ? `the previous value is served until ${previous}` : 'the previous value was dropped'}.`,
        )
      }),
  )

  server.registerTool(
    'delete_secret',
    {
      title: 'Delete a secret',
      description:
        'Deletes a secret and its value for good. When the client supports elicitation the user is asked to confirm; otherwise it requires confirm: true, so ask the user first.',
      inputSchema: z.strictObject({
        name: nameInput,
        confirm: z
          .boolean()
          .optional()
          .describe('Needed when the client cannot ask the user: true once the user agreed'),
      }),
      outputSchema: z.object({ name: z.string(), deleted: z.boolean() }),
      annotations: {
        readOnlyHint: false,
        destructiveHint: true,
        idempotentHint: true,
        openWorldHint: false,
      },
    },
    ({ name, confirm }) =>
      guarded('delete_secret', log, async () => {
        await confirmDeletion(server, name, confirm)
        const deleted = await client.deleteSecret(name)
        if (deleted) log('info', `deleted secret ${name}`)
        return ok(
          { name, deleted },
          deleted ? `Deleted ${name}.` : `${name} was not in the vault; nothing deleted.`,
        )
      }),
  )

  server.registerTool(
    'reveal_secret',
    {
      title: 'Reveal a secret value',
      description:
        'Returns the value of a secret the user marked agent-visible (keywarden set NAME --agent-visible). Refused for every other secret.',
      inputSchema: z.strictObject({ name: nameInput }),
      outputSchema: z.object({
        name: z.string(),
        value: z.string(),
        version: z.number().nullable(),
      }),
      annotations: { readOnlyHint: true, openWorldHint: false },
    },
    ({ name }) =>
      guarded('reveal_secret', log, async () => {
        const metadata = await findMetadata(client, name)
        if (!metadata.agentVisible) {
          // The database never saw this request: the refusal is audited by the client.
          client.recordAccess({
            secretName: name,
            accessType: 'denied',
            success: false,
            errorMessage: 'reveal_secret: not agent-visible',
          })
          log('warning', `reveal_secret refused for ${name}: not agent-visible`)
          throw new KeywardenError(
            'ACCESS_DENIED',
            `${name} is not agent-visible; the user can allow it with \`keywarden set ${name} --agent-visible\``,
            { secretName: name },
          )
        }
        const secret = await client.getSecret(name)
        return ok(
          { name, value: secret.value, version: secret.version },
          `${name}: ${secret.value}`,
        )
      }),
  )

  registerHttpRequestTool(server, client, log, options.http)
  if (options.runCommand && options.runCommand.allowedCommands.length > 0) {
    registerRunCommandTool(server, client, log, options.runCommand)
  }
  return server
}

/**
 * Gets the user's consent to delete `name`: through elicitation when the client supports it
 * (the model's `confirm` does not replace the user's answer then), else `confirm: true`.
 */
async function confirmDeletion(
  server: McpServer,
  name: string,
  confirm: boolean | undefined,
): Promise<void> {
  if (server.server.getClientCapabilities()?.elicitation?.form === undefined) {
    if (confirm === true) return
    throw new KeywardenError(
      'INVALID_ARGUMENT',
      `deleting ${name} needs confirm: true; ask the user before deleting`,
    )
  }
  let answer: ElicitResult
  try {
    answer = await server.server.elicitInput({
      mode: 'form',
      message: `Delete the secret ${name} from the Keywarden vault for good? Agents and programs that use it will stop working.`,
      requestedSchema: {
        type: 'object',
        properties: {
          confirm: { type: 'boolean', title: `Delete ${name}`, description: 'Check to delete' },
        },
        required: ['confirm'],
      },
    })
  } catch {
    throw new ToolError(
      'ELICITATION_FAILED',
      `the client could not ask the user to confirm deleting ${name}; nothing was deleted`,
    )
  }
  if (answer.action !== 'accept' || answer.content?.confirm !== true) {
    throw new ToolError(
      'DECLINED',
      `the user did not agree to delete ${name} (${answer.action === 'accept' ? 'not confirmed' : answer.action}); nothing was deleted`,
    )
  }
}
