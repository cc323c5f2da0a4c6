/** `keywarden edit NAME`: changes a secret's metadata without its value. */
import { validateSecretName } from '@keywarden/core'
import type { CommandModule } from '../context.ts'
import { UsageError } from '../errors.ts'
import { metadataFrom, options as setOptions } from './set.ts'

export const options: CommandModule['options'] = setOptions

export const help = `Usage: keywarden edit NAME [--description TEXT] [--type TYPE] [--expires-in 90d | --expires-at ISO]
                      [--agent-visible | --no-agent-visible] [--allow-host HOST ... | --no-allowed-hosts]
                      [--allow-command CMD ... [--i-understand-this-reveals] | --no-allowed-commands]
                      [--protected | --no-protected]

Changes a secret's metadata without reading or retyping its value: no new version, nothing on
stdin. The options are those of keywarden set (see keywarden set --help); what is left out
keeps its value. At least one option is needed.

Options:
  --description TEXT, --type TYPE, --expires-in DUR, --expires-at ISO, --agent-visible,
  --no-agent-visible, --allow-host HOST, --no-allowed-hosts, --allow-command CMD,
  --no-allowed-commands, --i-understand-this-reveals, --protected, --no-protected
                       as for keywarden set
  --json               {"name", "version", "updated": true}

Examples:
  keywarden edit github_token --allow-host api.github.com --allow-host uploads.github.com
  keywarden edit openai_api_key --agent-visible
  keywarden edit do_token --allow-command doctl --protected
  keywarden edit stripe_key --description "Stripe live key" --expires-in 90d

Exit status 3 when there is no such secret (store it first with keywarden set).`

export const run: CommandModule['run'] = async (context, { positionals, values }) => {
  const [name, ...extra] = positionals
  if (name === undefined)
    throw new UsageError('edit needs a secret name; see keywarden edit --help')
  if (extra.length > 0) {
    throw new UsageError(
      'edit takes one secret name and options (its value is never given here; use keywarden set or rotate to change it)',
    )
  }
  validateSecretName(name)
  const metadata = metadataFrom(values, context.env, (text) => context.out.note(text))
  if (Object.keys(metadata).length === 0) {
    throw new UsageError(
      'edit needs at least one option to change, e.g. keywarden edit NAME --allow-host api.github.com',
    )
  }
  const client = await context.client()
  const version = await client.updateSecretMetadata(name, metadata)
  if (context.out.json) {
    context.out.printJson({ name, version, updated: true })
  } else {
    context.out.line(
      `Updated ${context.out.paint.bold(name)} (${Object.keys(metadata).length === 1 ? 'one field' : `${Object.keys(metadata).length} fields`}; the value is unchanged, still version ${version})`,
    )
  }
  return 0
}
