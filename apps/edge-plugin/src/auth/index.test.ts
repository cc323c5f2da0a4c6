/**
 * Bearer authentication through the whole app (`app.request`), with a real vault client on a
 * fresh PostgreSQL database: token sources, failures, the failure limit, and its audit trail.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { until } from '../../../../packages/core/src/testing/expect.ts'
import { createApp } from '../app/index.ts'
import { createTestVault, type TestVault, testTokens } from '../testing/index.ts'
import {
  BEARER_TOKEN_SECRET,
  CRON_TOKEN_SECRET,
  clientBuckets,
  constantTimeEqual,
  FailureLimiter,
} from './index.ts'

const { bearer } = testTokens()
const HOUR = 60 * 60 * 1000

let vault: TestVault
beforeAll(async () => {
  vault = await createTestVault({ secrets: { [BEARER_TOKEN_SECRET]: bearer } })
})
afterAll(() => vault?.cleanup())

const from = (client: string, authorization?: string): RequestInit => ({
  headers: {
    'x-forwarded-for': client,
    ...(authorization === undefined ? {} : { authorization }),
  },
})

describe('bearer authentication', () => {
  it('lets the right token through and refuses missing, malformed and wrong ones with 401', async () => {
    const app = createApp({ client: vault.client })
    const ok = await app.request('/chatgpt-plugin/secrets', from('10.0.0.1', `Bearer ${bearer}`))
    expect(ok.status).toBe(200)
    // The scheme is case-insensitive (RFC 7235).
    expect(
      (await app.request('/chatgpt-plugin/secrets', from('10.0.0.1', `bearer ${bearer}`))).status,
    ).toBe(200)

    for (const [authorization, reason] of [
      [undefined, 'missing'],
      ['', 'missing'],
      [`Basic ${btoa(`user:${bearer}`)}`, 'malformed'],
      ['Bearer', 'malformed'],
      [`Bearer ${bearer} extra`, 'malformed'],
      [`Bearer ${bearer}x`, 'wrong'],
      [`Bearer ${bearer.slice(0, -1)}`, 'wrong'],
    ] as const) {
      const client = `10.1.0.${reason.length}${authorization?.length ?? 0}`
      const response = await app.request('/chatgpt-plugin/secrets', from(client, authorization))
      expect(response.status, String(authorization)).toBe(401)
      expect(response.headers.get('www-authenticate')).toMatch(/^Bearer /)
      const body = await response.json()
      expect(body).toEqual({ error: { code: 'UNAUTHORIZED', message: `${reason} bearer token` } })
      expect(JSON.stringify(body)).not.toContain(bearer)
    }
  })

  it('guards every route but health, the OpenAPI document and the manifest', async () => {
    const app = createApp({ client: vault.client })
    for (const path of ['/health', '/openapi.json', '/.well-known/ai-plugin.json']) {
      expect((await app.request(`/chatgpt-plugin${path}`, from('10.2.0.1'))).status, path).toBe(200)
    }
    const guarded = [
      ['GET', '/secrets'],
      ['GET', '/secrets/expiring'],
      ['GET', `/secrets/${BEARER_TOKEN_SECRET}`],
      ['GET', '/audit'],
      ['GET', '/github/repos'],
      ['GET', '/github/file?owner=o&repo=r&path=README.md'],
      ['PUT', '/github/file'],
      ['POST', '/github/issues'],
      ['POST', '/github/pulls'],
      ['POST', '/mcp'],
      ['GET', '/mcp'],
      ['DELETE', '/mcp'],
    ] as const
    for (const [index, [method, path]] of guarded.entries()) {
      const response = await app.request(`/chatgpt-plugin${path}`, {
        method,
        headers: { 'x-forwarded-for': `10.2.1.${index}` },
      })
      expect(response.status, `${method} ${path}`).toBe(401)
    }
  })

  it('answers 429 with Retry-After from the 6th failure in an hour, for that client only, and audits each failure', async () => {
    let now = Date.parse('2026-11-29T12:00:00Z')
    const app = createApp({ client: vault.client, now: () => now })
    const attacker = '203.0.113.9'
    for (let attempt = 1; attempt <= 5; attempt++) {
      now += 60_000
      const response = await app.request(
        '/chatgpt-plugin/secrets',
        from(attacker, `Bearer guess-${attempt}`),
      )
      expect(response.status, `attempt ${attempt}`).toBe(401)
    }
    now += 60_000
    const sixth = await app.request('/chatgpt-plugin/secrets', from(attacker, 'Bearer guess-6'))
    expect(sixth.status).toBe(429)
    expect(await sixth.json()).toMatchObject({ error: { code: 'TOO_MANY_FAILURES' } })
    // The first failure leaves the window 55 minutes from now.
    expect(Number(sixth.headers.get('retry-after'))).toBe(55 * 60)
    // Blocked even with the right token: a guess that finally hits does not get through.
    expect(
      (await app.request('/chatgpt-plugin/secrets', from(attacker, `Bearer ${bearer}`))).status,
    ).toBe(429)
    // Others are not affected.
    expect(
      (await app.request('/chatgpt-plugin/secrets', from('198.51.100.1', `Bearer ${bearer}`)))
        .status,
    ).toBe(200)
    // Once the first failure is an hour old, one more attempt is allowed.
    now += 55 * 60_000
    expect(
      (await app.request('/chatgpt-plugin/secrets', from(attacker, `Bearer ${bearer}`))).status,
    ).toBe(200)

    const failures = await until(
      'the auth failures in the audit log',
      async () =>
        (
          await vault.client.queryAudit({
            secretName: BEARER_TOKEN_SECRET,
            failedOnly: true,
            limit: 1000,
          })
        ).filter(
          (record) =>
            record.accessType === 'auth_failure' && record.errorMessage?.includes(attacker),
        ),
      (records) => records.length >= 5,
    )
    expect(failures).toHaveLength(5)
    for (const record of failures) {
      expect(record.accessedBy).toBe('chatgpt-plugin')
      expect(record.success).toBe(false)
      expect(record.errorMessage).toBe(`wrong bearer token from ${attacker}`)
    }
  })

  it('works out who asks only while failures are counted: a cached request never parses its address', async () => {
    let now = Date.parse('2026-11-29T12:00:00Z')
    const asked: string[] = []
    const app = createApp({
      client: vault.client,
      now: () => now,
      identifyClient: () => {
        asked.push('asked')
        return 'unknown'
      },
    })
    const status = async (authorization: string) =>
      (await app.request('/chatgpt-plugin/secrets', { headers: { authorization } })).status
    for (let i = 0; i < 3; i++) expect(await status(`Bearer ${bearer}`)).toBe(200)
    expect(asked).toHaveLength(0)
    expect(await status('Bearer wrong-guess')).toBe(401)
    expect(asked).toHaveLength(1)
    // While that failure counts, every request is checked against the limit.
    expect(await status(`Bearer ${bearer}`)).toBe(200)
    expect(asked).toHaveLength(2)
    now += HOUR + 1
    expect(await status(`Bearer ${bearer}`)).toBe(200)
    expect(asked).toHaveLength(2)
  })

  it('loads the token once for concurrent first requests', async () => {
    const fresh = await createTestVault({ secrets: { [BEARER_TOKEN_SECRET]: bearer } })
    try {
      // A second client on the same database: its cache is cold.
      const app = createApp({ client: fresh.client })
      const before = await fresh.client.queryAudit({ secretName: BEARER_TOKEN_SECRET })
      const responses = await Promise.all(
        Array.from({ length: 10 }, () =>
          app.request('/chatgpt-plugin/secrets/expiring', from('10.3.0.1', `Bearer ${bearer}`)),
        ),
      )
      expect(responses.map((response) => response.status)).toEqual(Array(10).fill(200))
      const reads = (await fresh.client.queryAudit({ secretName: BEARER_TOKEN_SECRET })).filter(
        (record) => record.accessType === 'read' && !before.some((old) => old.id === record.id),
      )
      expect(reads).toHaveLength(1)
    } finally {
      await fresh.cleanup()
    }
  })
})

describe('guessing from many addresses (issue 12)', () => {
  const failuresFrom = async (match: (message: string) => boolean) =>
    (
      await vault.client.queryAudit({
        secretName: BEARER_TOKEN_SECRET,
        failedOnly: true,
        limit: 1000,
      })
    ).filter((record) => record.accessType === 'auth_failure' && match(record.errorMessage ?? ''))

  it('counts one IPv6 /64 as one client, however its addresses are spelled', async () => {
    let now = Date.parse('2026-12-01T12:00:00Z')
    const app = createApp({ client: vault.client, now: () => now })
    // The attacker owns 2001:db8:77:1::/64 and uses a new address, in a new spelling, each time.
    const spellings = (i: number) =>
      [
        `2001:db8:77:1::${(i + 1).toString(16)}`,
        `2001:0DB8:0077:0001:0000:0000:0000:${(i + 1).toString(16).toUpperCase()}`,
        `[2001:db8:77:1:${i + 1}::1]:443`,
        `2001:db8:77:1:ffff:${i}:0:1`,
      ][i % 4] as string
    const statuses: number[] = []
    for (let attempt = 0; attempt < 40; attempt++) {
      now += 1000
      const response = await app.request(
        '/chatgpt-plugin/secrets',
        from(spellings(attempt), `Bearer guess-${attempt}`),
      )
      statuses.push(response.status)
      if (response.status === 429) {
        expect(Number(response.headers.get('retry-after'))).toBeGreaterThan(0)
      }
    }
    // Five guesses per hour for the whole /64, as for one address.
    expect(statuses.slice(0, 5)).toEqual(Array(5).fill(401))
    expect(statuses.slice(5)).toEqual(Array(35).fill(429))
    // The right token from yet another address of that /64 is refused too; other clients pass.
    expect(
      (
        await app.request(
          '/chatgpt-plugin/secrets',
          from('2001:db8:77:1:abcd::9', `Bearer ${bearer}`),
        )
      ).status,
    ).toBe(429)
    expect(
      (await app.request('/chatgpt-plugin/secrets', from('2001:db8:77:2::1', `Bearer ${bearer}`)))
        .status,
    ).toBe(200)
    // Each failure was on record when its 401 was answered: no waiting for a buffer.
    expect(await failuresFrom((message) => message.includes('from 2001:db8:77:1:'))).toHaveLength(5)
  })

  it('caps failures across all clients: many IPv4 addresses get 429 for everyone within the bound', async () => {
    let now = Date.parse('2026-12-01T13:00:00Z')
    const app = createApp({ client: vault.client, now: () => now })
    let firstRefused: number | undefined
    for (let attempt = 0; attempt < 150 && firstRefused === undefined; attempt++) {
      now += 1000
      const address = `198.18.${Math.floor(attempt / 250)}.${attempt % 250}`
      const response = await app.request('/chatgpt-plugin/secrets', from(address, 'Bearer guess'))
      if (response.status === 429) firstRefused = attempt
      else expect(response.status).toBe(401)
    }
    // The default cap: 100 failures an hour from everyone together.
    expect(firstRefused).toBe(100)
    // Everyone is refused now, even a new client with the right token, until the oldest
    // failure leaves the window.
    const blocked = await app.request(
      '/chatgpt-plugin/secrets',
      from('192.0.2.200', `Bearer ${bearer}`),
    )
    expect(blocked.status).toBe(429)
    expect(Number(blocked.headers.get('retry-after'))).toBe(60 * 60 - 100)
    now += 60 * 60 * 1000
    expect(
      (await app.request('/chatgpt-plugin/secrets', from('192.0.2.200', `Bearer ${bearer}`)))
        .status,
    ).toBe(200)
  })

  it('counts an IPv4-mapped IPv6 address as its IPv4, and both tokens in one count', async () => {
    const both = await createTestVault({
      secrets: { [BEARER_TOKEN_SECRET]: bearer, [CRON_TOKEN_SECRET]: `${bearer}-cron` },
    })
    const app = createApp({ client: both.client })
    const statuses: number[] = []
    for (const [attempt, address] of [
      '203.0.113.77',
      '::ffff:203.0.113.77',
      '::FFFF:cb00:714d',
      '203.0.113.77:5555',
      '[::ffff:203.0.113.77]:443',
      '203.0.113.77',
    ].entries()) {
      // Alternating between the plugin's door and the cron route's buys nothing either.
      const path =
        attempt % 2 === 0 ? '/chatgpt-plugin/secrets' : '/chatgpt-plugin/cron/rotation-check'
      const response = await app.request(path, {
        method: attempt % 2 === 0 ? 'GET' : 'POST',
        headers: { 'x-forwarded-for': address, authorization: 'Bearer guess' },
      })
      statuses.push(response.status)
    }
    await both.cleanup()
    expect(statuses).toEqual([401, 401, 401, 401, 401, 429])
  })

  it('normalizes identifiers before bucketing', () => {
    expect(clientBuckets('2001:DB8::0:1')).toEqual({
      address: '2001:db8::1',
      network: '2001:db8::/64',
    })
    expect(clientBuckets(' 2001:db8:1:2:3:4:5:6 ')).toEqual({
      address: '2001:db8:1:2:3:4:5:6',
      network: '2001:db8:1:2::/64',
    })
    expect(clientBuckets('::ffff:192.0.2.1')).toEqual({ address: '192.0.2.1' })
    expect(clientBuckets('[2001:db8::5]:8443').address).toBe('2001:db8::5')
    // Anything that is not an address shares one bucket, so junk headers buy nothing.
    for (const junk of ['unknown', 'x', '999.1.1.1', '01.2.3.4', 'a:b:c', '']) {
      expect(clientBuckets(junk), junk).toEqual({ address: 'invalid' })
    }
  })
})

describe('where the token comes from', () => {
  it('falls back to PLUGIN_BEARER_TOKEN when the vault has no plugin_bearer_token', async () => {
    const fromEnv = await createTestVault({ env: { PLUGIN_BEARER_TOKEN: bearer } })
    try {
      const app = createApp({ client: fromEnv.client })
      expect(
        (await app.request('/chatgpt-plugin/secrets', from('10.4.0.1', `Bearer ${bearer}`))).status,
      ).toBe(200)
      expect(
        (await app.request('/chatgpt-plugin/secrets', from('10.4.0.1', 'Bearer nope'))).status,
      ).toBe(401)
      const health = (await (await app.request('/chatgpt-plugin/health')).json()) as {
        secret_source: string
      }
      expect(health.secret_source).toBe('vault')
    } finally {
      await fromEnv.cleanup()
    }
  })

  it('fails closed with 503 on every protected route when neither is configured', async () => {
    const unconfigured = await createTestVault()
    try {
      const app = createApp({ client: unconfigured.client })
      for (const [method, path] of [
        ['GET', '/secrets'],
        ['GET', '/audit'],
        ['GET', '/github/repos'],
        ['POST', '/mcp'],
      ] as const) {
        const response = await app.request(`/chatgpt-plugin${path}`, {
          method,
          headers: { authorization: 'Bearer anything' },
        })
        expect(response.status, path).toBe(503)
        expect(await response.json()).toEqual({
          error: {
            code: 'NOT_CONFIGURED',
            message:
              'the plugin is not configured: store plugin_bearer_token in the vault or set PLUGIN_BEARER_TOKEN',
          },
        })
      }
      expect((await app.request('/chatgpt-plugin/health')).status).toBe(200)
    } finally {
      await unconfigured.cleanup()
    }
  })
})

describe('forwardedFor', () => {
  it("prefers the proxy's own headers to the X-Forwarded-For a client can write", async () => {
    let now = 0
    const app = createApp({ client: vault.client, now: () => now })
    const attempt = (headers: Record<string, string>) =>
      app.request('/chatgpt-plugin/secrets', {
        headers: { authorization: 'Bearer wrong', ...headers },
      })
    // Five failures from one Cloudflare-seen address, each claiming another forwarded address.
    for (let i = 0; i < 5; i++) {
      now += 1
      await attempt({ 'cf-connecting-ip': '203.0.113.50', 'x-forwarded-for': `10.9.0.${i}` })
    }
    expect(
      (await attempt({ 'cf-connecting-ip': '203.0.113.50', 'x-forwarded-for': '10.9.9.9' })).status,
    ).toBe(429)
    expect((await attempt({ 'x-real-ip': '203.0.113.51' })).status).toBe(401)
  })
})

describe('constantTimeEqual', () => {
  it('is true only for equal strings, whatever the lengths', () => {
    expect(constantTimeEqual(bearer, bearer)).toBe(true)
    expect(constantTimeEqual('', '')).toBe(true)
    expect(constantTimeEqual(bearer, `${bearer}x`)).toBe(false)
    expect(constantTimeEqual(bearer, '')).toBe(false)
    expect(constantTimeEqual('é', 'e\u0301')).toBe(false)
    expect(constantTimeEqual('', bearer)).toBe(false)
    // Cycling through the expected token must not make a repetition of it match.
    expect(constantTimeEqual(bearer + bearer, bearer)).toBe(false)
    expect(constantTimeEqual('aa', 'a')).toBe(false)
  })
})

describe('FailureLimiter', () => {
  it('blocks after maxFailures in the window and forgets failures as they age out', () => {
    let now = 0
    const limiter = new FailureLimiter({ maxFailures: 2, windowMs: HOUR, now: () => now })
    limiter.fail('a')
    now = 10
    expect(limiter.blockedFor('a')).toBe(0)
    limiter.fail('a')
    expect(limiter.blockedFor('a')).toBe(HOUR - 10)
    expect(limiter.blockedFor('b')).toBe(0)
    now = HOUR
    expect(limiter.blockedFor('a')).toBe(0)
  })
})
