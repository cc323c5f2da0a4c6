/**
 * `keywarden incident NAME`: the leaked-secret playbook as one guided command — rotate with no
 * grace period, evict every cache, list the accessors, export the audit trail, say where to
 * revoke the old value, and tell the webhook.
 */
import { writeFile } from 'node:fs/promises'
import { resolve } from 'node:path'
import {
  buildIncidentReport,
  type IncidentReport,
  incidentMessage,
  type RotationResult,
  validateSecretName,
  type WebhookDelivery,
} from '@keywarden/core'
import type { CommandContext, CommandModule } from '../context.ts'
import { UsageError } from '../errors.ts'
import { auditCsv, relativeTime } from '../format.ts'
import { readSecretValue } from '../input.ts'
import { webhookFrom } from '../webhook.ts'

export const options: CommandModule['options'] = {
  'dry-run': { type: 'boolean' },
  csv: { type: 'string' },
}

export const help = `Usage: keywarden incident NAME [--csv PATH] [--dry-run] [--json]

Runs the incident playbook for a secret that may have leaked:
  1. rotates it to a new value (stdin or a hidden prompt) with no grace period: the old value
     is gone from the vault at once;
  2. evicts it from every cache: the rotation notifies every listening client
     (NOTIFY keywarden_secrets), so no warm client keeps serving the old value;
  3. lists every accessor of the secret in the last 30 days, from the audit log;
  4. writes the secret's whole audit trail to a CSV file (mode 0600);
  5. prints where to revoke the old value at its provider (for github_token: GitHub's token
     settings);
  6. posts a summary to KEYWARDEN_WEBHOOK_URL when it is set (never a value).
--dry-run reads the audit log and shows each step without doing any of them.

Options:
  --csv PATH   where to write the audit trail (default keywarden-incident-NAME-<time>.csv)
  --dry-run    show the steps; change nothing, write nothing, send nothing
  --json       {"name", "dry_run", "rotation", "accessors", "csv": {"path", "rows"},
               "revocation": {"instruction", "urls"}, "webhook"}

Examples:
  pbpaste | keywarden incident github_token
  keywarden incident openai_api_key --dry-run`

export const run: CommandModule['run'] = async (context, { positionals, values }) => {
  const [name, ...extra] = positionals
  if (name === undefined) {
    throw new UsageError('incident needs a secret name; see keywarden incident --help')
  }
  if (extra.length > 0) {
    throw new UsageError(
      'incident takes no value on the command line (shell history and ps would keep it): pipe it in or type it at the prompt',
    )
  }
  validateSecretName(name)
  const dryRun = values['dry-run'] === true
  const csvPath = resolve(
    typeof values.csv === 'string'
      ? values.csv
      : `keywarden-incident-${name}-${new Date().toISOString().replace(/[:.]/g, '-')}.csv`,
  )
  // The value first: a prompt should not wait for the vault to open.
  const value = dryRun
    ? undefined
    : await readSecretValue(context.io, `New value for ${name} (input hidden): `)
  const client = await context.client()
  // A missing secret fails here (exit 3) before anything changes.
  let rotation: RotationResult | null = null
  if (value !== undefined) {
    rotation = await client.rotateSecret(name, value, { gracePeriodSeconds: 0 })
  }
  // The run itself is on the record (the compliance report lists incident runs), committed
  // before anything else is written or sent; a dry run changes nothing, so it is not a run.
  if (!dryRun)
    await client.commitAccess({ secretName: name, accessType: 'incident', success: true })
  // After the rotation, so that the trail includes it.
  const report = await buildIncidentReport(client, name)
  if (!dryRun) await writeFile(csvPath, auditCsv(report.auditTrail), { mode: 0o600 })
  const webhook = dryRun ? undefined : webhookFrom(context.env)
  const delivery = webhook
    ? await webhook.send(incidentMessage(report, rotation?.version))
    : undefined

  if (context.out.json) {
    context.out.printJson({
      name,
      dry_run: dryRun,
      rotation: rotation && {
        id: rotation.id,
        version: rotation.version,
        previous_valid_until: rotation.previousValidUntil?.toISOString() ?? null,
      },
      accessors: report.accessors.map((accessor) => ({
        accessed_by: accessor.accessedBy,
        accesses: accessor.accesses,
        failures: accessor.failures,
        first_at: accessor.firstAt.toISOString(),
        last_at: accessor.lastAt.toISOString(),
      })),
      csv: { path: csvPath, rows: report.auditTrail.length, written: !dryRun },
      revocation: report.revocation,
      webhook: delivery ?? null,
    })
  } else {
    printSteps(context, { report, rotation, dryRun, csvPath, delivery })
  }
  return delivery && !delivery.delivered ? 1 : 0
}

interface Steps {
  report: IncidentReport
  rotation: RotationResult | null
  dryRun: boolean
  csvPath: string
  delivery: WebhookDelivery | undefined
}

function printSteps(context: CommandContext, steps: Steps): void {
  const { out, env } = context
  const { report, rotation, dryRun, csvPath, delivery } = steps
  const would = (text: string) => (dryRun ? `would ${text}` : text)
  out.line(out.paint.bold(`Incident: ${report.name} (${report.type})${dryRun ? ' — dry run' : ''}`))
  out.line(
    `1. Rotate: ${rotation ? `rotated to version ${rotation.version}; the old value was dropped at once` : would('rotate to a new value from stdin with no grace period')}`,
  )
  out.line(
    `2. Evict: ${dryRun ? 'would notify' : 'notified'} every listening client (NOTIFY keywarden_secrets) to drop ${report.name} from its cache`,
  )
  out.line(`3. Accessors since ${report.since.toISOString()}:`)
  if (report.accessors.length === 0) out.line('   none')
  const now = Date.now()
  for (const accessor of report.accessors) {
    out.line(
      `   ${accessor.accessedBy}  ${accessor.accesses} access(es)${accessor.failures > 0 ? `, ${accessor.failures} failed` : ''}, last ${relativeTime(accessor.lastAt, now)}`,
    )
  }
  out.line(
    `4. Audit trail: ${dryRun ? `would write ${report.auditTrail.length} rows to` : `wrote ${report.auditTrail.length} rows to`} ${csvPath}`,
  )
  out.line(`5. Revoke the old value: ${report.revocation.instruction}.`)
  for (const url of report.revocation.urls) out.line(`   ${url}`)
  const webhookLine = dryRun
    ? env.KEYWARDEN_WEBHOOK_URL
      ? 'would notify the webhook'
      : 'KEYWARDEN_WEBHOOK_URL is not set: nothing to notify'
    : delivery === undefined
      ? 'KEYWARDEN_WEBHOOK_URL is not set: nothing sent'
      : delivery.delivered
        ? 'notified the webhook'
        : out.paint.red(`the webhook could not be notified (${delivery.error ?? 'failed'})`)
  out.line(`6. Webhook: ${webhookLine}`)
}
