/**
 * `keywarden connections`: the remote MCP clients connected through the edge plugin's OAuth
 * (client, scopes, created, last used), and `--revoke ID` to cut one off: its tokens stop
 * working at once and its refresh token cannot bring it back.
 */
import { createOAuthVault, type OAuthConnection } from '@keywarden/core'
import type { CommandContext, CommandModule } from '../context.ts'
import { UsageError } from '../errors.ts'

export const options: CommandModule['options'] = {
  revoke: { type: 'string' },
  all: { type: 'boolean' },
}

export const help = `Usage: keywarden connections [--all] [--json]
       keywarden connections --revoke ID [--json]

Lists the OAuth connections of remote MCP clients (ChatGPT apps, Claude.ai connectors) to the
edge plugin: the client, its door in the audit log and the door policy (oauth:<client name>),
the scopes the owner approved, when it was made and last used. Revoked connections are listed
with --all.

Options:
  --revoke ID     revokes the connection ID (its access and refresh tokens), audited
  --all           also lists revoked connections
  --json          {"connections": [...]}; with --revoke: {"id", "revoked"}

Examples:
  keywarden connections
  keywarden connections --revoke 2f0c6a8e-6d1e-4c7b-9a43-1f0d2b3c4e5f`

export const run: CommandModule['run'] = async (context, { positionals, values }) => {
  if (positionals.length > 0) throw new UsageError('connections takes no arguments; see --help')
  if (typeof values.revoke === 'string') return revoke(context, values.revoke)
  return list(context, values.all === true)
}

async function list(context: CommandContext, all: boolean): Promise<number> {
  const { out } = context
  const connections = (await createOAuthVault(await context.client()).listConnections()).filter(
    (connection) => all || connection.revoked_at === null,
  )
  if (out.json) {
    out.printJson({ connections: connections.map(connectionJson) })
    return 0
  }
  if (connections.length === 0) {
    out.line('No connections.')
    return 0
  }
  out.table(
    [
      { key: 'id', header: 'ID' },
      { key: 'client', header: 'CLIENT' },
      { key: 'door', header: 'DOOR' },
      { key: 'scopes', header: 'SCOPES' },
      { key: 'created', header: 'CREATED' },
      { key: 'used', header: 'LAST USED' },
      ...(all ? [{ key: 'revoked', header: 'REVOKED' }] : []),
    ],
    connections.map((connection) => ({
      id: connection.id,
      client: connection.client_name,
      door: connection.door,
      scopes: connection.scopes.join(' '),
      created: connection.created_at,
      used: connection.last_used_at ?? 'never',
      revoked: connection.revoked_at ?? '',
    })),
  )
  return 0
}

async function revoke(context: CommandContext, id: string): Promise<number> {
  const { out } = context
  const revoked = await createOAuthVault(await context.client()).revokeConnection(id)
  if (out.json) out.printJson({ id, revoked })
  else out.line(revoked ? `Revoked connection ${id}.` : `No live connection ${id}.`)
  return revoked ? 0 : 3
}

function connectionJson(connection: OAuthConnection) {
  return {
    id: connection.id,
    client_name: connection.client_name,
    door: connection.door,
    scopes: connection.scopes,
    created_at: connection.created_at,
    last_used_at: connection.last_used_at,
    revoked_at: connection.revoked_at,
    revoked_reason: connection.revoked_reason,
  }
}
