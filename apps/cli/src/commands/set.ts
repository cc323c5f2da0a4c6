/** `keywarden set NAME`: stores a secret, its value from stdin or a hidden prompt. */
import {
  SECRET_TYPES,
  type SecretType,
  type StoreSecretInput,
  validateSecretName,
} from '@keywarden/core'
import type { CommandModule } from '../context.ts'
import { UsageError } from '../errors.ts'
import { readSecretValue } from '../input.ts'
import { parseDuration } from '../time.ts'

export const options: CommandModule['options'] = {
  description: { type: 'string' },
  type: { type: 'string' },
  'expires-in': { type: 'string' },
  'expires-at': { type: 'string' },
}

export const help = `Usage: keywarden set NAME [--description TEXT] [--type TYPE] [--expires-in 90d | --expires-at ISO]

Stores a secret. The value is read from stdin when it is piped, else from a hidden prompt;
never from the command line, where shell history and ps would keep it. Storing a name again
replaces its value as a new version (the same value again changes nothing).

Options:
  --description TEXT   what the secret is for
  --type TYPE          github_token, api_key, service_key, signing_key or other (default other);
                       sets the rotation reminder: 90 days for tokens and API keys, 180 for
                       service keys, none for signing keys
  --expires-in DUR     when it expires, from now: 90d, 12h, 30m
  --expires-at ISO     when it expires: 2027-03-01 or 2027-03-01T12:00:00Z
  --json               {"name", "id", "created"}

Examples:
  pbpaste | keywarden set github_token --type github_token --description "GitHub PAT"
  keywarden set openai_api_key --type api_key --expires-in 90d`

export const run: CommandModule['run'] = async (context, { positionals, values }) => {
  const [name, ...extra] = positionals
  if (name === undefined) throw new UsageError('set needs a secret name; see keywarden set --help')
  if (extra.length > 0) {
    throw new UsageError(
      'set takes no value on the command line (shell history and ps would keep it): pipe it in, e.g. `printf %s "$TOKEN" | keywarden set NAME`, or type it at the prompt',
    )
  }
  // Checked before reading a value or opening the vault: a usage mistake must cost nothing and
  // create nothing (not even a first embedded vault).
  validateSecretName(name)
  const metadata = metadataFrom(values)
  // The value first: a prompt should not wait for the vault to open.
  const value = await readSecretValue(context.io, `Value for ${name} (input hidden): `)
  const client = await context.client()
  const existed = (await client.listSecrets()).some((secret) => secret.name === name)
  const id = await client.storeSecret(name, value, metadata)
  if (context.out.json) {
    context.out.printJson({ name, id, created: !existed })
  } else {
    context.out.line(`${existed ? 'Replaced' : 'Created'} ${context.out.paint.bold(name)}`)
  }
  return 0
}

function metadataFrom(values: Record<string, unknown>): StoreSecretInput {
  const metadata: StoreSecretInput = {}
  if (typeof values.description === 'string') metadata.description = values.description
  if (typeof values.type === 'string') {
    if (!SECRET_TYPES.includes(values.type as SecretType)) {
      throw new UsageError(`--type must be one of ${SECRET_TYPES.join(', ')}`)
    }
    metadata.type = values.type as SecretType
  }
  if (typeof values['expires-in'] === 'string' && typeof values['expires-at'] === 'string') {
    throw new UsageError('give --expires-in or --expires-at, not both')
  }
  if (typeof values['expires-in'] === 'string') {
    metadata.expiresAt = new Date(Date.now() + parseDuration(values['expires-in'], '--expires-in'))
  }
  if (typeof values['expires-at'] === 'string') {
    const expiresAt = new Date(values['expires-at'])
    if (Number.isNaN(expiresAt.getTime())) {
      throw new UsageError('--expires-at must be a date, e.g. 2027-03-01 or 2027-03-01T12:00:00Z')
    }
    metadata.expiresAt = expiresAt
  }
  return metadata
}
