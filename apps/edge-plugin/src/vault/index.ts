/**
 * The vault routes: secrets' metadata (never values), what expires soon, and the audit log with
 * the CLI's filters. Listing is served from a short in-memory copy (`metadataCacheMs`), so a
 * GPT that lists on every turn does not cost a database round trip each time; it is dropped
 * whenever this plugin changes a secret (through its MCP endpoint).
 * @module
 */
import { createRoute, type OpenAPIHono, z } from '@hono/zod-openapi'
import {
  auditRecordJson,
  expiringSecretJson,
  KeywardenError,
  metadataPatchInput,
  SECRET_LIMITS,
  SECRET_NAME_PATTERN,
  SECRET_NAME_RULE,
  SECRET_TYPES,
  type SecretMetadata,
  type SecretType,
  secretMetadataJson,
  type VaultClient,
  validateSecretName,
} from '@keywarden/core'
import {
  auditRecordShape,
  expiringSecretShape,
  parseSince,
  secretMetadataShape,
} from '@keywarden/mcp-server'
import type { MiddlewareHandler } from 'hono'
import { errorResponses, PROTECTED_ERRORS } from '../errors/index.ts'
import { namedSchema } from '../schemas/index.ts'

/** A secret's metadata as the API shows it. */
export const SecretMetadataSchema = namedSchema(secretMetadataShape, 'SecretMetadata')

const ExpiringSecretSchema = namedSchema(expiringSecretShape, 'ExpiringSecret')

const AuditRecordSchema = namedSchema(auditRecordShape, 'AuditRecord')

// Checked by the handlers (validateSecretName), so that an invalid name is INVALID_NAME here
// as at every other door; the pattern is still declared for the OpenAPI document.
const NameParam = z.object({
  name: z.string().openapi({
    param: { name: 'name', in: 'path' },
    example: 'github_token',
    pattern: SECRET_NAME_PATTERN.source,
    description: `The secret name: ${SECRET_NAME_RULE}`,
  }),
})

/** The metadata `PATCH /secrets/{name}` may change: the MCP tool update_secret_metadata's. */
const MetadataPatch = z
  .strictObject({
    description: z
      .string()
      .max(SECRET_LIMITS.descriptionLength)
      .optional()
      .openapi({
        description: `What the secret is for (at most ${SECRET_LIMITS.descriptionLength} characters)`,
      }),
    type: z
      .enum(SECRET_TYPES as readonly [SecretType, ...SecretType[]])
      .optional()
      .openapi({ description: 'What the secret is; sets its default rotation interval' }),
    expires_at: z
      .string()
      .optional()
      .openapi({ description: 'When it expires: an ISO 8601 date in the future' }),
    rotation_interval_days: z
      .number()
      .int()
      .min(1)
      .max(SECRET_LIMITS.rotationIntervalDays)
      .optional()
      .openapi({ description: 'Days between rotations' }),
  })
  .openapi('SecretMetadataPatch')

/** A `true`/`false` query flag. */
const flag = z.enum(['true', 'false']).transform((value) => value === 'true')

/** The OpenAPI security of every bearer-protected route. */
export const security = [{ bearerAuth: [] }]

/** The listed metadata, kept for `ttlMs`, with one load shared by concurrent requests. */
export interface MetadataCache {
  list(): Promise<SecretMetadata[]>
  /** Drops the copy: the next list reads the vault. */
  clear(): void
}

/** Creates a {@link MetadataCache} over `client.listSecrets()`. */
export function createMetadataCache(
  client: VaultClient,
  ttlMs: number,
  now: () => number = Date.now,
): MetadataCache {
  let entry: { loaded: Promise<SecretMetadata[]>; until: number } | undefined
  return {
    list() {
      if (entry && now() < entry.until) return entry.loaded
      const loaded = client.listSecrets()
      const current = { loaded, until: Number.POSITIVE_INFINITY }
      entry = current
      // The TTL starts when the answer arrives; a failure is not kept.
      loaded.then(
        () => {
          current.until = now() + ttlMs
        },
        () => {
          if (entry === current) entry = undefined
        },
      )
      return loaded
    },
    clear() {
      entry = undefined
    },
  }
}

/** What the vault routes need. */
export interface VaultRouteDeps {
  client: VaultClient
  metadata: MetadataCache
  auth: MiddlewareHandler
}

/** Registers `/secrets`, `/secrets/expiring`, `/secrets/{name}` and `/audit`. */
export function registerVaultRoutes(app: OpenAPIHono, { client, metadata, auth }: VaultRouteDeps) {
  // The serialized listing of each list the metadata cache hands out, for as long as it does.
  const listings = new WeakMap<SecretMetadata[], string>()
  // One secret's metadata from the cached listing: a name the listing lacks is not found.
  const listed = async (name: string): Promise<SecretMetadata> => {
    const found = (await metadata.list()).find((secret) => secret.name === name)
    if (!found) {
      throw new KeywardenError('SECRET_NOT_FOUND', `secret ${name} is not in the vault`, {
        secretName: name,
      })
    }
    return found
  }

  app.openapi(
    createRoute({
      method: 'get',
      path: '/secrets',
      operationId: 'listSecrets',
      summary: 'List secrets',
      description:
        'Lists the secrets in the Keywarden vault with their metadata: type, version, dates, rotation and agent access. Never returns values.',
      security,
      middleware: [auth] as const,
      responses: {
        200: {
          description: 'The secrets, by name',
          content: {
            'application/json': {
              schema: z.object({ count: z.number().int(), secrets: z.array(SecretMetadataSchema) }),
            },
          },
        },
        ...errorResponses(...PROTECTED_ERRORS),
      },
    }),
    async (c) => {
      const list = await metadata.list()
      let body = listings.get(list)
      if (body === undefined) {
        const secrets = list.map(secretMetadataJson)
        body = JSON.stringify({ count: secrets.length, secrets })
        listings.set(list, body)
      }
      // The same serialized body for as long as the cache keeps the same list. `c.body` is not
      // a typed JSON response, hence the cast; the body is the 200 schema above.
      return c.body(body, 200, { 'content-type': 'application/json' }) as never
    },
  )

  // Before /secrets/{name}: the router tries routes in the order they were added.
  app.openapi(
    createRoute({
      method: 'get',
      path: '/secrets/expiring',
      operationId: 'checkExpiringSecrets',
      summary: 'Secrets expiring or due for rotation',
      description:
        'Secrets that expire or are due for rotation within the next `days` days (default 7), overdue ones included.',
      security,
      middleware: [auth] as const,
      request: {
        query: z.object({
          days: z.coerce
            .number()
            .int()
            .min(0)
            .max(3650)
            .default(7)
            .openapi({ param: { name: 'days', in: 'query' }, example: 7 }),
        }),
      },
      responses: {
        200: {
          description: 'The secrets that need attention',
          content: {
            'application/json': {
              schema: z.object({ days: z.number().int(), secrets: z.array(ExpiringSecretSchema) }),
            },
          },
        },
        ...errorResponses(...PROTECTED_ERRORS),
      },
    }),
    async (c) => {
      const { days } = c.req.valid('query')
      const secrets = (await client.checkExpiringSecrets(days)).map(expiringSecretJson)
      return c.json({ days, secrets }, 200)
    },
  )

  app.openapi(
    createRoute({
      method: 'get',
      path: '/secrets/{name}',
      operationId: 'getSecretMetadata',
      summary: "One secret's metadata",
      description:
        "One secret's metadata: type, version, dates, rotation, whether agents may read it and where it may be sent. Never the value.",
      security,
      middleware: [auth] as const,
      request: { params: NameParam },
      responses: {
        200: {
          description: 'The metadata',
          content: { 'application/json': { schema: SecretMetadataSchema } },
        },
        ...errorResponses(...PROTECTED_ERRORS, 404),
      },
    }),
    async (c) => {
      const name = validateSecretName(c.req.valid('param').name)
      return c.json(secretMetadataJson(await listed(name)), 200)
    },
  )

  app.openapi(
    createRoute({
      method: 'patch',
      path: '/secrets/{name}',
      operationId: 'updateSecretMetadata',
      // A write: ChatGPT asks before it calls it.
      'x-openai-isConsequential': true,
      summary: "Change a secret's metadata",
      description:
        "Changes a secret's description, type, expiry or rotation interval without its value (no new version). Agent visibility, hosts, commands and the protected mark are the user's (keywarden edit). Needs the door policy's write right for edge.",
      security,
      middleware: [auth] as const,
      request: {
        params: NameParam,
        body: { content: { 'application/json': { schema: MetadataPatch } }, required: true },
      },
      responses: {
        200: {
          description: 'The metadata after the change',
          content: { 'application/json': { schema: SecretMetadataSchema } },
        },
        ...errorResponses(...PROTECTED_ERRORS, 403, 404),
      },
    }),
    async (c) => {
      const name = validateSecretName(c.req.valid('param').name)
      try {
        await client.updateSecretMetadata(name, metadataPatchInput(c.req.valid('json')))
      } finally {
        metadata.clear()
      }
      return c.json(secretMetadataJson(await listed(name)), 200)
    },
  )

  app.openapi(
    createRoute({
      method: 'get',
      path: '/audit',
      operationId: 'queryAuditLog',
      summary: 'Query the audit log',
      description:
        'Who accessed which secret, how and when, newest first. Filters: secret name, failures only, since (90m, 24h, 30d or an ISO date), limit (default 100, at most 1000).',
      security,
      middleware: [auth] as const,
      request: {
        query: z.object({
          // Checked by queryAudit: an invalid name is INVALID_NAME, as at every door.
          secret: z
            .string()
            .optional()
            .openapi({
              param: { name: 'secret', in: 'query' },
              pattern: SECRET_NAME_PATTERN.source,
            }),
          failed: flag.optional().openapi({ param: { name: 'failed', in: 'query' } }),
          since: z
            .string()
            .max(64)
            .optional()
            .openapi({ param: { name: 'since', in: 'query' }, example: '24h' }),
          limit: z.coerce
            .number()
            .int()
            .min(1)
            .max(1000)
            .default(100)
            .openapi({ param: { name: 'limit', in: 'query' } }),
        }),
      },
      responses: {
        200: {
          description: 'The matching audit records',
          content: {
            'application/json': {
              schema: z.object({ count: z.number().int(), records: z.array(AuditRecordSchema) }),
            },
          },
        },
        ...errorResponses(...PROTECTED_ERRORS),
      },
    }),
    async (c) => {
      const { secret, failed, since, limit } = c.req.valid('query')
      const records = (
        await client.queryAudit({
          ...(secret === undefined ? {} : { secretName: secret }),
          ...(failed === undefined ? {} : { failedOnly: failed }),
          ...(since === undefined ? {} : { since: parseSince(since) }),
          limit,
        })
      ).map(auditRecordJson)
      return c.json({ count: records.length, records }, 200)
    },
  )
}
