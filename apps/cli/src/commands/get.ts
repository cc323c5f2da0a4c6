/** `keywarden get NAME`: a secret's value on stdout. */
import { validateSecretName } from '@keywarden/core'
import type { CommandModule } from '../context.ts'
import { UsageError } from '../errors.ts'

export const options: CommandModule['options'] = {
  previous: { type: 'boolean' },
}

export const help = `Usage: keywarden get NAME [--previous] [--json]

Prints a secret's value on stdout, with a newline only when stdout is a terminal, so
$(keywarden get NAME) and pipes get the exact value. Looks in the vault, then the environment
(github_token -> GITHUB_TOKEN).

Options:
  --previous   the value before the last rotation, while its grace period lasts
  --json       {"name", "value", "source", "version"}

Examples:
  keywarden get github_token
  curl -H "Authorization: Bearer $(keywarden get github_token)" https://api.github.com/user
  keywarden get github_token --json | jq -r .source`

export const run: CommandModule['run'] = async (context, { positionals, values }) => {
  const [name, extra] = positionals
  if (name === undefined || extra !== undefined) {
    throw new UsageError('get takes one secret name; see keywarden get --help')
  }
  // Before opening the vault: a mistyped name must not create a first embedded vault.
  validateSecretName(name)
  const client = await context.client()
  const secret = await client.getSecret(
    name,
    values.previous === true ? { version: 'previous' } : {},
  )
  if (context.out.json) {
    context.out.printJson({
      name: secret.name,
      value: secret.value,
      source: secret.source,
      version: secret.version,
    })
  } else {
    context.out.write(context.io.stdout.isTTY ? `${secret.value}\n` : secret.value)
  }
  return 0
}
