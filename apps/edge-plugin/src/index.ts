/**
 * `@keywarden/edge-plugin`: the ChatGPT front door to a Keywarden vault — a Hono app with
 * bearer authentication, a CORS allowlist, an OpenAPI 3.1 document for GPT Actions, GitHub
 * operations with the vault-held token, and the MCP tools over Streamable HTTP.
 *
 * This root is runtime-neutral (Deno serves it on Supabase Edge Functions); the Node server is
 * at `@keywarden/edge-plugin/node`.
 * @module
 */
export {
  AUDIT_ACCESSOR,
  type CreateAppOptions,
  createApp,
  type EdgePluginApp,
} from './app/index.ts'
export {
  BEARER_TOKEN_SECRET,
  type ClientIdentifier,
  CRON_TOKEN_SECRET,
  constantTimeEqual,
  forwardedFor,
} from './auth/index.ts'
export {
  BASE_PATH,
  configFromEnv,
  DEFAULT_ALLOWED_ORIGINS,
  DEFAULT_CONFIG,
  type EdgePluginConfig,
} from './config/index.ts'
export { GITHUB_TOKEN_SECRET } from './github/index.ts'
