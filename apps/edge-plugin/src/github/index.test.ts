/**
 * The GitHub routes against a local double of GitHub's REST API (`GITHUB_API_URL` points
 * Octokit at it), with the token in a real vault: it reaches GitHub and nothing else.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ENCODINGS, encodedText } from '../../../../packages/core/src/testing/encodings.ts'
import { createApp, type EdgePluginApp } from '../app/index.ts'
import { BEARER_TOKEN_SECRET } from '../auth/index.ts'
import { configFromEnv } from '../config/index.ts'
import {
  createGitHubFixture,
  createTestVault,
  DOUBLE_FILE,
  type GitHubDouble,
  type GitHubFixture,
  type TestVault,
} from '../testing/index.ts'
import { GITHUB_TOKEN_SECRET } from './index.ts'

let fixture: GitHubFixture
let tokens: GitHubFixture['tokens']
let vault: TestVault
let github: GitHubDouble
let app: EdgePluginApp
// Every response body, for the check that the GitHub token is in none of them.
const bodies: string[] = []

beforeAll(async () => {
  fixture = await createGitHubFixture()
  ;({ tokens, vault, github } = fixture)
  app = createApp({ client: vault.client, config: configFromEnv({ GITHUB_API_URL: github.url }) })
})
afterAll(() => fixture?.cleanup())

async function call(method: string, path: string, body?: unknown) {
  const response = await app.request(`/chatgpt-plugin${path}`, {
    method,
    headers: {
      authorization: `Bearer ${tokens.bearer}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  })
  const text = await response.text()
  bodies.push(text, JSON.stringify([...response.headers]))
  return { status: response.status, headers: response.headers, body: JSON.parse(text) }
}

const last = () => github.requests.at(-1)

describe('GitHub operations', () => {
  it('lists the repositories with the vault token', async () => {
    const { status, body } = await call('GET', '/github/repos?per_page=5')
    expect(status).toBe(200)
    expect(body.repositories).toEqual([
      expect.objectContaining({ full_name: 'octocat/hello-world', default_branch: 'main' }),
    ])
    expect(last()).toMatchObject({ method: 'GET', path: '/user/repos?per_page=5&page=1' })
    expect(last()?.headers.authorization).toBe(`token ${tokens.github}`)
    expect(last()?.headers['user-agent']).toMatch(/^keywarden-edge-plugin\//)
  })

  it('reads a file and decodes its UTF-8 text', async () => {
    const { status, body } = await call(
      'GET',
      '/github/file?owner=octocat&repo=hello-world&path=README.md&ref=main',
    )
    expect(status).toBe(200)
    expect(body).toMatchObject({
      path: 'README.md',
      encoding: 'utf-8',
      content: DOUBLE_FILE,
      sha: 'a'.repeat(40),
    })
    expect(last()?.path).toBe('/repos/octocat/hello-world/contents/README.md?ref=main')
  })

  it('answers 404 for a missing file and 400 for a directory', async () => {
    const missing = await call('GET', '/github/file?owner=octocat&repo=hello-world&path=nope.md')
    expect(missing.status).toBe(404)
    expect(missing.body).toEqual({
      error: { code: 'GITHUB_NOT_FOUND', message: 'GitHub answered 404: Not Found' },
    })
    const directory = await call('GET', '/github/file?owner=octocat&repo=hello-world&path=docs')
    expect(directory.status).toBe(400)
    expect(directory.body.error.code).toBe('NOT_A_FILE')
  })

  it('creates or updates a file, sending its content as base64', async () => {
    const content = 'line one\nnaïve ✓\n'
    const created = await call('PUT', '/github/file', {
      owner: 'octocat',
      repo: 'hello-world',
      path: 'notes/today.md',
      content,
      message: 'Add notes',
      branch: 'feature/notes',
    })
    expect(created.status).toBe(200)
    expect(created.body).toEqual({
      path: 'notes/today.md',
      sha: 'b'.repeat(40),
      commit_sha: 'c'.repeat(40),
      html_url: 'https://github.com/octocat/hello-world/blob/main/notes/today.md',
    })
    expect(last()).toMatchObject({
      method: 'PUT',
      path: '/repos/octocat/hello-world/contents/notes/today.md',
      body: {
        message: 'Add notes',
        branch: 'feature/notes',
        content: Buffer.from(content).toString('base64'),
      },
    })
  })

  it('opens an issue and a pull request', async () => {
    const issue = await call('POST', '/github/issues', {
      owner: 'octocat',
      repo: 'hello-world',
      title: 'Rotate the token',
      labels: ['security'],
    })
    expect(issue.status).toBe(201)
    expect(issue.body).toEqual({
      number: 7,
      html_url: 'https://github.com/octocat/hello-world/issues/7',
      state: 'open',
    })
    expect(last()?.body).toEqual({ title: 'Rotate the token', labels: ['security'] })

    const pull = await call('POST', '/github/pulls', {
      owner: 'octocat',
      repo: 'hello-world',
      title: 'Notes',
      head: 'feature/notes',
      base: 'main',
      draft: true,
    })
    expect(pull.status).toBe(201)
    expect(pull.body).toMatchObject({ number: 8, draft: true })
  })

  it("maps GitHub's failures to clear answers", async () => {
    const invalid = await call('POST', '/github/pulls', {
      owner: 'octocat',
      repo: 'hello-world',
      title: 'Same branch',
      head: 'main',
      base: 'main',
    })
    expect(invalid.status).toBe(422)
    expect(invalid.body.error).toEqual({
      code: 'GITHUB_VALIDATION_FAILED',
      message: 'GitHub answered 422: Validation Failed',
    })

    // GitHub echoing the token in a message is not something it does; the plugin masks it anyway.
    github.failNext(403, `Resource not accessible by integration (${tokens.github})`)
    const forbidden = await call('GET', '/github/repos')
    expect(forbidden.status).toBe(403)
    expect(forbidden.body.error.message).toBe(
      `GitHub answered 403: Resource not accessible by integration ([REDACTED:${GITHUB_TOKEN_SECRET}])`,
    )

    // Nor in any other encoding a message could carry it in.
    for (const encoding of ENCODINGS) {
      github.failNext(403, `Denied for ${encodedText(encoding, tokens.github)}`)
      const echoed = await call('GET', '/github/repos')
      expect(echoed.body.error.message, encoding.name).toContain(
        `[REDACTED:${GITHUB_TOKEN_SECRET}]`,
      )
      expect(echoed.body.error.message.toLowerCase(), encoding.name).not.toContain(
        tokens.github.toLowerCase(),
      )
    }

    github.failNext(429, 'API rate limit exceeded', { 'retry-after': '30' })
    const limited = await call('GET', '/github/repos')
    expect(limited.status).toBe(429)
    expect(limited.headers.get('retry-after')).toBe('30')

    github.failNext(503, 'unavailable')
    const down = await call('GET', '/github/repos')
    expect(down.status).toBe(502)
    expect(down.body.error.code).toBe('GITHUB_UNAVAILABLE')
  })

  it('answers 502 when GitHub rejects the configured token, and when GitHub is unreachable', async () => {
    await vault.client.storeSecret(GITHUB_TOKEN_SECRET, 'ghp_revoked_token_000000000000000000')
    try {
      const rejected = await call('GET', '/github/repos')
      expect(rejected.status).toBe(502)
      expect(rejected.body.error).toEqual({
        code: 'GITHUB_TOKEN_REJECTED',
        message: 'GitHub rejected the configured github_token: Bad credentials',
      })
    } finally {
      await vault.client.storeSecret(GITHUB_TOKEN_SECRET, tokens.github)
    }
    const unreachable = createApp({
      client: vault.client,
      config: { githubApiUrl: 'http://127.0.0.1:1' },
    })
    const response = await unreachable.request('/chatgpt-plugin/github/repos', {
      headers: { authorization: `Bearer ${tokens.bearer}` },
    })
    expect(response.status).toBe(502)
    expect(await response.json()).toMatchObject({ error: { code: 'GITHUB_UNAVAILABLE' } })
  })

  it('refuses path traversal and bad names before GitHub sees them', async () => {
    const before = github.requests.length
    for (const path of [
      '../secrets',
      'a/../../b',
      '/etc/passwd',
      'a//b',
      'a\\..\\b',
      './a',
      'a/.',
      'a\u0000b',
      '',
    ]) {
      const read = await call(
        'GET',
        `/github/file?owner=octocat&repo=hello-world&path=${encodeURIComponent(path)}`,
      )
      expect(read.status, JSON.stringify(path)).toBe(400)
      expect(read.body.error.code).toBe('INVALID_REQUEST')
      const write = await call('PUT', '/github/file', {
        owner: 'octocat',
        repo: 'hello-world',
        path,
        content: 'x',
        message: 'x',
      })
      expect(write.status, JSON.stringify(path)).toBe(400)
    }
    for (const [owner, repo] of [
      ['..', 'x'],
      ['octocat', '..'],
      ['octo/cat', 'x'],
      ['octocat', 'a/b'],
    ]) {
      const read = await call(
        'GET',
        `/github/file?owner=${encodeURIComponent(owner ?? '')}&repo=${encodeURIComponent(repo ?? '')}&path=README.md`,
      )
      expect(read.status, `${owner}/${repo}`).toBe(400)
    }
    expect(github.requests.length).toBe(before)
  })

  it('answers 503 when no GitHub token is configured', async () => {
    const bare = await createTestVault({ secrets: { [BEARER_TOKEN_SECRET]: tokens.bearer } })
    try {
      const plain = createApp({ client: bare.client, config: { githubApiUrl: github.url } })
      const response = await plain.request('/chatgpt-plugin/github/repos', {
        headers: { authorization: `Bearer ${tokens.bearer}` },
      })
      expect(response.status).toBe(503)
      expect(await response.json()).toMatchObject({ error: { code: 'GITHUB_NOT_CONFIGURED' } })
    } finally {
      await bare.cleanup()
    }
  })
})

describe('the GitHub token', () => {
  it('reached GitHub on every call and appears in no response', () => {
    expect(github.requests.length).toBeGreaterThan(8)
    for (const request of github.requests) {
      expect([`token ${tokens.github}`, 'token ghp_revoked_token_000000000000000000']).toContain(
        request.headers.authorization,
      )
    }
    expect(bodies.length).toBeGreaterThan(20)
    for (const body of bodies) expect(body).not.toContain(tokens.github)
  })
})
