/**
 * The Supabase Edge Function `chatgpt-plugin`: the Keywarden edge plugin served by Deno.
 *
 * Supabase routes `https://<project>.supabase.co/functions/v1/chatgpt-plugin/...` here with the
 * `/functions/v1` prefix stripped, which is the app's base path. The function's environment has
 * `SUPABASE_URL` and `SUPABASE_SERVICE_ROLE_KEY`, so the vault client talks to the project's
 * vault through supabase-js; Edge Function secrets (`supabase secrets set`) are the fallback tier.
 * Deploy: `supabase functions deploy chatgpt-plugin --use-api` (see docs/edge-plugin.md).
 *
 * `PORT` (tests and local runs) picks the port; without it `Deno.serve` takes its default, as the
 * edge runtime expects.
 */
import { createVaultClient, runtimeEnvironment } from '@keywarden/core'
import { AUDIT_ACCESSOR, configFromEnv, createApp } from '@keywarden/edge-plugin'
import packageJson from '@keywarden/edge-plugin/package.json' with { type: 'json' }

const env = runtimeEnvironment()
const client = createVaultClient({ env, accessedBy: AUDIT_ACCESSOR })
const app = createApp({ client, config: configFromEnv(env, { version: packageJson.version }) })

Deno.serve(env.PORT ? { port: Number(env.PORT), hostname: '127.0.0.1' } : {}, app.fetch)
