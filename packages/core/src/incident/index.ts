/**
 * The incident report for a possibly leaked secret: who used it in the last 30 days, its whole
 * audit trail, and where to revoke the old value at the provider. Read-only — the CLI's
 * `keywarden incident` rotates and evicts around it; the MCP tool `incident_report` returns it
 * as it is. Runtime-neutral.
 * @module
 */
import type { VaultClient } from '../client/index.ts'
import { KeywardenError } from '../errors/index.ts'
import type { WebhookMessage } from '../notify/index.ts'
import type { AuditRecord, SecretType } from '../store/index.ts'

const DAY_MS = 86_400_000

/** The audit rows one report reads at most (query_secret_access_log's own limit). */
export const MAX_AUDIT_ROWS = 100_000

/** One accessor's use of the secret within the report's window. */
export interface IncidentAccessor {
  accessedBy: string
  /** Events, not rows: aggregated cache hits count their event_count. */
  accesses: number
  failures: number
  firstAt: Date
  lastAt: Date
}

/** Where and how to revoke the old value at its provider. */
export interface RevocationStep {
  /** What to do, in one sentence. */
  instruction: string
  /** Where to do it. */
  urls: string[]
}

/** What {@link buildIncidentReport} returns. */
export interface IncidentReport {
  name: string
  type: SecretType
  version: number
  generatedAt: Date
  /** The start of the accessor window (30 days before `generatedAt`). */
  since: Date
  accessors: IncidentAccessor[]
  /** Every audit row of the secret, newest first. */
  auditTrail: AuditRecord[]
  /** True when the trail reached {@link MAX_AUDIT_ROWS} and older rows were left out. */
  auditTrailTruncated: boolean
  revocation: RevocationStep
}

/** Options for {@link buildIncidentReport}. */
export interface IncidentReportOptions {
  /** The report's instant (tests). Default: now. */
  now?: Date
  /** The accessor window in days (default 30). */
  days?: number
}

/**
 * Builds the report from the vault's metadata and audit log. Throws SECRET_NOT_FOUND when the
 * vault has no such secret.
 */
export async function buildIncidentReport(
  client: VaultClient,
  name: string,
  options: IncidentReportOptions = {},
): Promise<IncidentReport> {
  const generatedAt = options.now ?? new Date()
  const since = new Date(generatedAt.getTime() - (options.days ?? 30) * DAY_MS)
  const metadata = (await client.listSecrets()).find((secret) => secret.name === name)
  if (!metadata) {
    throw new KeywardenError('SECRET_NOT_FOUND', `secret ${name} is not in the vault`, {
      secretName: name,
    })
  }
  const auditTrail = await client.queryAudit({ secretName: name, limit: MAX_AUDIT_ROWS })
  return {
    name,
    type: metadata.type,
    version: metadata.version,
    generatedAt,
    since,
    accessors: accessorsOf(auditTrail, since, generatedAt),
    auditTrail,
    auditTrailTruncated: auditTrail.length >= MAX_AUDIT_ROWS,
    revocation: revocationStep(metadata.type),
  }
}

/** Accessors between `since` and `until`, the busiest first. */
export function accessorsOf(
  records: readonly AuditRecord[],
  since: Date,
  until: Date,
): IncidentAccessor[] {
  const byAccessor = new Map<string, IncidentAccessor>()
  for (const record of records) {
    if (record.createdAt < since || record.createdAt > until) continue
    const entry = byAccessor.get(record.accessedBy) ?? {
      accessedBy: record.accessedBy,
      accesses: 0,
      failures: 0,
      firstAt: record.createdAt,
      lastAt: record.createdAt,
    }
    entry.accesses += record.eventCount
    if (!record.success) entry.failures += record.eventCount
    if (record.createdAt < entry.firstAt) entry.firstAt = record.createdAt
    if (record.createdAt > entry.lastAt) entry.lastAt = record.createdAt
    byAccessor.set(record.accessedBy, entry)
  }
  return [...byAccessor.values()].sort(
    (a, b) => b.accesses - a.accesses || a.accessedBy.localeCompare(b.accessedBy),
  )
}

/** The provider-side revocation step for a secret type. */
export function revocationStep(type: SecretType): RevocationStep {
  switch (type) {
    case 'github_token':
      return {
        instruction:
          'Revoke the old token on GitHub: delete it under Personal access tokens (classic or fine-grained); for an OAuth or GitHub App token, revoke it in the app settings',
        urls: [
          'https://github.com/settings/tokens',
          'https://github.com/settings/personal-access-tokens',
          'https://github.com/settings/applications',
        ],
      }
    case 'api_key':
      return {
        instruction:
          "Revoke the old key in its provider's dashboard (OpenAI: API keys; Anthropic: API keys), then check the provider's usage log for the leak window",
        urls: [
          'https://platform.openai.com/api-keys',
          'https://console.anthropic.com/settings/keys',
        ],
      }
    case 'service_key':
      return {
        instruction:
          "Roll the old key at its provider (Supabase: Project Settings → API → roll the service_role key; DigitalOcean: delete the token), then update every service's configuration",
        urls: [
          'https://supabase.com/dashboard/project/_/settings/api',
          'https://cloud.digitalocean.com/account/api/tokens',
        ],
      }
    case 'signing_key':
      return {
        instruction:
          'Remove the old key from every verifier that trusts it (JWKS, authorized keys, trust stores) and revoke any certificate issued for it',
        urls: [],
      }
    case 'other':
      return {
        instruction: 'Revoke or change the old value wherever it was issued',
        urls: [],
      }
  }
}

/** The webhook message for an incident: the secret, its accessors and the revocation step. */
export function incidentMessage(report: IncidentReport, rotatedToVersion?: number): WebhookMessage {
  const rotated =
    rotatedToVersion === undefined
      ? 'not rotated (report only)'
      : `rotated to version ${rotatedToVersion}, old value dropped`
  const accessors = report.accessors.map((entry) => entry.accessedBy).join(', ') || 'none'
  const text = `Keywarden incident: ${report.name} (${report.type}) ${rotated}. Accessors since ${report.since.toISOString()}: ${accessors}. Next: ${report.revocation.instruction}.`
  return {
    text,
    blocks: [
      {
        type: 'section',
        text: { type: 'mrkdwn', text: `*Incident*: \`${report.name}\` ${rotated}` },
      },
      { type: 'section', text: { type: 'mrkdwn', text: `Accessors (30 days): ${accessors}` } },
      {
        type: 'section',
        text: {
          type: 'mrkdwn',
          text: `Revoke: ${report.revocation.instruction} ${report.revocation.urls.join(' ')}`,
        },
      },
    ],
  }
}
