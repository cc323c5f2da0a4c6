/**
 * Keywarden's own secretlint rules, for what secretlint's recommended preset does not know:
 * Supabase's service-role JWTs and `sb_secret_` keys, and the two credential files whose
 * secrets have no recognisable shape (a `.netrc` password, a Docker `auth`). Each is a plain
 * secretlint rule, run by the same engine as the preset, so one pipeline finds everything.
 *
 * They report the range of the value only; the message never carries it.
 */
import type { SecretLintRuleCreator, SecretLintSourceCode } from '@secretlint/types'
import { type JSONPath, visit } from 'jsonc-parser'

/** Message ids of the rules below, which `keywarden scan` shows as the finding's kind. */
export const KEYWARDEN_MESSAGES = {
  SUPABASE_SERVICE_ROLE_KEY: 'Supabase service-role key (JWT)',
  SUPABASE_SECRET_KEY: 'Supabase secret key (sb_secret_)',
  NETRC_PASSWORD: '.netrc password',
  DOCKER_AUTH: 'Docker registry credential',
} as const

type MessageId = keyof typeof KEYWARDEN_MESSAGES

// A translator message per id: its text names the kind, never the value.
const messages = Object.fromEntries(
  Object.entries(KEYWARDEN_MESSAGES).map(([id, text]) => [id, { en: () => `found ${text}` }]),
)

function scanner(
  id: string,
  find: (source: SecretLintSourceCode) => Iterable<{ id: MessageId; range: [number, number] }>,
): SecretLintRuleCreator {
  return {
    messages,
    meta: { id, recommended: true, type: 'scanner', supportedContentTypes: ['text'] },
    create(context) {
      const t = context.createTranslator(messages)
      return {
        file(source) {
          for (const found of find(source)) {
            context.report({ message: t(found.id), range: found.range })
          }
        },
      }
    },
  }
}

// Three base64url parts starting with `{"` encoded: header and payload are JSON objects.
const JWT = /\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{16,}/g
// Supabase's API keys of 2025: `sb_secret_` and a random part (the publishable ones are public).
const SB_SECRET = /\bsb_secret_[A-Za-z0-9_-]{20,}/g

/**
 * Supabase keys that grant the service role: a JWT whose payload says `"role":"service_role"`
 * (anon keys say `anon` and are public by design), and `sb_secret_` keys.
 */
export const supabaseRule = scanner('@keywarden/secretlint-rule-supabase', function* (source) {
  for (const match of source.content.matchAll(JWT)) {
    const payload = match[0].split('.')[1] ?? ''
    if (jwtRole(payload) === 'service_role') {
      yield { id: 'SUPABASE_SERVICE_ROLE_KEY', range: rangeOf(match) }
    }
  }
  for (const match of source.content.matchAll(SB_SECRET)) {
    yield { id: 'SUPABASE_SECRET_KEY', range: rangeOf(match) }
  }
})

function jwtRole(payload: string): unknown {
  try {
    const claims: unknown = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'))
    return typeof claims === 'object' && claims !== null && 'role' in claims
      ? claims.role
      : undefined
  } catch {
    return undefined
  }
}

/**
 * The value after each `password` token of a `.netrc` (or Windows `_netrc`): the file's
 * format is whitespace-separated tokens, so a password there has no shape to recognise.
 */
export const netrcRule = scanner('@keywarden/secretlint-rule-netrc', function* (source) {
  if (!/(^|[\\/])[._]netrc$/.test(source.filePath ?? '')) return
  const tokens = /\S+/g
  let previous = ''
  for (const match of source.content.matchAll(tokens)) {
    if (previous === 'password') yield { id: 'NETRC_PASSWORD', range: rangeOf(match) }
    previous = match[0]
  }
})

// The keys of a Docker config that hold a credential: `auths.<registry>.auth` (base64 of
// user:password), `identitytoken` and `registrytoken`.
const DOCKER_SECRET_KEYS = new Set(['auth', 'identitytoken', 'registrytoken'])

/** Credentials in `~/.docker/config.json` (`$DOCKER_CONFIG/config.json`) under `auths`. */
export const dockerConfigRule = scanner('@keywarden/secretlint-rule-docker-config', (source) => {
  const found: Array<{ id: MessageId; range: [number, number] }> = []
  if (!/(^|[\\/])\.?docker[\\/]config\.json$/.test(source.filePath ?? '')) return found
  visit(source.content, {
    onLiteralValue(value: unknown, offset, length, _line, _column, pathSupplier) {
      const path: JSONPath = pathSupplier()
      const key = path.at(-1)
      if (
        path[0] === 'auths' &&
        path.length === 3 &&
        typeof key === 'string' &&
        DOCKER_SECRET_KEYS.has(key) &&
        typeof value === 'string' &&
        value !== ''
      ) {
        // Inside the quotes: the value, not its JSON spelling.
        found.push({ id: 'DOCKER_AUTH', range: [offset + 1, offset + length - 1] })
      }
    },
  })
  return found
})

function rangeOf(match: RegExpMatchArray): [number, number] {
  const start = match.index ?? 0
  return [start, start + match[0].length]
}

/** Every rule of this module, in the order they run. */
export const KEYWARDEN_RULES: readonly SecretLintRuleCreator[] = [
  supabaseRule,
  netrcRule,
  dockerConfigRule,
]
