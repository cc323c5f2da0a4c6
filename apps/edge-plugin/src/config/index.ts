/**
 * The edge plugin's settings, from explicit options or from the environment (Edge Function
 * secrets and process env alike). Runtime-neutral.
 * @module
 */
import { type Environment, KeywardenError } from '@keywarden/core'

/** Where Supabase routes the function: it strips `/functions/v1` and keeps the function name. */
export const BASE_PATH = '/chatgpt-plugin'

/** The origins ChatGPT calls actions from. */
export const DEFAULT_ALLOWED_ORIGINS: readonly string[] = [
  'https://chatgpt.com',
  'https://chat.openai.com',
]

/** The settings {@link createApp} takes; {@link configFromEnv} fills them from an environment. */
export interface EdgePluginConfig {
  /** Origins that get CORS headers. Default {@link DEFAULT_ALLOWED_ORIGINS}. */
  allowedOrigins: readonly string[]
  /** The plugin's version, reported by `/health` and the OpenAPI document. */
  version: string
  /** The GitHub REST API root Octokit calls. Default `https://api.github.com`. */
  githubApiUrl: string
  /**
   * The public URL of the base path, as clients reach it (the OpenAPI `servers` entry and the
   * manifest's links). Default: derived from each request.
   */
  publicUrl?: string
  /** Largest request body in bytes; larger ones get 413. Default 1 MiB. */
  maxBodyBytes: number
  /**
   * Failed authentications a client (an address, or an IPv6 /64) may make per window before it
   * gets 429. Default 5.
   */
  maxAuthFailures: number
  /**
   * Failed authentications from all clients together per window before *every* client gets
   * 429 (so rotating addresses buys no more guesses). Default 100.
   */
  maxGlobalAuthFailures: number
  /** The failure window in ms. Default one hour. */
  authFailureWindowMs: number
  /** Lifetime of an OAuth access token, in seconds. Default 3600 (an hour). */
  oauthAccessTokenTtlSeconds: number
  /** Lifetime of an OAuth refresh token, in seconds (each refresh rotates it). Default 30 days. */
  oauthRefreshTokenTtlSeconds: number
  /** How long `/secrets` may serve listed metadata from memory, in ms. Default 10 s; 0 disables. */
  metadataCacheMs: number
  /** The legacy manifest's `verification_tokens.openai`, if ChatGPT gave one. */
  openaiVerificationToken?: string
  /**
   * Where the cron route posts reminders and new alerts (Slack-compatible JSON). Without it the
   * route only reports what is due and sends nothing.
   */
  webhookUrl?: string
}

/** The defaults of every setting that has one. */
export const DEFAULT_CONFIG: Readonly<EdgePluginConfig> = Object.freeze({
  allowedOrigins: DEFAULT_ALLOWED_ORIGINS,
  version: '0.0.0',
  githubApiUrl: 'https://api.github.com',
  maxBodyBytes: 1024 * 1024,
  maxAuthFailures: 5,
  maxGlobalAuthFailures: 100,
  authFailureWindowMs: 60 * 60 * 1000,
  oauthAccessTokenTtlSeconds: 3600,
  oauthRefreshTokenTtlSeconds: 30 * 86_400,
  metadataCacheMs: 10_000,
})

/**
 * Reads the settings from an environment:
 * - `PLUGIN_ALLOWED_ORIGINS`: comma-separated origins, replacing the default list;
 * - `GITHUB_API_URL`: the GitHub API root (GitHub Enterprise, or a test double);
 * - `PLUGIN_PUBLIC_URL`: the public base URL; else `SUPABASE_URL` + `/functions/v1/chatgpt-plugin`
 *   when running as a Supabase Edge Function (which sets `SUPABASE_URL`);
 * - `PLUGIN_MAX_BODY_BYTES`, `PLUGIN_METADATA_CACHE_MS`: numbers;
 * - `OPENAI_VERIFICATION_TOKEN`: for the legacy manifest;
 * - `KEYWARDEN_WEBHOOK_URL`: the webhook the cron route notifies, as for `keywarden remind`.
 *
 * The bearer tokens are not settings: they are secrets (`plugin_bearer_token`, else
 * `PLUGIN_BEARER_TOKEN`; `cron_bearer_token`, else `CRON_BEARER_TOKEN`), read through the vault
 * client.
 */
export function configFromEnv(
  env: Environment,
  overrides: Partial<EdgePluginConfig> = {},
): EdgePluginConfig {
  const origins = env.PLUGIN_ALLOWED_ORIGINS?.split(',')
    .map((origin) => origin.trim())
    .filter((origin) => origin !== '')
  const supabaseUrl = env.SUPABASE_URL?.replace(/\/+$/, '')
  const publicUrl =
    env.PLUGIN_PUBLIC_URL?.replace(/\/+$/, '') ??
    (supabaseUrl ? `${supabaseUrl}/functions/v1${BASE_PATH}` : undefined)
  return {
    ...DEFAULT_CONFIG,
    ...(origins && origins.length > 0 ? { allowedOrigins: origins } : {}),
    ...(env.GITHUB_API_URL ? { githubApiUrl: env.GITHUB_API_URL.replace(/\/+$/, '') } : {}),
    ...(publicUrl ? { publicUrl } : {}),
    ...numberSetting(env, 'PLUGIN_MAX_BODY_BYTES', 'maxBodyBytes'),
    ...numberSetting(env, 'PLUGIN_METADATA_CACHE_MS', 'metadataCacheMs'),
    ...(env.OPENAI_VERIFICATION_TOKEN
      ? { openaiVerificationToken: env.OPENAI_VERIFICATION_TOKEN }
      : {}),
    ...(env.KEYWARDEN_WEBHOOK_URL ? { webhookUrl: env.KEYWARDEN_WEBHOOK_URL } : {}),
    ...overrides,
  }
}

function numberSetting(
  env: Environment,
  variable: string,
  key: 'maxBodyBytes' | 'metadataCacheMs',
): Partial<EdgePluginConfig> {
  const text = env[variable]
  if (text === undefined || text === '') return {}
  const value = Number(text)
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new KeywardenError(
      'CONFIGURATION_ERROR',
      `${variable} must be a whole number of 0 or more`,
    )
  }
  return { [key]: value }
}
