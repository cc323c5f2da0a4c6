/**
 * Test-only: a real vault for the plugin's tests and a local double of the GitHub REST
 * endpoints the plugin calls. Nothing here is part of the package build.
 */
import { createServer, type IncomingHttpHeaders } from 'node:http'
import type { AddressInfo } from 'node:net'
import {
  createVaultClient,
  type Environment,
  type VaultClient,
} from '../../../../packages/core/src/index.ts'
import {
  createPostgresTestDatabase,
  type PostgresTestDatabase,
} from '../../../../packages/core/src/testing/databases.ts'
import { AUDIT_ACCESSOR } from '../app/index.ts'

/** A bearer token and a GitHub token with the shapes real ones have, unique per call. */
export function testTokens() {
  const random = () => crypto.randomUUID().replaceAll('-', '')
  return { bearer: `kwp_${random()}`, github: `ghp_${random().slice(0, 36)}` }
}

/** A vault client on a fresh migrated database, as the plugin would use it. */
export interface TestVault {
  client: VaultClient
  database: PostgresTestDatabase
  /** The environment given to the client (its env fallback tier). */
  env: Environment
  /** Closes the client and drops the database. */
  cleanup(): Promise<void>
}

/**
 * Creates a {@link TestVault}. `secrets` are stored in the vault; `env` is the client's whole
 * environment besides the database settings, so nothing leaks in from the test process.
 */
export async function createTestVault(
  options: { secrets?: Record<string, string>; env?: Environment } = {},
): Promise<TestVault> {
  const database = await createPostgresTestDatabase()
  const env = {
    KEYWARDEN_DATABASE_URL: database.url,
    KEYWARDEN_ROOT_KEY: database.rootKey,
    ...options.env,
  }
  const client = createVaultClient({ env, accessedBy: AUDIT_ACCESSOR })
  for (const [name, value] of Object.entries(options.secrets ?? {})) {
    await client.storeSecret(name, value)
  }
  return {
    client,
    database,
    env,
    async cleanup() {
      await client.close()
      await database.drop()
    },
  }
}

/** A request the GitHub double received. */
export interface RecordedRequest {
  method: string
  path: string
  headers: IncomingHttpHeaders
  body: unknown
}

/** A local HTTP double of the GitHub REST endpoints the plugin uses. */
export interface GitHubDouble {
  /** The API root to give the plugin as `GITHUB_API_URL`. */
  url: string
  /** Every request received, in order. */
  requests: RecordedRequest[]
  /** Answers the next request with this status and GitHub-style message, once. */
  failNext(status: number, message: string, headers?: Record<string, string>): void
  close(): Promise<void>
}

/** The file the double serves at `README.md`. */
export const DOUBLE_FILE = 'Hello from the double — ünïcode\n'

type Answer = (params: string[], body: Record<string, unknown>) => [number, unknown]

const NOT_FOUND: [number, unknown] = [404, { message: 'Not Found', status: '404' }]

/** The endpoints the plugin calls, answered with GitHub's shapes cut to the fields it reads. */
const routes: Array<[RegExp, Answer]> = [
  [
    /^GET \/user\/repos$/,
    () => [
      200,
      [
        {
          full_name: 'octocat/hello-world',
          private: false,
          description: 'My first repository',
          default_branch: 'main',
          html_url: 'https://github.com/octocat/hello-world',
        },
      ],
    ],
  ],
  [
    /^GET \/repos\/([^/]+)\/([^/]+)\/contents\/(.+)$/,
    ([owner, repo, path]) => {
      if (path === 'docs') return [200, [{ type: 'file', name: 'a.md', path: 'docs/a.md' }]]
      if (path !== 'README.md') return NOT_FOUND
      return [
        200,
        {
          type: 'file',
          path,
          sha: 'a'.repeat(40),
          size: Buffer.byteLength(DOUBLE_FILE),
          encoding: 'base64',
          // GitHub wraps its base64 in lines of 60 characters.
          content: Buffer.from(DOUBLE_FILE)
            .toString('base64')
            .replace(/(.{60})/g, '$1\n'),
          html_url: `https://github.com/${owner}/${repo}/blob/main/${path}`,
        },
      ]
    },
  ],
  [
    /^PUT \/repos\/([^/]+)\/([^/]+)\/contents\/(.+)$/,
    ([owner, repo, path], body) => [
      body.sha ? 200 : 201,
      {
        content: {
          path,
          sha: 'b'.repeat(40),
          html_url: `https://github.com/${owner}/${repo}/blob/main/${path}`,
        },
        commit: { sha: 'c'.repeat(40) },
      },
    ],
  ],
  [
    /^POST \/repos\/([^/]+)\/([^/]+)\/issues$/,
    ([owner, repo]) => [
      201,
      { number: 7, html_url: `https://github.com/${owner}/${repo}/issues/7`, state: 'open' },
    ],
  ],
  [
    /^POST \/repos\/([^/]+)\/([^/]+)\/pulls$/,
    ([owner, repo], body) =>
      body.head === body.base
        ? [422, { message: 'Validation Failed', status: '422' }]
        : [
            201,
            {
              number: 8,
              html_url: `https://github.com/${owner}/${repo}/pull/8`,
              state: 'open',
              draft: body.draft === true,
            },
          ],
  ],
]

/**
 * Starts the double. It accepts only `token` (the expected GitHub token) and otherwise answers
 * as GitHub does: 401 `Bad credentials`.
 */
export async function startGitHubDouble(token: string): Promise<GitHubDouble> {
  const requests: RecordedRequest[] = []
  let failure: { status: number; message: string; headers: Record<string, string> } | undefined
  const server = createServer(async (request, response) => {
    const chunks: Buffer[] = []
    for await (const chunk of request) chunks.push(chunk as Buffer)
    const text = Buffer.concat(chunks).toString('utf8')
    const url = new URL(request.url ?? '/', 'http://double')
    const method = request.method ?? 'GET'
    requests.push({
      method,
      path: decodeURIComponent(url.pathname) + url.search,
      headers: request.headers,
      body: text ? JSON.parse(text) : undefined,
    })
    const send = (status: number, body: unknown, headers: Record<string, string> = {}) => {
      response.writeHead(status, { 'content-type': 'application/json', ...headers })
      response.end(JSON.stringify(body))
    }
    const authorization = request.headers.authorization ?? ''
    if (authorization !== `token ${token}` && authorization !== `bearer ${token}`) {
      send(401, { message: 'Bad credentials', status: '401' })
      return
    }
    if (failure) {
      const { status, message, headers } = failure
      failure = undefined
      send(status, { message, status: String(status) }, headers)
      return
    }
    const body = (text ? JSON.parse(text) : {}) as Record<string, unknown>
    for (const [pattern, answer] of routes) {
      const match = pattern.exec(`${method} ${url.pathname}`)
      if (match) {
        const [status, payload] = answer(match.slice(1).map(decodeURIComponent), body)
        send(status, payload)
        return
      }
    }
    send(404, { message: 'Not Found', status: '404' })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    failNext(status, message, headers = {}) {
      failure = { status, message, headers }
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections()
        server.close((error) => (error ? reject(error) : resolve()))
      }),
  }
}

/** A vault with both tokens, the GitHub double accepting its GitHub token, and both tokens. */
export interface GitHubFixture {
  tokens: ReturnType<typeof testTokens>
  vault: TestVault
  github: GitHubDouble
  /** Closes the double and the vault. */
  cleanup(): Promise<void>
}

/** Creates a {@link GitHubFixture}: the setup of every suite that reaches GitHub. */
export async function createGitHubFixture(): Promise<GitHubFixture> {
  const tokens = testTokens()
  const vault = await createTestVault({
    secrets: { plugin_bearer_token: tokens.bearer, github_token: tokens.github },
  })
  const github = await startGitHubDouble(tokens.github)
  return {
    tokens,
    vault,
    github,
    async cleanup() {
      await github.close()
      await vault.cleanup()
    },
  }
}
