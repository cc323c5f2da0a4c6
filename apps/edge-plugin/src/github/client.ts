/**
 * GitHub operations for ChatGPT through Octokit, with the vault-backed `github_token`.
 *
 * The token is read per request through the vault client (a cache hit after the first), so a
 * rotation reaches the plugin with the cache. It goes to GitHub in the Authorization header and
 * nowhere else: GitHub's error messages are passed through the core's redactor before they are
 * shown, and Octokit's own errors (which carry the request) are never shown at all.
 * @module
 */
import { isKeywardenError, redact, type VaultClient } from '@keywarden/core'
import { Octokit } from '@octokit/rest'
import { ApiError } from '../errors/index.ts'

/** The vault secret GitHub operations use; its environment fallback is `GITHUB_TOKEN`. */
export const GITHUB_TOKEN_SECRET = 'github_token'

/** A repository: owner and name as GitHub allows them. */
export interface RepositoryRef {
  owner: string
  repo: string
}

/** A file's content, decoded when it is UTF-8 text. */
export interface FileContent {
  path: string
  sha: string
  size: number
  encoding: 'utf-8' | 'base64'
  content: string
  html_url: string | null
}

/** Options for {@link createGitHub}. */
export interface GitHubOptions {
  client: VaultClient
  /** The REST API root, e.g. `https://api.github.com` or a GitHub Enterprise `/api/v3`. */
  baseUrl: string
  userAgent: string
}

/** The operations the plugin offers, each a single GitHub call. */
export interface GitHub {
  readFile(input: RepositoryRef & { path: string; ref?: string }): Promise<FileContent>
  writeFile(
    input: RepositoryRef & {
      path: string
      content: string
      message: string
      branch?: string
      sha?: string
    },
  ): Promise<{ path: string; sha: string; commit_sha: string; html_url: string | null }>
  createIssue(
    input: RepositoryRef & { title: string; body?: string; labels?: string[] },
  ): Promise<{ number: number; html_url: string; state: string }>
  createPullRequest(
    input: RepositoryRef & {
      title: string
      head: string
      base: string
      body?: string
      draft?: boolean
    },
  ): Promise<{ number: number; html_url: string; state: string; draft: boolean }>
  listRepositories(input: { per_page: number; page: number }): Promise<
    Array<{
      full_name: string
      private: boolean
      description: string | null
      default_branch: string
      html_url: string
    }>
  >
}

/** Creates the GitHub operations over `client`'s `github_token`. */
export function createGitHub(options: GitHubOptions): GitHub {
  const call = async <T>(work: (octokit: Octokit) => Promise<T>): Promise<T> => {
    const token = await githubToken(options.client)
    const octokit = new Octokit({
      auth: token,
      baseUrl: options.baseUrl,
      userAgent: options.userAgent,
      // Octokit's request log would print URLs and statuses; the plugin keeps no logs.
      log: { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} },
    })
    try {
      return await work(octokit)
    } catch (error) {
      throw githubError(error, token)
    }
  }

  return {
    readFile: ({ owner, repo, path, ref }) =>
      call(async (octokit) => {
        const { data } = await octokit.rest.repos.getContent({
          owner,
          repo,
          path,
          ...(ref ? { ref } : {}),
        })
        if (Array.isArray(data) || data.type !== 'file' || !('content' in data)) {
          throw new ApiError(400, 'NOT_A_FILE', `${path} is not a file`)
        }
        return {
          ...decodeContent(data.content),
          path: data.path,
          sha: data.sha,
          size: data.size,
          html_url: data.html_url,
        }
      }),

    writeFile: ({ owner, repo, path, content, message, branch, sha }) =>
      call(async (octokit) => {
        const { data } = await octokit.rest.repos.createOrUpdateFileContents({
          owner,
          repo,
          path,
          message,
          content: encodeBase64(content),
          ...(branch ? { branch } : {}),
          ...(sha ? { sha } : {}),
        })
        return {
          path: data.content?.path ?? path,
          sha: data.content?.sha ?? '',
          commit_sha: data.commit.sha ?? '',
          html_url: data.content?.html_url ?? null,
        }
      }),

    createIssue: ({ owner, repo, title, body, labels }) =>
      call(async (octokit) => {
        const { data } = await octokit.rest.issues.create({
          owner,
          repo,
          title,
          ...(body === undefined ? {} : { body }),
          ...(labels === undefined ? {} : { labels }),
        })
        return { number: data.number, html_url: data.html_url, state: data.state }
      }),

    createPullRequest: ({ owner, repo, title, head, base, body, draft }) =>
      call(async (octokit) => {
        const { data } = await octokit.rest.pulls.create({
          owner,
          repo,
          title,
          head,
          base,
          ...(body === undefined ? {} : { body }),
          ...(draft === undefined ? {} : { draft }),
        })
        return {
          number: data.number,
          html_url: data.html_url,
          state: data.state,
          draft: data.draft ?? false,
        }
      }),

    listRepositories: ({ per_page, page }) =>
      call(async (octokit) => {
        const { data } = await octokit.rest.repos.listForAuthenticatedUser({ per_page, page })
        return data.map((repository) => ({
          full_name: repository.full_name,
          private: repository.private,
          description: repository.description,
          default_branch: repository.default_branch,
          html_url: repository.html_url,
        }))
      }),
  }
}

async function githubToken(client: VaultClient): Promise<string> {
  try {
    return (await client.getSecret(GITHUB_TOKEN_SECRET)).value
  } catch (error) {
    if (isKeywardenError(error, 'SECRET_NOT_FOUND')) {
      throw new ApiError(
        503,
        'GITHUB_NOT_CONFIGURED',
        `GitHub is not configured: store ${GITHUB_TOKEN_SECRET} in the vault or set GITHUB_TOKEN`,
      )
    }
    throw error
  }
}

/**
 * Maps what Octokit threw to an answer: GitHub's client errors keep their status (404, 409,
 * 422, 403, 429), a rejected token is the deployment's problem (502), and GitHub being down or
 * unreachable is 502. GitHub's message is shown redacted; Octokit's is not shown.
 */
export function githubError(error: unknown, token: string): unknown {
  if (error instanceof ApiError || isKeywardenError(error)) return error
  const status = (error as { status?: unknown }).status
  if (typeof status !== 'number') {
    return new ApiError(502, 'GITHUB_UNAVAILABLE', 'GitHub could not be reached')
  }
  const data = (error as { response?: { data?: unknown } }).response?.data
  const said =
    typeof data === 'object' &&
    data !== null &&
    typeof (data as { message?: unknown }).message === 'string'
      ? redact((data as { message: string }).message, [
          { name: GITHUB_TOKEN_SECRET, value: token },
        ]).slice(0, 300)
      : ''
  const detail = said ? `: ${said}` : ''
  if (status === 401) {
    return new ApiError(
      502,
      'GITHUB_TOKEN_REJECTED',
      `GitHub rejected the configured ${GITHUB_TOKEN_SECRET}${detail}`,
    )
  }
  if ([403, 404, 409, 422, 429].includes(status)) {
    const code = {
      403: 'GITHUB_FORBIDDEN',
      404: 'GITHUB_NOT_FOUND',
      409: 'GITHUB_CONFLICT',
      422: 'GITHUB_VALIDATION_FAILED',
      429: 'GITHUB_RATE_LIMITED',
    }[status as 403]
    const retryAfter = (error as { response?: { headers?: Record<string, string | undefined> } })
      .response?.headers?.['retry-after']
    return new ApiError(
      status as 404,
      code,
      `GitHub answered ${status}${detail}`,
      retryAfter ? { 'Retry-After': retryAfter } : {},
    )
  }
  if (status >= 400 && status < 500) {
    return new ApiError(400, 'GITHUB_REQUEST_FAILED', `GitHub answered ${status}${detail}`)
  }
  return new ApiError(502, 'GITHUB_UNAVAILABLE', `GitHub failed (${status})`)
}

const utf8Decoder = new TextDecoder('utf-8', { fatal: true })
const utf8Encoder = new TextEncoder()

/** GitHub's base64 (with line breaks) as UTF-8 text when it is text, else as base64. */
function decodeContent(base64: string): Pick<FileContent, 'encoding' | 'content'> {
  const compact = base64.replace(/\s/g, '')
  const bytes = Uint8Array.from(atob(compact), (char) => char.charCodeAt(0))
  try {
    return { encoding: 'utf-8', content: utf8Decoder.decode(bytes) }
  } catch {
    return { encoding: 'base64', content: compact }
  }
}

/** UTF-8 text as base64, without Node's Buffer. */
function encodeBase64(text: string): string {
  const bytes = utf8Encoder.encode(text)
  let binary = ''
  // In chunks: String.fromCharCode takes its bytes as arguments, and arguments are bounded.
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000))
  }
  return btoa(binary)
}
