/**
 * The public routes: `/health` (for monitoring and the migration check, with no names and no
 * values), the OpenAPI 3.1 document a GPT Action imports, and the legacy plugin manifest.
 * @module
 */
import { createRoute, type OpenAPIHono, z } from '@hono/zod-openapi'
import { KeywardenError, type VaultClient } from '@keywarden/core'
import { BASE_PATH, type EdgePluginConfig } from '../config/index.ts'

const HealthSchema = z
  .object({
    status: z.enum(['ok', 'degraded']),
    secret_source: z.enum(['vault', 'env', 'none']),
    version: z.string(),
    cache: z.object({
      hits: z.number().int(),
      misses: z.number().int(),
      size: z.number().int(),
      ttl_ms: z.number().int(),
    }),
  })
  .openapi('Health')

const ManifestSchema = z.object({
  schema_version: z.literal('v1'),
  name_for_human: z.string(),
  name_for_model: z.string(),
  description_for_human: z.string(),
  description_for_model: z.string(),
  auth: z.object({
    type: z.literal('service_http'),
    authorization_type: z.literal('bearer'),
    verification_tokens: z.object({ openai: z.string() }),
  }),
  api: z.object({ type: z.literal('openapi'), url: z.string() }),
  logo_url: z.string(),
  contact_email: z.string(),
  legal_info_url: z.string(),
})

const DESCRIPTION =
  'Keywarden keeps secrets in an encrypted vault. Through it you can list secrets and their metadata (never values), see what expires soon, read the audit log, and act on GitHub with the vault-held token without ever seeing it.'

/**
 * Checks a configured public URL (`PLUGIN_PUBLIC_URL`, or the one derived from
 * `SUPABASE_URL`) and returns it without a trailing slash: an absolute `https://` URL, or
 * `http://` only for a loopback host (local development), with no credentials, query or
 * fragment. Anything else is a `CONFIGURATION_ERROR`: a GPT Action would send the bearer
 * token wherever this points.
 */
export function checkPublicUrl(text: string): string {
  let url: URL
  try {
    url = new URL(text)
  } catch {
    throw new KeywardenError('CONFIGURATION_ERROR', 'PLUGIN_PUBLIC_URL must be an absolute URL')
  }
  // The URL parser has normalized the host: a loopback IPv4 is exactly 127.x.y.z.
  const loopback =
    ['localhost', '[::1]'].includes(url.hostname) || /^127(?:\.\d{1,3}){3}$/.test(url.hostname)
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && loopback)) {
    throw new KeywardenError(
      'CONFIGURATION_ERROR',
      'PLUGIN_PUBLIC_URL must be an https:// URL (http:// only for localhost)',
    )
  }
  if (url.username || url.password || url.search || url.hash) {
    throw new KeywardenError(
      'CONFIGURATION_ERROR',
      'PLUGIN_PUBLIC_URL must not hold credentials, a query or a fragment',
    )
  }
  return `${url.origin}${url.pathname.replace(/\/+$/, '')}`
}

/**
 * The server URL the documents name: the configured public URL, else the base path alone — a
 * relative URL, resolved by the client against the document's own address. Never derived from
 * the request: its `Host` (or `X-Forwarded-Host`) header is whatever the sender wrote, and a
 * document naming it would send a GPT Action's bearer token to that host.
 */
export function serverUrl(config: EdgePluginConfig): string {
  return config.publicUrl === undefined ? BASE_PATH : checkPublicUrl(config.publicUrl)
}

/** Registers `/health`, `/openapi.json` and `/.well-known/ai-plugin.json`. */
export function registerMetaRoutes(
  app: OpenAPIHono,
  { client, config }: { client: VaultClient; config: EdgePluginConfig },
) {
  // Checked once, here: a bad PLUGIN_PUBLIC_URL stops the app at start, not at first use.
  const base = serverUrl(config)
  app.openapi(
    createRoute({
      method: 'get',
      path: '/health',
      operationId: 'health',
      summary: 'Health',
      description:
        'Whether the plugin can serve secrets and from which tier: the vault, environment secrets only, or none. No names, no values; no authentication.',
      security: [],
      responses: {
        200: {
          description: 'The health report',
          content: { 'application/json': { schema: HealthSchema } },
        },
      },
    }),
    async (c) => {
      const health = await client.health()
      return c.json(
        {
          status: health.secret_source === 'none' ? ('degraded' as const) : ('ok' as const),
          secret_source: health.secret_source,
          version: config.version,
          cache: {
            hits: health.cache.hits,
            misses: health.cache.misses,
            size: health.cache.size,
            ttl_ms: health.cache.ttl_ms,
          },
        },
        200,
      )
    },
  )

  app.openapi(
    createRoute({
      method: 'get',
      path: '/openapi.json',
      operationId: 'openapi',
      summary: 'This OpenAPI document',
      description: 'The OpenAPI 3.1 document of this API, for a GPT Action. No authentication.',
      security: [],
      responses: {
        200: {
          description: 'The OpenAPI 3.1 document',
          content: { 'application/json': { schema: z.record(z.string(), z.unknown()) } },
        },
      },
    }),
    (c) => c.json(openApiDocument(app, config, base), 200),
  )

  app.openapi(
    createRoute({
      method: 'get',
      path: '/.well-known/ai-plugin.json',
      operationId: 'pluginManifest',
      summary: 'Legacy plugin manifest',
      description:
        "ChatGPT's legacy plugin manifest (service_http bearer authentication), pointing at openapi.json. No authentication.",
      security: [],
      responses: {
        200: {
          description: 'The manifest',
          content: { 'application/json': { schema: ManifestSchema } },
        },
      },
    }),
    (c) => {
      return c.json(
        {
          schema_version: 'v1' as const,
          name_for_human: 'Keywarden',
          name_for_model: 'keywarden',
          description_for_human: 'Your secrets vault: metadata, expiry, audit, and GitHub actions.',
          description_for_model: DESCRIPTION,
          auth: {
            type: 'service_http' as const,
            authorization_type: 'bearer' as const,
            verification_tokens: { openai: config.openaiVerificationToken ?? '' },
          },
          api: { type: 'openapi' as const, url: `${base}/openapi.json` },
          // Required fields the legacy format has no use for here: left empty, not invented.
          logo_url: '',
          contact_email: '',
          legal_info_url: '',
        },
        200,
      )
    },
  )
}

/** The OpenAPI 3.1 document of `app`, with `serverUrl` as its only server. */
export function openApiDocument(app: OpenAPIHono, config: EdgePluginConfig, serverUrl: string) {
  const document = app.getOpenAPI31Document({
    openapi: '3.1.0',
    info: { title: 'Keywarden', version: config.version, description: DESCRIPTION },
    servers: [{ url: serverUrl }],
    security: [{ bearerAuth: [] }],
  })
  // The app's routes carry the base path; the server URL ends with it, so paths drop it (where
  // the function is deployed, a proxy may map another prefix to it).
  document.paths = Object.fromEntries(
    Object.entries(document.paths ?? {}).map(([path, item]) => [
      path.startsWith(`${BASE_PATH}/`) ? path.slice(BASE_PATH.length) : path,
      item,
    ]),
  )
  return document
}
