/**
 * Test-only: a vault with a realistic history for the dashboard's tests — six secrets (one a
 * canary whose value must never show), four weeks of hourly use by four doors, a spike last
 * night, a burst of refusals by a rogue agent, an overdue rotation, a late rotation and an
 * incident run. History needs the owner: the API stamps the server's clock on every row.
 */
import type pg from 'pg'

/** The canary's value: it must appear in no page, response, report or log. */
export const CANARY_VALUE = 'kw-canary-7f3a9c1e-never-shown'

const SECRETS: Array<[name: string, type: string, value: string]> = [
  ['github_token', 'github_token', 'ghp_dashboardseedvalue000000000000000'],
  ['openai_api_key', 'api_key', 'sk-dashboard-seed-value-1111'],
  ['do_token', 'api_key', 'dop_v1_dashboard_seed_2222'],
  ['supabase_service_key', 'service_key', 'eyJdashboard.seed.3333'],
  ['signing_key', 'signing_key', 'signing-seed-4444'],
  ['canary_token', 'api_key', CANARY_VALUE],
]

/** Seeds `client` (connected as the owner, with the root key); returns the secrets' names. */
export async function seedDashboard(client: pg.Client): Promise<string[]> {
  for (const [name, type, value] of SECRETS) {
    await client.query(
      `SELECT public.store_secret($1, $2, secret_type => $3, accessed_by => 'cli')`,
      [name, value, type],
    )
  }
  await client.query(
    `UPDATE keywarden.secrets SET allowed_hosts = ARRAY['api.github.com'], agent_visible = false WHERE name = 'github_token'`,
  )
  // Overdue: an API key created 200 days ago and never rotated (90-day policy).
  await client.query(
    `UPDATE keywarden.secrets SET created_at = now() - interval '200 days', last_rotated_at = NULL WHERE name = 'do_token'`,
  )
  // Four weeks of hourly use: reads by the CLI and the edge, cache hits by two MCP clients.
  await client.query(
    `INSERT INTO public.secret_access_log (secret_name, accessed_by, access_type, success, created_at, event_count, error_message)
     SELECT s.name, a.who, a.kind, NOT (h % 53 = 0 AND a.who = 'edge'),
            date_trunc('hour', now()) - make_interval(hours => h) + interval '7 minutes',
            CASE WHEN a.kind = 'cache_hit' THEN 1 + (h % 5) ELSE 1 END,
            CASE WHEN h % 53 = 0 AND a.who = 'edge' THEN 'secret not found' END
       FROM generate_series(1, 28 * 24) AS h
       CROSS JOIN (VALUES ('github_token'), ('openai_api_key'), ('supabase_service_key')) AS s(name)
       CROSS JOIN (VALUES ('cli', 'read'), ('edge', 'read'), ('mcp:claude', 'cache_hit'), ('mcp:cursor', 'cache_hit')) AS a(who, kind)
      WHERE (h + length(s.name) + length(a.who)) % 3 = 0`,
  )
  // Last night's spike: mcp:cursor reading openai_api_key hundreds of times in one hour.
  await client.query(
    `INSERT INTO public.secret_access_log (secret_name, accessed_by, access_type, success, created_at)
     SELECT 'openai_api_key', 'mcp:cursor', 'read', true, date_trunc('hour', now()) - interval '9 hours' + make_interval(secs => i)
       FROM generate_series(1, 400) AS i`,
  )
  // A rogue agent refused again and again two hours ago: a failed-access burst.
  await client.query(
    `INSERT INTO public.secret_access_log (secret_name, accessed_by, access_type, success, error_message, created_at)
     SELECT 'github_token', 'mcp:rogue', 'denied', false, 'reveal refused by the door policy',
            date_trunc('hour', now()) - interval '2 hours' + make_interval(secs => i * 30)
       FROM generate_series(1, 12) AS i`,
  )
  // A late rotation: github_token stored 120 days ago, rotated 10 days ago (90-day policy).
  await client.query(
    `INSERT INTO public.secret_access_log (secret_name, accessed_by, access_type, success, created_at, secret_version)
     VALUES ('github_token', 'cli', 'store', true, now() - interval '120 days', 0),
            ('github_token', 'cli', 'rotate', true, now() - interval '10 days', 5),
            ('github_token', 'cli', 'incident', true, now() - interval '10 days', NULL)`,
  )
  await client.query('ANALYZE public.secret_access_log')
  return SECRETS.map(([name]) => name)
}
