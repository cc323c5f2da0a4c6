/**
 * `keywarden connect approve [ID]`: the owner's side of a remote MCP client's connection
 * (ChatGPT, Claude.ai). Without an id it lists the authorization requests waiting for
 * approval; with one it prints a one-time code for that request, which the owner types into
 * the consent page to approve it. The code is shown once and stored only as a hash.
 */
import { createOAuthVault, KeywardenError, type OAuthRequest } from '@keywarden/core'
import type { CommandContext, CommandModule } from '../context.ts'
import { UsageError } from '../errors.ts'

export const options: CommandModule['options'] = {}

export const help = `Usage: keywarden connect approve [ID] [--json]

A remote MCP client (a ChatGPT app, a Claude.ai custom connector) that connects to the edge
plugin sends you to a consent page, which names the client, where it sends you back and what
it asks to do, and shows a request ID. Approving needs a one-time code from here, so only
someone who can reach the vault can connect anything to it.

Commands:
  approve         lists the requests waiting for approval (client, redirect host, scopes)
  approve ID      prints the one-time code for request ID (valid 10 minutes, 5 attempts);
                  type it into the consent page and press Approve. Running it again gives a
                  new code and makes the old one worthless.

Scopes a client may ask for:
  secrets:metadata  list secrets and read their metadata, expiry, metrics and audit (no values)
  secrets:use       use secrets toward their allowed hosts and commands; reveal agent-visible ones
  secrets:write     store, change, rotate and delete secrets
The door policy (keywarden policy, door oauth:<client name>) still applies within them.

Options:
  --json          approve: {"requests": [...]}; approve ID: {"request", "owner_code"}

Examples:
  keywarden connect approve
  keywarden connect approve K7XQ2MPA

See also: keywarden connections (list and revoke connections).`

export const run: CommandModule['run'] = async (context, { positionals }) => {
  const [task, id, ...rest] = positionals
  if (task !== 'approve') {
    throw new UsageError('use keywarden connect approve [ID]; see keywarden connect --help')
  }
  if (rest.length > 0) throw new UsageError('connect approve takes at most one ID')
  return id === undefined ? listPending(context) : issueCode(context, id)
}

async function listPending(context: CommandContext): Promise<number> {
  const { out } = context
  const requests = await createOAuthVault(await context.client()).pendingRequests()
  if (out.json) {
    out.printJson({ requests: requests.map(requestJson) })
    return 0
  }
  if (requests.length === 0) {
    out.line('No connection is waiting for approval.')
    return 0
  }
  out.table(
    [
      { key: 'id', header: 'ID' },
      { key: 'client', header: 'CLIENT' },
      { key: 'host', header: 'SENDS YOU BACK TO' },
      { key: 'scopes', header: 'SCOPES' },
      { key: 'expires', header: 'EXPIRES' },
    ],
    requests.map((request) => ({
      id: request.request_id,
      client: request.client_name,
      host: new URL(request.redirect_uri).host,
      scopes: request.scopes.join(' '),
      expires: request.expires_at,
    })),
  )
  out.note('Approve one with: keywarden connect approve ID')
  return 0
}

async function issueCode(context: CommandContext, id: string): Promise<number> {
  if (!/^[A-Za-z2-9]{8}$/.test(id)) {
    throw new UsageError('ID is the 8-character request id the consent page shows')
  }
  const { out } = context
  const issued = await createOAuthVault(await context.client()).issueOwnerCode(id)
  if (!issued) {
    throw new KeywardenError(
      'INVALID_ARGUMENT',
      `no authorization request ${id.toUpperCase()} is waiting (it may have expired: start the connection again)`,
    )
  }
  const { request, ownerCode } = issued
  if (out.json) {
    out.printJson({ request: requestJson(request), owner_code: ownerCode })
    return 0
  }
  out.line(`${request.client_name} asks for ${request.scopes.join(' ')}`)
  out.line(`and sends you back to ${new URL(request.redirect_uri).host}.`)
  out.line('')
  out.line(`Owner code: ${out.paint.bold(ownerCode)}`)
  out.line('')
  out.note('Type it into the consent page within 10 minutes. Never share it with anyone.')
  return 0
}

function requestJson(request: OAuthRequest) {
  return {
    id: request.request_id,
    client_name: request.client_name,
    door: request.door,
    redirect_uri: request.redirect_uri,
    scopes: request.scopes,
    created_at: request.created_at,
    expires_at: request.expires_at,
    owner_code_issued: request.owner_code_issued,
  }
}
