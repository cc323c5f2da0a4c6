/**
 * The GitHub routes: read a file, create or update a file, open an issue, open a pull request,
 * list the user's repositories. Inputs are checked before GitHub sees them: owner and
 * repository names as GitHub allows them, and file paths without `..`, `.`, empty or absolute
 * segments, so a path cannot step outside the repository's tree.
 * @module
 */
import { createRoute, type OpenAPIHono, z } from '@hono/zod-openapi'
import type { MiddlewareHandler } from 'hono'
import { errorResponses, PROTECTED_ERRORS } from '../errors/index.ts'
import type { GitHub } from './client.ts'

export { createGitHub, GITHUB_TOKEN_SECRET, type GitHub, type GitHubOptions } from './client.ts'

const security = [{ bearerAuth: [] }]

/** Control characters, which no path or ref needs. */
const CONTROL = /\p{Cc}/u

const owner = z
  .string()
  .regex(/^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})$/, 'a GitHub user or organization name')
  .openapi({ example: 'octocat' })
const repo = z
  .string()
  .regex(/^[A-Za-z0-9._-]{1,100}$/, 'a repository name')
  .refine((name) => name !== '.' && name !== '..', 'a repository name')
  .openapi({ example: 'hello-world' })

/** A path inside a repository: relative, no `.`/`..`/empty segments, no backslashes or controls. */
export const RepositoryPath = z
  .string()
  .min(1)
  .max(1024)
  .refine(
    (path) =>
      !path.includes('\\') &&
      !CONTROL.test(path) &&
      path.split('/').every((segment) => segment !== '' && segment !== '.' && segment !== '..'),
    'a relative path inside the repository, without ., .. or empty segments',
  )
  .openapi({ example: 'docs/README.md' })

/** A branch, tag or commit name: git's rules, in short. */
const gitRef = z
  .string()
  .min(1)
  .max(255)
  .regex(/^(?!\/|.*\.\.|.*\/\/|.*\/$)[^\s~^:?*[\\]+$/, 'a branch, tag or commit')
  .refine((ref) => !CONTROL.test(ref), 'a branch, tag or commit')

/** What an issue and a pull request both have. */
const issueFields = {
  owner,
  repo,
  title: z.string().min(1).max(256),
  body: z.string().max(65_536).optional(),
}

const WRITE = { 'x-openai-isConsequential': true } as const
const READ = { 'x-openai-isConsequential': false } as const

const json = <T extends z.ZodType>(schema: T) => ({ content: { 'application/json': { schema } } })

/** Registers the `/github/...` routes. */
export function registerGitHubRoutes(
  app: OpenAPIHono,
  { github, auth }: { github: GitHub; auth: MiddlewareHandler },
) {
  const errors = errorResponses(...PROTECTED_ERRORS, 403, 404, 409, 422, 502)

  app.openapi(
    createRoute({
      method: 'get',
      path: '/github/repos',
      operationId: 'listRepositories',
      summary: "List the user's repositories",
      description:
        'Repositories the configured GitHub token can see, most recently updated first, one page at a time.',
      security,
      middleware: [auth] as const,
      ...READ,
      request: {
        query: z.object({
          per_page: z.coerce.number().int().min(1).max(100).default(30),
          page: z.coerce.number().int().min(1).max(1000).default(1),
        }),
      },
      responses: {
        200: {
          description: 'The repositories',
          ...json(
            z.object({
              repositories: z.array(
                z.object({
                  full_name: z.string(),
                  private: z.boolean(),
                  description: z.string().nullable(),
                  default_branch: z.string(),
                  html_url: z.string(),
                }),
              ),
            }),
          ),
        },
        ...errors,
      },
    }),
    async (c) => c.json({ repositories: await github.listRepositories(c.req.valid('query')) }, 200),
  )

  app.openapi(
    createRoute({
      method: 'get',
      path: '/github/file',
      operationId: 'readFile',
      summary: 'Read a file from a repository',
      description:
        'Reads one file: UTF-8 text as is, anything else as base64. Give ref for a branch, tag or commit other than the default branch.',
      security,
      middleware: [auth] as const,
      ...READ,
      request: {
        query: z.object({ owner, repo, path: RepositoryPath, ref: gitRef.optional() }),
      },
      responses: {
        200: {
          description: 'The file',
          ...json(
            z.object({
              path: z.string(),
              sha: z.string(),
              size: z.number().int(),
              encoding: z.enum(['utf-8', 'base64']),
              content: z.string(),
              html_url: z.string().nullable(),
            }),
          ),
        },
        ...errors,
      },
    }),
    async (c) => c.json(await github.readFile(c.req.valid('query')), 200),
  )

  app.openapi(
    createRoute({
      method: 'put',
      path: '/github/file',
      operationId: 'writeFile',
      summary: 'Create or update a file',
      description:
        'Commits one file with the given UTF-8 content. Updating an existing file needs its current sha (from readFile). Pushes to the default branch unless branch is given.',
      security,
      middleware: [auth] as const,
      ...WRITE,
      request: {
        body: {
          required: true,
          ...json(
            z.object({
              owner,
              repo,
              path: RepositoryPath,
              content: z.string().max(512 * 1024),
              message: z.string().min(1).max(4096),
              branch: gitRef.optional(),
              sha: z
                .string()
                .regex(/^[0-9a-f]{40}$/)
                .optional(),
            }),
          ),
        },
      },
      responses: {
        200: {
          description: 'The commit',
          ...json(
            z.object({
              path: z.string(),
              sha: z.string(),
              commit_sha: z.string(),
              html_url: z.string().nullable(),
            }),
          ),
        },
        ...errors,
      },
    }),
    async (c) => c.json(await github.writeFile(c.req.valid('json')), 200),
  )

  app.openapi(
    createRoute({
      method: 'post',
      path: '/github/issues',
      operationId: 'createIssue',
      summary: 'Open an issue',
      description: 'Opens an issue in a repository, with an optional body and labels.',
      security,
      middleware: [auth] as const,
      ...WRITE,
      request: {
        body: {
          required: true,
          ...json(
            z.object({
              ...issueFields,
              labels: z.array(z.string().min(1).max(50)).max(20).optional(),
            }),
          ),
        },
      },
      responses: {
        201: {
          description: 'The new issue',
          ...json(z.object({ number: z.number().int(), html_url: z.string(), state: z.string() })),
        },
        ...errors,
      },
    }),
    async (c) => c.json(await github.createIssue(c.req.valid('json')), 201),
  )

  app.openapi(
    createRoute({
      method: 'post',
      path: '/github/pulls',
      operationId: 'createPullRequest',
      summary: 'Open a pull request',
      description: 'Opens a pull request from head into base, optionally as a draft.',
      security,
      middleware: [auth] as const,
      ...WRITE,
      request: {
        body: {
          required: true,
          ...json(
            z.object({
              ...issueFields,
              head: z.string().min(1).max(255),
              base: gitRef,
              draft: z.boolean().optional(),
            }),
          ),
        },
      },
      responses: {
        201: {
          description: 'The new pull request',
          ...json(
            z.object({
              number: z.number().int(),
              html_url: z.string(),
              state: z.string(),
              draft: z.boolean(),
            }),
          ),
        },
        ...errors,
      },
    }),
    async (c) => c.json(await github.createPullRequest(c.req.valid('json')), 201),
  )
}
