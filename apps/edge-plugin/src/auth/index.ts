/**
 * Bearer authentication for the plugin's protected routes.
 *
 * - The expected token is a secret: `plugin_bearer_token` through the vault client, so it has
 *   the core's cache and its fallback to `PLUGIN_BEARER_TOKEN`. With neither, every protected
 *   route answers 503: the plugin fails closed rather than open. The cron route uses the same
 *   middleware with its own secret (`cron_bearer_token`, else `CRON_BEARER_TOKEN`), so a
 *   scheduler's token opens only that route and the plugin token never opens it.
 * - Tokens are compared in constant time ({@link constantTimeEqual}): neither the expected
 *   token's content nor its length leaks through timing.
 * - Each failure is audited (`auth_failure`), and a client with more than
 *   `maxAuthFailures` failures in the window gets 429 with `Retry-After` until its oldest
 *   failure leaves the window. Refused requests are not audited one by one, so a flood cannot
 *   fill the audit log; the failures that led to the refusal are.
 * @module
 */
import { environmentVariableFor, isKeywardenError, type VaultClient } from '@keywarden/core'
import type { Context, MiddlewareHandler } from 'hono'
import { ApiError } from '../errors/index.ts'

/** The vault secret holding the token; its environment fallback is `PLUGIN_BEARER_TOKEN`. */
export const BEARER_TOKEN_SECRET = 'plugin_bearer_token'

/** The vault secret holding the cron route's token; its environment fallback is `CRON_BEARER_TOKEN`. */
export const CRON_TOKEN_SECRET = 'cron_bearer_token'

/** Identifies the client a request came from, for the failure limit. */
export type ClientIdentifier = (c: Context) => string

/**
 * The default {@link ClientIdentifier}, for a server behind proxies (Supabase's gateway behind
 * Cloudflare): `CF-Connecting-IP`, which Cloudflare sets and overwrites; else `X-Real-IP`; else
 * the first `X-Forwarded-For` hop; else `unknown`. The later ones can be forged by a client that
 * reaches the server without such a proxy, so entries that see the socket (the Node server) pass
 * their own identifier instead.
 */
export const forwardedFor: ClientIdentifier = (c) =>
  c.req.header('cf-connecting-ip')?.trim() ||
  c.req.header('x-real-ip')?.trim() ||
  c.req.header('x-forwarded-for')?.split(',')[0]?.trim() ||
  'unknown'

/** Options for {@link createBearerAuth}. */
export interface BearerAuthOptions {
  client: VaultClient
  /**
   * The vault secret holding the expected token (default {@link BEARER_TOKEN_SECRET}); the
   * client's environment fallback reads it from the variable of the same name in upper case.
   */
  secretName?: string
  /** Failures allowed per window before 429. */
  maxFailures: number
  /** The window in ms. */
  windowMs: number
  identify?: ClientIdentifier
  /** The clock, in ms (tests). Default `Date.now`. */
  now?: () => number
}

/** Creates the middleware that guards protected routes. */
export function createBearerAuth(options: BearerAuthOptions): MiddlewareHandler {
  const { client } = options
  const secretName = options.secretName ?? BEARER_TOKEN_SECRET
  const identify = options.identify ?? forwardedFor
  const limiter = new FailureLimiter(options)

  return async (c, next) => {
    const expected = await expectedToken(client, secretName)
    const who = identify(c)
    const retryAfterMs = limiter.blockedFor(who)
    if (retryAfterMs > 0) {
      throw new ApiError(429, 'TOO_MANY_FAILURES', 'too many failed authentications; retry later', {
        'Retry-After': String(Math.ceil(retryAfterMs / 1000)),
      })
    }
    const problem = checkAuthorization(c.req.header('authorization'), expected)
    if (problem) {
      limiter.fail(who)
      client.recordAccess({
        secretName,
        accessType: 'auth_failure',
        success: false,
        errorMessage: `${problem} bearer token from ${who.slice(0, 64)}`,
      })
      throw new ApiError(401, 'UNAUTHORIZED', `${problem} bearer token`, {
        'WWW-Authenticate': 'Bearer realm="keywarden"',
      })
    }
    await next()
  }
}

async function expectedToken(client: VaultClient, secretName: string): Promise<string> {
  try {
    return (await client.getSecret(secretName)).value
  } catch (error) {
    if (isKeywardenError(error, 'SECRET_NOT_FOUND')) {
      throw new ApiError(
        503,
        'NOT_CONFIGURED',
        `the plugin is not configured: store ${secretName} in the vault or set ${environmentVariableFor(secretName)}`,
      )
    }
    throw error
  }
}

/** What is wrong with an Authorization header, or undefined when it carries the right token. */
function checkAuthorization(
  header: string | undefined,
  expected: string,
): 'missing' | 'malformed' | 'wrong' | undefined {
  if (header === undefined || header === '') return 'missing'
  const match = /^Bearer +(\S+) *$/i.exec(header)
  if (!match?.[1]) return 'malformed'
  return constantTimeEqual(match[1], expected) ? undefined : 'wrong'
}

/**
 * Whether `given` equals `expected`, in time that depends only on `given`'s length — which the
 * caller chose — and never on `expected`'s content or length: every UTF-16 code unit of `given`
 * is compared with one of `expected` (cycling through it), and a length mismatch is folded into
 * the result instead of returning early. Plain JavaScript, so it runs on every runtime without
 * Web Crypto's asynchronous round trip on each request.
 */
export function constantTimeEqual(given: string, expected: string): boolean {
  // A zero-length expected token never matches a non-empty one; keep the loop's shape anyway.
  const modulus = Math.max(expected.length, 1)
  let difference = given.length ^ expected.length
  for (let i = 0; i < given.length; i++) {
    difference |= given.charCodeAt(i) ^ (expected.charCodeAt(i % modulus) | 0)
  }
  return difference === 0
}

/** Most clients remembered at once; the oldest are forgotten first. */
const MAX_TRACKED_CLIENTS = 10_000

/**
 * Counts failures per client in a sliding window. A client with `maxFailures` failures in the
 * window is blocked until the oldest of them leaves it.
 */
export class FailureLimiter {
  readonly #failures = new Map<string, number[]>()
  readonly #maxFailures: number
  readonly #windowMs: number
  readonly #now: () => number

  constructor(options: { maxFailures: number; windowMs: number; now?: () => number }) {
    this.#maxFailures = options.maxFailures
    this.#windowMs = options.windowMs
    this.#now = options.now ?? Date.now
  }

  /** Records a failure by `client`. */
  fail(client: string): void {
    const times = this.#recent(client)
    times.push(this.#now())
    // Re-inserted so the map's order is least recently failed first.
    this.#failures.delete(client)
    this.#failures.set(client, times)
    if (this.#failures.size > MAX_TRACKED_CLIENTS) {
      const oldest = this.#failures.keys().next().value
      if (oldest !== undefined) this.#failures.delete(oldest)
    }
  }

  /** How long `client` is still blocked, in ms; 0 when it is not. */
  blockedFor(client: string): number {
    const times = this.#recent(client)
    if (times.length < this.#maxFailures) return 0
    const oldest = times[times.length - this.#maxFailures] ?? this.#now()
    return Math.max(1, oldest + this.#windowMs - this.#now())
  }

  #recent(client: string): number[] {
    const times = this.#failures.get(client)
    if (!times) return []
    const cutoff = this.#now() - this.#windowMs
    const recent = times.filter((time) => time > cutoff)
    if (recent.length === 0) this.#failures.delete(client)
    else if (recent.length !== times.length) this.#failures.set(client, recent)
    return recent
  }
}
