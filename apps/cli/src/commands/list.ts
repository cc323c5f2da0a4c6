/** `keywarden list`: names and metadata of every secret; never values. */
import { type SecretMetadata, secretMetadataJson } from '@keywarden/core'
import type { CommandModule } from '../context.ts'
import { UsageError } from '../errors.ts'
import { relativeOrDash, tableCell } from '../format.ts'

export const options: CommandModule['options'] = {}

export const help = `Usage: keywarden list [--json]

Lists the secrets in the vault with their metadata: type, description, version, when they were
last changed and rotated, and when rotation falls due. Values are never shown.

Options:
  --json   an array of {"name", "description", "type", "version", "created_at", "updated_at",
           "last_rotated_at", "expires_at", "rotation_interval_days", "rotation_due_at",
           "previous_valid_until", "agent_visible", "allowed_hosts", "allowed_commands",
           "protected"} with ISO 8601 dates: the shape the MCP tools and the edge answer with

An AGENT column (visible or hidden: whether AI agents may read the value; "protected" when no
agent door may change or reveal it) appears once any secret is visible to agents, has allowed
hosts or commands, or is protected; --json lists the hosts and commands.

Examples:
  keywarden list
  keywarden list --json | jq -r '.[].name'`

export const run: CommandModule['run'] = async (context, { positionals }) => {
  if (positionals.length > 0) {
    throw new UsageError('list takes no arguments; see keywarden list --help')
  }
  const client = await context.client()
  const secrets = await client.listSecrets()
  const { out } = context
  if (out.json) {
    // Dates become ISO strings through JSON.stringify; the metadata holds no value to leak.
    out.printJson(secrets.map(toJson))
    return 0
  }
  if (secrets.length === 0) {
    out.line('The vault is empty. Store a secret with: printf %s "$TOKEN" | keywarden set NAME')
    return 0
  }
  const now = Date.now()
  const withExpiry = secrets.some((secret) => secret.expiresAt !== null)
  const withAgent = secrets.some(
    (secret) =>
      secret.agentVisible ||
      secret.protected ||
      secret.allowedHosts.length > 0 ||
      secret.allowedCommands.length > 0,
  )
  out.table(
    [
      { key: 'name', header: 'NAME' },
      { key: 'type', header: 'TYPE' },
      { key: 'description', header: 'DESCRIPTION' },
      { key: 'version', header: 'VERSION' },
      { key: 'updated', header: 'UPDATED' },
      { key: 'rotated', header: 'LAST ROTATED' },
      { key: 'due', header: 'ROTATION DUE' },
      // Only when some secret expires: most vaults have none, and an empty column is noise.
      ...(withExpiry ? [{ key: 'expires', header: 'EXPIRES' }] : []),
      // Likewise only once agent access was ever granted.
      ...(withAgent ? [{ key: 'agent', header: 'AGENT' }] : []),
    ],
    secrets.map((secret) => ({
      name: secret.name,
      type: secret.type,
      description: tableCell(secret.description, 40),
      version: String(secret.version),
      updated: relativeOrDash(secret.updatedAt, now),
      rotated: secret.lastRotatedAt === null ? 'never' : relativeOrDash(secret.lastRotatedAt, now),
      due: dueCell(secret.rotationDueAt, now, 'overdue', context.out.paint.red),
      expires: dueCell(secret.expiresAt, now, 'expired', context.out.paint.red),
      agent: `${secret.agentVisible ? 'visible' : 'hidden'}${secret.protected ? ', protected' : ''}`,
    })),
  )
  return 0
}

/**
 * The JSON form: core's snake_case shape, the one the MCP tools and the edge answer with. The
 * owner's own description is given whole (agent doors bound it).
 */
function toJson(secret: SecretMetadata) {
  return { ...secretMetadataJson(secret), description: secret.description }
}

function dueCell(
  date: Date | null,
  now: number,
  past: string,
  red: (text: string) => string,
): string {
  if (date === null) return '-'
  const text = relativeOrDash(date, now)
  return date.getTime() <= now ? red(`${past} ${text}`) : text
}
