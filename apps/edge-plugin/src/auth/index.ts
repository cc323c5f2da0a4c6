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
 * - Each failure is audited (`auth_failure`), committed before the 401 is answered, and the
 *   failures are counted per address, per IPv6 /64 (one subscriber's block: rotating through
 *   its 2^64 addresses buys nothing) and across all clients. A client (or /64) with
 *   `maxFailures` failures in the window gets 429 with `Retry-After` until its oldest failure
 *   leaves the window; once `maxGlobalFailures` failures from anyone are in the window,
 *   *everyone* gets 429 until the oldest leaves it, so no supply of addresses buys more
 *   guesses than that per window. Refused requests are not audited one by one, so a flood
 *   cannot fill the audit log; the failures that led to the refusal are.
 * @module
 */
import { environmentVariableFor, isKeywardenError, type VaultClient } from '@keywarden/core'
import type { Context, MiddlewareHandler } from 'hono'
import {
  convertIPv4BinaryToString,
  convertIPv4MappedIPv6ToIPv4,
  convertIPv4ToBinary,
  convertIPv6BinaryToString,
  convertIPv6ToBinary,
  isIPv4MappedIPv6,
} from 'hono/utils/ipaddr'
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
  /** Failures allowed per client (address, or IPv6 /64) per window before 429. */
  maxFailures: number
  /** Failures allowed from all clients together per window before 429 for everyone. */
  maxGlobalFailures?: number
  /** The window in ms. */
  windowMs: number
  identify?: ClientIdentifier
  /** The clock, in ms (tests). Default `Date.now`. */
  now?: () => number
  /**
   * The limiter to count in; default one of its own. Share one between the doors that guard
   * tokens (the plugin's and the cron route's), so alternating between them buys no guesses.
   */
  limiter?: FailureLimiter
}

/** The default of {@link BearerAuthOptions.maxGlobalFailures}. */
export const DEFAULT_MAX_GLOBAL_FAILURES = 100

/** The buckets a client's failures count in: its address, its /64 (IPv6), and everyone. */
export interface ClientBuckets {
  /** The normalized address (`203.0.113.9`, `2001:db8::1`), or `invalid` for anything else. */
  address: string
  /** For IPv6, the /64 it belongs to (`2001:db8:1:2::/64`). */
  network?: string
}

/** The bucket every client also counts in. */
const GLOBAL = '*'

/**
 * Normalizes a client identifier for counting: IPv4 as dotted quad, IPv6 compressed and lower
 * case (so `2001:DB8:0:0::1` and `2001:db8::1` are one client), an IPv4-mapped IPv6 address
 * (`::ffff:192.0.2.1`) as its IPv4, brackets and ports dropped. Anything that is not an address
 * (`unknown`, a forged header's junk) shares the single bucket `invalid`, so inventing
 * identifiers buys nothing either.
 */
export function clientBuckets(identifier: string): ClientBuckets {
  let text = identifier.trim()
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(text)
  if (bracketed?.[1]) text = bracketed[1]
  const withPort = /^(\d{1,3}(?:\.\d{1,3}){3}):\d+$/.exec(text)
  if (withPort?.[1]) text = withPort[1]
  try {
    if (!text.includes(':'))
      return { address: convertIPv4BinaryToString(convertIPv4ToBinary(text)) }
    const binary = convertIPv6ToBinary(text.replace(/%.*$/, ''))
    if (isIPv4MappedIPv6(binary)) {
      return { address: convertIPv4BinaryToString(convertIPv4MappedIPv6ToIPv4(binary)) }
    }
    const prefix = (binary >> 64n) << 64n
    return {
      address: convertIPv6BinaryToString(binary),
      network: `${convertIPv6BinaryToString(prefix)}/64`,
    }
  } catch {
    return { address: 'invalid' }
  }
}

/** Creates the middleware that guards protected routes. */
export function createBearerAuth(options: BearerAuthOptions): MiddlewareHandler {
  const { client } = options
  const secretName = options.secretName ?? BEARER_TOKEN_SECRET
  const identify = options.identify ?? forwardedFor
  const limiter = options.limiter ?? new FailureLimiter(options)

  return async (c, next) => {
    const expected = await expectedToken(client, secretName)
    // Who the client is matters only for counting failures: normalizing its address costs more
    // than the rest of a cached request (an identifier that is no address throws inside the
    // address library), so it is done only while failures are counted or for a failure.
    let buckets: ClientBuckets | undefined
    const clientKeys = () => {
      buckets ??= clientBuckets(identify(c))
      return [buckets.address, ...(buckets.network ? [buckets.network] : [])]
    }
    const retryAfterMs = limiter.counting() ? limiter.blockedFor(clientKeys()) : 0
    if (retryAfterMs > 0) {
      throw new ApiError(429, 'TOO_MANY_FAILURES', 'too many failed authentications; retry later', {
        'Retry-After': String(Math.ceil(retryAfterMs / 1000)),
      })
    }
    const problem = checkAuthorization(c.req.header('authorization'), expected)
    if (problem) {
      const keys = clientKeys()
      limiter.fail(keys)
      // Audit first: the refusal is on record before it is answered.
      await client.commitAccess({
        secretName,
        accessType: 'auth_failure',
        success: false,
        errorMessage: `${problem} bearer token from ${keys[0]}`,
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
 * Counts failures in a sliding window per key (an address, an IPv6 /64) and across all keys.
 * A key with `maxFailures` failures in the window is blocked until the oldest of them leaves
 * it; with `maxGlobalFailures` failures from all keys in the window, every key is.
 */
export class FailureLimiter {
  readonly #failures = new Map<string, number[]>()
  readonly #maxFailures: number
  readonly #maxGlobalFailures: number
  readonly #windowMs: number
  readonly #now: () => number

  constructor(options: {
    maxFailures: number
    maxGlobalFailures?: number
    windowMs: number
    now?: () => number
  }) {
    this.#maxFailures = options.maxFailures
    this.#maxGlobalFailures = options.maxGlobalFailures ?? DEFAULT_MAX_GLOBAL_FAILURES
    this.#windowMs = options.windowMs
    this.#now = options.now ?? Date.now
  }

  /** Records one failure by a client known by `keys` (each also counts toward the global cap). */
  fail(keys: string | readonly string[]): void {
    for (const key of [...(typeof keys === 'string' ? [keys] : keys), GLOBAL]) {
      const times = this.#recent(key)
      times.push(this.#now())
      // Re-inserted so the map's order is least recently failed first.
      this.#failures.delete(key)
      this.#failures.set(key, times)
    }
    // Forgetting the least recent clients keeps memory bounded; the global count still holds.
    for (const key of this.#failures.keys()) {
      if (this.#failures.size <= MAX_TRACKED_CLIENTS) break
      if (key !== GLOBAL) this.#failures.delete(key)
    }
  }

  /**
   * Whether any failure is still counted: when none is, no client is blocked, and a caller
   * need not work out who is asking.
   */
  counting(): boolean {
    // Every failure also counts in the global bucket, which is never forgotten early.
    if (this.#recent(GLOBAL).length > 0) return true
    this.#failures.clear()
    return false
  }

  /** How long a client known by `keys` is still blocked, in ms; 0 when it is not. */
  blockedFor(keys: string | readonly string[]): number {
    let blocked = this.#blockedFor(GLOBAL, this.#maxGlobalFailures)
    for (const key of typeof keys === 'string' ? [keys] : keys) {
      blocked = Math.max(blocked, this.#blockedFor(key, this.#maxFailures))
    }
    return blocked
  }

  #blockedFor(key: string, max: number): number {
    const times = this.#recent(key)
    if (times.length < max) return 0
    const oldest = times[times.length - max] ?? this.#now()
    return Math.max(1, oldest + this.#windowMs - this.#now())
  }

  #recent(key: string): number[] {
    const times = this.#failures.get(key)
    if (!times) return []
    const cutoff = this.#now() - this.#windowMs
    const recent = times.filter((time) => time > cutoff)
    if (recent.length === 0) this.#failures.delete(key)
    else if (recent.length !== times.length) this.#failures.set(key, recent)
    return recent
  }
}
