/** `keywarden export`: every secret's value, as dotenv, shell or JSON, on stdout. */
import {
  environmentVariableFor,
  KeywardenError,
  type SecretResult,
  validateSecretName,
} from '@keywarden/core'
import type { CommandModule } from '../context.ts'
import { UsageError } from '../errors.ts'
import { dotenvQuote, shellQuote } from '../format.ts'

export const options: CommandModule['options'] = {
  format: { type: 'string' },
  only: { type: 'string', multiple: true },
}

export const help = `Usage: keywarden export [--format dotenv|json|shell] [--only NAME,NAME...]

Prints secret values on stdout, for a .env file or a shell. Variable names follow the same rule
as keywarden run: github_token -> GITHUB_TOKEN. On a terminal it warns first (the values would
stay in your scrollback); redirect it to a file or a pipe instead.

Formats:
  dotenv   GITHUB_TOKEN=value, quoted where needed so that it reads back the same (default)
  shell    export GITHUB_TOKEN='value', for eval or source
  json     {"github_token": "value"}, keyed by secret name (also --json)

Options:
  --format FMT      dotenv (default), shell or json
  --only NAMES      only these secrets, comma-separated (repeatable); each must exist
  --json            the same as --format json

Examples:
  keywarden export > .env && chmod 600 .env
  eval "$(keywarden export --format shell --only github_token)"
  keywarden export --format json | jq -r .openai_api_key`

const FORMATS = ['dotenv', 'json', 'shell'] as const
type Format = (typeof FORMATS)[number]

// The most names get_secrets takes in one call.
const BATCH = 1000

// Names a shell accepts for a variable: a dotenv file that a shell cannot source is no use either.
const VARIABLE_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/

export const run: CommandModule['run'] = async (context, { positionals, values }) => {
  if (positionals.length > 0) {
    throw new UsageError('export takes no arguments (use --only a,b); see keywarden export --help')
  }
  const format = formatFrom(values.format, context.out.json)
  const only = onlyFrom(values.only)
  const client = await context.client()
  const names = only ?? (await client.listSecrets()).map((secret) => secret.name)
  const variables = format === 'json' ? new Map<string, string>() : variablesFor(names)
  // One round trip for every value (per 1000 names, the SQL API's limit for one call); names
  // found nowhere are absent from the answer.
  const found = new Map<string, SecretResult>()
  for (let start = 0; start < names.length; start += BATCH) {
    for (const [name, result] of await client.getSecrets(names.slice(start, start + BATCH))) {
      found.set(name, result)
    }
  }
  const missing = names.filter((name) => !found.has(name))
  if (missing.length > 0) {
    throw new KeywardenError(
      'SECRET_NOT_FOUND',
      `not in the vault or the environment: ${missing.map((name) => `${name} (${environmentVariableFor(name)})`).join(', ')}`,
      { secretName: missing[0] },
    )
  }
  if (context.io.stdout.isTTY) {
    context.out.note(
      'keywarden: warning: printing secret values to the terminal; redirect to a file or pipe instead',
    )
  }
  if (format === 'json') {
    const object: Record<string, string> = {}
    for (const name of names) object[name] = found.get(name)?.value ?? ''
    context.out.printJson(object)
    return 0
  }
  let text = ''
  for (const name of names) {
    const value = found.get(name)?.value ?? ''
    const variable = variables.get(name) ?? environmentVariableFor(name)
    text +=
      format === 'shell'
        ? `export ${variable}=${shellQuote(value)}\n`
        : `${variable}=${dotenvQuote(value)}\n`
  }
  // One write: a reader of a pipe sees the whole file or nothing.
  context.out.write(text)
  return 0
}

function formatFrom(format: unknown, json: boolean): Format {
  if (format === undefined) return json ? 'json' : 'dotenv'
  if (typeof format !== 'string' || !FORMATS.includes(format as Format)) {
    throw new UsageError(`--format must be one of ${FORMATS.join(', ')}`)
  }
  if (json && format !== 'json') {
    throw new UsageError(`--json and --format ${format} disagree; give one of them`)
  }
  return format as Format
}

function onlyFrom(only: unknown): string[] | undefined {
  if (!Array.isArray(only)) return undefined
  const names = only
    .flatMap((item) => String(item).split(','))
    .map((name) => name.trim())
    .filter((name) => name !== '')
  if (names.length === 0) throw new UsageError('--only needs at least one secret name')
  for (const name of names) validateSecretName(name)
  return [...new Set(names)]
}

/**
 * Each secret's variable name; refuses names that would not work as one, or two secrets that
 * would land on the same variable (the second would silently win when the file is read).
 */
function variablesFor(names: readonly string[]): Map<string, string> {
  const variables = new Map<string, string>()
  const owners = new Map<string, string>()
  for (const name of names) {
    const variable = environmentVariableFor(name)
    if (!VARIABLE_NAME.test(variable)) {
      throw new UsageError(
        `${name} would be exported as ${variable}, which is not a valid variable name; leave it out with --only`,
      )
    }
    const owner = owners.get(variable)
    if (owner !== undefined) {
      throw new UsageError(
        `${owner} and ${name} would both be exported as ${variable}; choose one with --only`,
      )
    }
    owners.set(variable, name)
    variables.set(name, variable)
  }
  return variables
}
