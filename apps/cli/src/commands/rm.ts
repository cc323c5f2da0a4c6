/** `keywarden rm NAME`: deletes a secret, after a confirmation on a terminal. */
import { KeywardenError, validateSecretName } from '@keywarden/core'
import type { CommandModule } from '../context.ts'
import { UsageError } from '../errors.ts'
import { confirm } from '../input.ts'

export const options: CommandModule['options'] = {
  yes: { type: 'boolean', short: 'y' },
}

export const help = `Usage: keywarden rm NAME [--yes] [--json]

Deletes a secret, its value and any previous value still in a grace period. It cannot be undone.
On a terminal it asks first; scripts (stdin not a terminal) must pass --yes.

Options:
  -y, --yes   delete without asking
  --json      {"name", "deleted": true}

Examples:
  keywarden rm old_token
  keywarden rm old_token --yes`

export const run: CommandModule['run'] = async (context, { positionals, values }) => {
  const [name, extra] = positionals
  if (name === undefined || extra !== undefined) {
    throw new UsageError('rm takes one secret name; see keywarden rm --help')
  }
  validateSecretName(name)
  const { io, out } = context
  const confirmed = values.yes === true
  if (!confirmed && !io.stdin.isTTY) {
    // Nobody to ask: refusing beats deleting without consent or hanging on a pipe.
    throw new UsageError(
      `rm asks for confirmation and stdin is not a terminal; pass --yes to delete ${name} without asking`,
    )
  }
  const client = await context.client()
  if (!confirmed) {
    // Asking about a secret that is not there would be a question with no point.
    const exists = (await client.listSecrets()).some((secret) => secret.name === name)
    if (!exists) throw notFound(name)
    if (!(await confirm(io, `Delete ${name} and any previous value? This cannot be undone.`))) {
      out.note('keywarden: nothing deleted')
      return 1
    }
  }
  if (!(await client.deleteSecret(name))) throw notFound(name)
  if (out.json) out.printJson({ name, deleted: true })
  else out.line(`Deleted ${out.paint.bold(name)}`)
  return 0
}

function notFound(name: string): KeywardenError {
  return new KeywardenError('SECRET_NOT_FOUND', `secret ${name} is not in the vault`, {
    secretName: name,
  })
}
