/**
 * `keywarden rotate NAME`: a new value, the previous one still served for a grace period — at
 * once, or staged, verified and promoted.
 */
import {
  KeywardenError,
  type RotationResult,
  type SecretVerifier,
  type VaultClient,
  validateSecretName,
  verifierForType,
} from '@keywarden/core'
import type { CommandContext, CommandModule } from '../context.ts'
import { UsageError } from '../errors.ts'
import { relativeTime } from '../format.ts'
import { readSecretValue } from '../input.ts'
import { parseDuration } from '../time.ts'

export const options: CommandModule['options'] = {
  grace: { type: 'string' },
  stage: { type: 'boolean' },
  promote: { type: 'boolean' },
  discard: { type: 'boolean' },
  verify: { type: 'boolean' },
}

export const help = `Usage: keywarden rotate NAME [--grace 24h] [--verify] [--json]
       keywarden rotate NAME --stage
       keywarden rotate NAME --promote [--verify] [--grace 24h]
       keywarden rotate NAME --discard

Replaces an existing secret's value with a new version. The value is read from stdin when it is
piped, else from a hidden prompt. Until the grace period ends, the previous value is still served
to whoever asks for it (keywarden get NAME --previous), so running services can switch over.

A rotation can be staged: --stage stores the new value as pending while the current one keeps
serving; --promote makes it current later; --discard drops it. --verify checks the new value
before it becomes current — for a github_token, GET $GITHUB_API_URL/user (default
https://api.github.com) with it — and on a failed check changes nothing (exit 1): the current
value keeps serving and the pending one stays staged. Without --stage or --promote, --verify
stages, checks and promotes in one go.

Options:
  --grace DUR   how long the previous value stays readable: 24h (default), 7d, 30m, or 0 to
                drop it at once
  --stage       store the value as pending; the current value keeps serving
  --promote     make the staged value current
  --discard     drop the staged value
  --verify      check the new value first (github_token only)
  --json        {"name", "version", "previous_valid_until"} (ISO 8601, or null when dropped);
                --stage: {"name", "stagedAt"}; --discard: {"name", "discarded"}

Examples:
  pbpaste | keywarden rotate github_token
  printf %s "$NEW_KEY" | keywarden rotate openai_api_key --grace 1h
  keywarden rotate leaked_token --grace 0
  pbpaste | keywarden rotate github_token --stage && keywarden rotate github_token --promote --verify`

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
  const mode = modeFrom(values)
  const gracePeriodSeconds = graceFrom(values.grace)
  if (mode === 'discard') return discard(context, name)
  // The value first: a prompt should not wait for the vault to open.
  const value =
    mode === 'promote'
      ? undefined
      : await readSecretValue(context.io, `New value for ${name} (input hidden): `)
  const client = await context.client()
  if (mode === 'stage' && value !== undefined) {
    const stagedAt = await client.stageRotation(name, value)
    if (context.out.json) context.out.printJson({ name, staged_at: stagedAt.toISOString() })
    else {
      context.out.line(
        `Staged a new value for ${context.out.paint.bold(name)}; the current value is still served.`,
      )
      context.out.line(`Promote it with: keywarden rotate ${name} --promote [--verify]`)
    }
    return 0
  }
  const verify = values.verify === true ? await verifierFor(context, client, name) : undefined
  let result: RotationResult
  if (value === undefined || verify) {
    if (value !== undefined) await client.stageRotation(name, value)
    result = await client.promoteRotation(name, {
      gracePeriodSeconds,
      ...(verify ? { verify } : {}),
    })
  } else {
    result = await client.rotateSecret(name, value, { gracePeriodSeconds })
  }
  const { out } = context
  if (out.json) {
    out.printJson({
      name,
      version: result.version,
      previous_valid_until: result.previousValidUntil?.toISOString() ?? null,
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

type Mode = 'now' | 'stage' | 'promote' | 'discard'

function modeFrom(values: Record<string, unknown>): Mode {
  const chosen = (['stage', 'promote', 'discard'] as const).filter((flag) => values[flag] === true)
  if (chosen.length > 1) {
    throw new UsageError('use one of --stage, --promote and --discard; see keywarden rotate --help')
  }
  const [mode = 'now'] = chosen
  if (values.verify === true && (mode === 'stage' || mode === 'discard')) {
    throw new UsageError(`--verify goes with --promote (or a plain rotate), not --${mode}`)
  }
  return mode
}

async function discard(context: CommandContext, name: string): Promise<number> {
  const client = await context.client()
  const discarded = await client.discardRotation(name)
  if (context.out.json) context.out.printJson({ name, discarded })
  else if (discarded) context.out.line(`Discarded the staged value of ${name}.`)
  // A failure (exit 3) is said on stderr, like every other error.
  else context.out.note(`keywarden: ${name} has no staged rotation.`)
  return discarded ? 0 : 3
}

/** The check for the secret's type; a type without one is a usage error, not a silent pass. */
async function verifierFor(
  context: CommandContext,
  client: VaultClient,
  name: string,
): Promise<SecretVerifier> {
  const secret = (await client.listSecrets()).find((entry) => entry.name === name)
  if (!secret) {
    throw new KeywardenError('SECRET_NOT_FOUND', `secret ${name} is not in the vault`, {
      secretName: name,
    })
  }
  const verify = verifierForType(secret.type, context.env)
  if (!verify) {
    throw new UsageError(`--verify has no check for type ${secret.type}; only github_token has one`)
  }
  return verify
}

function graceFrom(grace: unknown): number {
  if (typeof grace !== 'string') return 24 * 60 * 60
  // A bare 0 is the natural way to say "no grace"; every other duration needs its unit.
  if (grace.trim() === '0') return 0
  return parseDuration(grace, '--grace') / 1000
}
