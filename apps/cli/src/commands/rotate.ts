/** `keywarden rotate NAME`: a new value, the previous one still served for a grace period. */
import { validateSecretName } from '@keywarden/core'
import type { CommandModule } from '../context.ts'
import { UsageError } from '../errors.ts'
import { relativeTime } from '../format.ts'
import { readSecretValue } from '../input.ts'
import { parseDuration } from '../time.ts'

export const options: CommandModule['options'] = {
  grace: { type: 'string' },
}

export const help = `Usage: keywarden rotate NAME [--grace 24h] [--json]

Replaces an existing secret's value with a new version. The value is read from stdin when it is
piped, else from a hidden prompt. Until the grace period ends, the previous value is still served
to whoever asks for it (keywarden get NAME --previous), so running services can switch over.

Options:
  --grace DUR   how long the previous value stays readable: 24h (default), 7d, 30m, or 0 to
                drop it at once
  --json        {"name", "version", "previousValidUntil"} (ISO 8601, or null when dropped)

Examples:
  pbpaste | keywarden rotate github_token
  printf %s "$NEW_KEY" | keywarden rotate openai_api_key --grace 1h
  keywarden rotate leaked_token --grace 0`

export const run: CommandModule['run'] = async (context, { positionals, values }) => {
  const [name, ...extra] = positionals
  if (name === undefined) {
    throw new UsageError('rotate needs a secret name; see keywarden rotate --help')
  }
  if (extra.length > 0) {
    throw new UsageError(
      'rotate takes no value on the command line (shell history and ps would keep it): pipe it in, e.g. `printf %s "$TOKEN" | keywarden rotate NAME`, or type it at the prompt',
    )
  }
  validateSecretName(name)
  const gracePeriodSeconds = graceFrom(values.grace)
  // The value first: a prompt should not wait for the vault to open.
  const value = await readSecretValue(context.io, `New value for ${name} (input hidden): `)
  const client = await context.client()
  const result = await client.rotateSecret(name, value, { gracePeriodSeconds })
  const { out } = context
  if (out.json) {
    out.printJson({
      name,
      version: result.version,
      previousValidUntil: result.previousValidUntil,
    })
    return 0
  }
  out.line(`Rotated ${out.paint.bold(name)} to version ${result.version}`)
  out.line(
    result.previousValidUntil === null
      ? 'The previous value was dropped at once.'
      : `The previous value is served until ${result.previousValidUntil.toISOString()} (${relativeTime(result.previousValidUntil)}).`,
  )
  return 0
}

function graceFrom(grace: unknown): number {
  if (typeof grace !== 'string') return 24 * 60 * 60
  // A bare 0 is the natural way to say "no grace"; every other duration needs its unit.
  if (grace.trim() === '0') return 0
  return parseDuration(grace, '--grace') / 1000
}
