/**
 * Bad input never yields a 500 or a crash: fast-check generates requests with malformed JSON,
 * wrong types, oversized bodies, traversal attempts in paths and unknown routes, authenticated
 * and not, and every answer must be a 4xx (or a 2xx for what happens to be valid) with the JSON
 * error shape. GitHub is a local double, so valid GitHub requests get real answers.
 */
import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { BASE_PATH } from '../config/index.ts'
import { createGitHubFixture, type GitHubFixture } from '../testing/index.ts'
import { createApp, type EdgePluginApp } from './index.ts'

let fixture: GitHubFixture
let app: EdgePluginApp
let tokens: GitHubFixture['tokens']

beforeAll(async () => {
  fixture = await createGitHubFixture()
  tokens = fixture.tokens
  app = createApp({
    client: fixture.vault.client,
    // A small limit so oversized bodies are cheap to generate; a high failure limit so the
    // unauthenticated half of the runs keeps meeting 401s rather than only 429s.
    config: { githubApiUrl: fixture.github.url, maxBodyBytes: 4096, maxAuthFailures: 1_000_000 },
  })
})
afterAll(() => fixture?.cleanup())

const ROUTES: ReadonlyArray<readonly [string, string]> = [
  ['GET', '/secrets'],
  ['GET', '/secrets/expiring'],
  ['GET', '/secrets/'],
  ['GET', '/audit'],
  ['GET', '/github/repos'],
  ['GET', '/github/file'],
  ['PUT', '/github/file'],
  ['POST', '/github/issues'],
  ['POST', '/github/pulls'],
  ['POST', '/mcp'],
  ['GET', '/health'],
  ['GET', '/openapi.json'],
  ['PATCH', '/secrets'],
  ['GET', '/no/such/route'],
]

const traversal = fc.constantFrom(
  '../etc/passwd',
  '..%2F..%2Fsecrets',
  '%2e%2e/%2e%2e/x',
  '/absolute',
  'a\\..\\b',
  'a//b',
  '\u0000',
  'README.md',
  '',
)

const pathSuffix = fc.oneof(
  fc.string({ maxLength: 40 }).map(encodeURIComponent),
  traversal,
  fc.constant('plugin_bearer_token'),
)

const query = fc
  .dictionary(
    fc.constantFrom(
      'days',
      'limit',
      'since',
      'failed',
      'secret',
      'owner',
      'repo',
      'path',
      'ref',
      'per_page',
      'page',
      'x',
    ),
    fc.oneof(
      fc.string({ maxLength: 30 }),
      fc.integer().map(String),
      traversal,
      fc.constant('-1'),
      fc.constant('1e309'),
    ),
    { maxKeys: 5 },
  )
  .map((entries) => new URLSearchParams(entries).toString())

const jsonValue = fc.jsonValue({ maxDepth: 3 })
const body = fc.oneof(
  fc.string({ maxLength: 200 }), // mostly malformed JSON
  jsonValue.map((value) => JSON.stringify(value)), // well-formed, usually the wrong shape
  fc
    .record(
      {
        owner: fc.oneof(fc.constant('octocat'), fc.string({ maxLength: 45 }), fc.integer()),
        repo: fc.oneof(fc.constant('hello-world'), fc.string({ maxLength: 10 }), fc.constant('..')),
        path: fc.oneof(traversal, fc.string({ maxLength: 20 })),
        content: fc.oneof(fc.string({ maxLength: 50 }), fc.integer(), fc.constant(null)),
        message: fc.oneof(fc.string({ maxLength: 20 }), fc.boolean()),
        title: fc.oneof(fc.string({ maxLength: 30 }), fc.array(fc.string())),
        head: fc.string({ maxLength: 10 }),
        base: fc.string({ maxLength: 10 }),
      },
      { requiredKeys: [] },
    )
    .map((value) => JSON.stringify(value)),
  fc.integer({ min: 4097, max: 20_000 }).map((size) => JSON.stringify({ title: 'x'.repeat(size) })),
)

const requests = (bearer: string) =>
  fc.record({
    route: fc.constantFrom(...ROUTES),
    suffix: fc.option(pathSuffix, { nil: undefined }),
    query,
    body: fc.option(body, { nil: undefined }),
    contentType: fc.constantFrom(
      'application/json',
      'text/plain',
      'application/json; charset=utf-8',
      undefined,
    ),
    authorization: fc.oneof(
      fc.constant(`Bearer ${bearer}`),
      fc.constant(`Bearer ${bearer}`),
      fc.string({ maxLength: 30 }),
      fc.constant(undefined),
    ),
  })

describe('bad input', () => {
  it('never produces a 500 or a crash, and always answers errors as JSON', async () => {
    const seen = new Set<number>()
    await fc.assert(
      fc.asyncProperty(
        requests(tokens.bearer),
        async ({ route: [method, path], suffix, query, body, contentType, authorization }) => {
          const headers: Record<string, string> = {}
          if (authorization !== undefined) headers.authorization = authorization
          if (contentType !== undefined) headers['content-type'] = contentType
          const sendsBody = body !== undefined && method !== 'GET'
          const url = `${BASE_PATH}${path}${suffix ?? ''}${query ? `?${query}` : ''}`
          const response = await app.request(url, {
            method,
            headers: {
              ...headers,
              // The MCP transport wants both; give it them so its own checks are not all it meets.
              ...(path === '/mcp' ? { accept: 'application/json, text/event-stream' } : {}),
            },
            ...(sendsBody ? { body } : {}),
          })
          const text = await response.text()
          seen.add(response.status)
          expect(response.status, `${method} ${url}`).toBeLessThan(500)
          expect(text).not.toContain(tokens.github)
          expect(text).not.toContain(tokens.bearer)
          if (response.status >= 400 && path !== '/mcp') {
            expect(JSON.parse(text), `${method} ${url}: ${text}`).toEqual({
              error: { code: expect.any(String), message: expect.any(String) },
            })
          }
        },
      ),
      { numRuns: 400 },
    )
    // The runs reached past each gate: answers, refusals, validation, limits and routing.
    expect([...seen]).toEqual(expect.arrayContaining([200, 400, 401, 404, 413]))
  })
})
