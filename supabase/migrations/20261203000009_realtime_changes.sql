-- The Data API's row cap, a cheaper secret_alerts, and the change feed through Supabase Realtime.
--
-- 1. Supabase's Data API (PostgREST, `db-max-rows` = 1000) cuts every set-returning call at
--    1000 rows, silently: a listing of 2,500 secrets would come back with 1000 of them and no
--    error. The `*_json` functions below return the same rows as ONE jsonb array, which the cap
--    does not touch. One statement is one snapshot, so audit rows appended meanwhile can neither
--    be skipped nor returned twice, which paging over a growing log could not promise without
--    a keyset of its own on every call (and alerts would be recomputed once per page). The
--    supabase store calls these; the original functions stay as they were for SQL callers (the
--    seed's `SELECT * FROM public.list_secret_names()` keeps working verbatim).
--    Each is SECURITY INVOKER: it only reshapes what the function it wraps returns, and its
--    caller must be allowed to call that function anyway.
--
-- 2. secret_alerts, made cheaper so that its widest window (90 days) stays well within the 8 s
--    statement_timeout Supabase gives the API roles at 1M audit rows.
--
-- 3. Where Supabase Realtime exists (the `realtime.send` function), a trigger on
--    keywarden.secrets broadcasts `{name, version, op}` on the private topic `keywarden:secrets`
--    as event `secret_changed` whenever a secret's version or vault row changes, so supabase
--    stores elsewhere drop that cache entry at once. Realtime delivers what the transaction
--    inserted into realtime.messages after it commits; a rolled-back write sends nothing. The
--    trigger sits on keywarden.secrets, not vault.secrets: Supabase gives no TRIGGER right on
--    vault.secrets. Plain PostgreSQL and PGlite have no `realtime` schema and get no trigger.

-- ---------------------------------------------------------------------------------------------
-- One JSON value per answer, past the Data API's row cap
-- ---------------------------------------------------------------------------------------------

-- WITH ORDINALITY keeps the wrapped function's own order (names, due dates, newest first).
CREATE FUNCTION public.list_secret_names_json(accessed_by text DEFAULT NULL) RETURNS jsonb
  LANGUAGE sql VOLATILE SET search_path = pg_catalog, pg_temp
  AS $$
    SELECT coalesce(pg_catalog.jsonb_agg(pg_catalog.to_jsonb(t) - 'ordinality' ORDER BY t.ordinality),
                    '[]'::jsonb)
      FROM public.list_secret_names(accessed_by => list_secret_names_json.accessed_by)
           WITH ORDINALITY AS t
  $$;

CREATE FUNCTION public.check_expiring_secrets_json(
  days integer DEFAULT 7,
  accessed_by text DEFAULT NULL,
  p_now timestamptz DEFAULT now()
) RETURNS jsonb
  LANGUAGE sql VOLATILE SET search_path = pg_catalog, pg_temp
  AS $$
    SELECT coalesce(pg_catalog.jsonb_agg(pg_catalog.to_jsonb(t) - 'ordinality' ORDER BY t.ordinality),
                    '[]'::jsonb)
      FROM public.check_expiring_secrets(days => check_expiring_secrets_json.days,
                                         accessed_by => check_expiring_secrets_json.accessed_by,
                                         p_now => check_expiring_secrets_json.p_now)
           WITH ORDINALITY AS t
  $$;

CREATE FUNCTION public.query_secret_access_log_json(
  secret_name text DEFAULT NULL,
  failed_only boolean DEFAULT false,
  since timestamptz DEFAULT NULL,
  max_rows integer DEFAULT 100
) RETURNS jsonb
  LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp
  AS $$
    SELECT coalesce(pg_catalog.jsonb_agg(pg_catalog.to_jsonb(t) - 'ordinality' ORDER BY t.ordinality),
                    '[]'::jsonb)
      FROM public.query_secret_access_log(secret_name => query_secret_access_log_json.secret_name,
                                          failed_only => query_secret_access_log_json.failed_only,
                                          since => query_secret_access_log_json.since,
                                          max_rows => query_secret_access_log_json.max_rows)
           WITH ORDINALITY AS t
  $$;

CREATE FUNCTION public.secret_metrics_json(p_now timestamptz DEFAULT now()) RETURNS jsonb
  LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp
  AS $$
    SELECT coalesce(pg_catalog.jsonb_agg(pg_catalog.to_jsonb(t) - 'ordinality' ORDER BY t.ordinality),
                    '[]'::jsonb)
      FROM public.secret_metrics(p_now => secret_metrics_json.p_now) WITH ORDINALITY AS t
  $$;

CREATE FUNCTION public.secret_alerts_json(
  p_since timestamptz DEFAULT NULL,
  p_now timestamptz DEFAULT now()
) RETURNS jsonb
  LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp
  AS $$
    SELECT coalesce(pg_catalog.jsonb_agg(pg_catalog.to_jsonb(t) - 'ordinality' ORDER BY t.ordinality),
                    '[]'::jsonb)
      FROM public.secret_alerts(p_since => secret_alerts_json.p_since,
                                p_now => secret_alerts_json.p_now) WITH ORDINALITY AS t
  $$;

REVOKE ALL ON FUNCTION
  public.list_secret_names_json(text),
  public.check_expiring_secrets_json(integer, text, timestamptz),
  public.query_secret_access_log_json(text, boolean, timestamptz, integer),
  public.secret_metrics_json(timestamptz),
  public.secret_alerts_json(timestamptz, timestamptz)
FROM PUBLIC, anon, authenticated;

GRANT EXECUTE ON FUNCTION
  public.list_secret_names_json(text),
  public.check_expiring_secrets_json(integer, text, timestamptz),
  public.query_secret_access_log_json(text, boolean, timestamptz, integer),
  public.secret_metrics_json(timestamptz),
  public.secret_alerts_json(timestamptz, timestamptz)
TO service_role;

-- ---------------------------------------------------------------------------------------------
-- secret_alerts within the API roles' 8 s statement_timeout at 1M audit rows
-- ---------------------------------------------------------------------------------------------

-- Migration 5's function with two cheap changes and the same answers (bench/monitoring.js,
-- docs/performance.md): the new-accessor check runs its cheap probe before the one that may
-- read a secret's whole history, and the spike check sorts an hour's trailing 168 values for
-- its median only where the smallest of them leaves a spike possible. Issue 14 goes further.
CREATE OR REPLACE FUNCTION public.secret_alerts(
  p_since timestamptz DEFAULT NULL,
  p_now timestamptz DEFAULT now()
) RETURNS TABLE (
  alert_key text,
  kind text,
  severity text,
  secret_name text,
  accessed_by text,
  occurred_at timestamptz,
  evidence jsonb
)
  -- JIT compiling this plan costs more than running it (≈1.5 s against ≈0.4 s over 500k rows).
  LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET jit = off
  AS $$
  DECLARE
    since timestamptz := coalesce(secret_alerts.p_since, secret_alerts.p_now - interval '24 hours');
  BEGIN
    IF secret_alerts.p_now IS NULL THEN
      RAISE EXCEPTION 'p_now must not be null' USING ERRCODE = 'KW012';
    END IF;
    IF since > secret_alerts.p_now OR secret_alerts.p_now - since > interval '90 days' THEN
      RAISE EXCEPTION 'invalid p_since: use a time at most 90 days before p_now' USING ERRCODE = 'KW012';
    END IF;
    RETURN QUERY
      WITH failures AS (
        SELECT l.accessed_by, l.secret_name, l.created_at,
               pg_catalog.sum(l.event_count) OVER (
                 PARTITION BY l.accessed_by ORDER BY l.created_at
                 RANGE BETWEEN interval '1 hour' PRECEDING AND CURRENT ROW) AS in_hour
          FROM public.secret_access_log l
         WHERE (NOT l.success OR l.access_type = 'auth_failure')
           AND l.created_at >= since - interval '1 hour'
           AND l.created_at <= secret_alerts.p_now
      ), bursts AS (
        SELECT f.accessed_by, pg_catalog.date_trunc('hour', f.created_at, 'UTC') AS hour,
               pg_catalog.max(f.in_hour) AS peak,
               pg_catalog.min(f.created_at) AS first_over, pg_catalog.max(f.created_at) AS last_over,
               pg_catalog.mode() WITHIN GROUP (ORDER BY f.secret_name) AS top_secret,
               pg_catalog.array_agg(DISTINCT f.secret_name ORDER BY f.secret_name) AS secrets
          FROM failures f
         WHERE f.in_hour > 5 AND f.created_at >= since
         GROUP BY f.accessed_by, pg_catalog.date_trunc('hour', f.created_at, 'UTC')
      ), firsts AS (
        SELECT l.secret_name, l.accessed_by, pg_catalog.min(l.created_at) AS first_at,
               pg_catalog.sum(l.event_count) AS uses
          FROM public.secret_access_log l
         WHERE l.success AND l.secret_name <> '*' AND keywarden.is_use(l.access_type)
           AND l.created_at >= since AND l.created_at <= secret_alerts.p_now
         GROUP BY l.secret_name, l.accessed_by
      ), unseen AS MATERIALIZED (
        -- The cheapest probe first, in a CTE of its own so that it really runs first: one
        -- (secret, accessor, time) index probe drops every accessor that used the secret before
        -- `since`, which is nearly all of them. The probe below may read far back in the log.
        SELECT f.*
          FROM firsts f
         WHERE NOT EXISTS (
                 SELECT 1 FROM public.secret_access_log o
                  WHERE o.secret_name = f.secret_name AND o.accessed_by = f.accessed_by
                    AND o.created_at < since AND o.success AND keywarden.is_use(o.access_type))
      ), newcomers AS MATERIALIZED (
        -- Someone else used it before its first use; only the few survivors collect their
        -- evidence below.
        SELECT f.*
          FROM unseen f
               -- A scalar subquery with LIMIT 1, not EXISTS: the planner would hash the whole
               -- log for a semi join, where one index probe per candidate finds any earlier row.
         WHERE (SELECT 1 FROM public.secret_access_log o
                 WHERE o.secret_name = f.secret_name AND o.created_at < f.first_at
                   AND o.accessed_by <> f.accessed_by AND o.success
                   AND keywarden.is_use(o.access_type)
                 LIMIT 1) IS NOT NULL
      ), hourly AS MATERIALIZED (
        SELECT l.secret_name, pg_catalog.date_trunc('hour', l.created_at, 'UTC') AS hour,
               pg_catalog.sum(l.event_count) AS uses
          FROM public.secret_access_log l
         WHERE l.secret_name <> '*' AND keywarden.is_use(l.access_type)
           AND l.created_at >= pg_catalog.date_trunc('hour', since, 'UTC') - interval '168 hours'
           AND l.created_at <= secret_alerts.p_now
         GROUP BY l.secret_name, pg_catalog.date_trunc('hour', l.created_at, 'UTC')
      ), grid AS (
        -- Every hour of each secret that had a busy hour in the window, empty hours as 0, from
        -- its first audit row (or 168 hours before the window) on.
        SELECT busy.secret_name, g.hour, coalesce(h.uses, 0) AS uses
          FROM (SELECT DISTINCT h.secret_name FROM hourly h
                 WHERE h.hour >= pg_catalog.date_trunc('hour', since, 'UTC') AND h.uses > 10) busy
          CROSS JOIN LATERAL (
            SELECT pg_catalog.min(l.created_at) AS first_seen
              FROM public.secret_access_log l WHERE l.secret_name = busy.secret_name
          ) history
          CROSS JOIN LATERAL pg_catalog.generate_series(
            greatest(pg_catalog.date_trunc('hour', since, 'UTC') - interval '168 hours',
                     pg_catalog.date_trunc('hour', history.first_seen, 'UTC')),
            pg_catalog.date_trunc('hour', secret_alerts.p_now, 'UTC'), interval '1 hour') AS g (hour)
          LEFT JOIN hourly h ON h.secret_name = busy.secret_name AND h.hour = g.hour
      ), trailing_hours AS (
        SELECT g.*,
               pg_catalog.array_agg(g.uses) OVER w AS previous,
               pg_catalog.min(g.uses) OVER w AS least_previous,
               pg_catalog.count(*) OVER w AS hours
          FROM grid g
        WINDOW w AS (PARTITION BY g.secret_name ORDER BY g.hour
                     ROWS BETWEEN 168 PRECEDING AND 1 PRECEDING)
      ), spikes AS (
        SELECT t.secret_name, t.hour, t.uses, m.median, t.hours,
               (SELECT pg_catalog.mode() WITHIN GROUP (ORDER BY l.accessed_by)
                  FROM public.secret_access_log l
                 WHERE l.secret_name = t.secret_name AND keywarden.is_use(l.access_type)
                   AND l.created_at >= t.hour AND l.created_at < t.hour + interval '1 hour') AS top_accessor
          -- The median (a sort of up to 168 values) only where a spike is still possible: the
          -- median is at least the smallest value, so an hour within 10 × that is no spike.
          -- Over a busy 90-day window this skips nearly every hour's sort.
          FROM (SELECT * FROM trailing_hours c
                 WHERE c.hour >= pg_catalog.date_trunc('hour', since, 'UTC')
                   AND c.uses > 10
                   AND c.hours >= 24
                   AND c.uses > 10 * greatest(c.least_previous, 1)) t
          CROSS JOIN LATERAL (
            SELECT pg_catalog.percentile_cont(0.5) WITHIN GROUP (ORDER BY x.uses) AS median
              FROM pg_catalog.unnest(t.previous) AS x (uses)
          ) m
         WHERE t.uses > 10 * greatest(m.median, 1)
      )
      SELECT 'failed_access_burst:' || b.accessed_by || ':' || keywarden.utc_text(b.hour),
             'failed_access_burst', 'high', b.top_secret, b.accessed_by, b.first_over,
             pg_catalog.jsonb_build_object('failures_in_hour', b.peak, 'window_seconds', 3600,
               'first_over_threshold_at', b.first_over, 'last_failure_at', b.last_over,
               'secrets', pg_catalog.to_jsonb(b.secrets))
        FROM bursts b
      UNION ALL
      SELECT 'new_accessor:' || n.secret_name || ':' || n.accessed_by,
             'new_accessor', 'medium', n.secret_name, n.accessed_by, n.first_at,
             pg_catalog.jsonb_build_object('first_use_at', n.first_at, 'uses', n.uses,
               'known_accessors', (
                 SELECT pg_catalog.to_jsonb(pg_catalog.array_agg(DISTINCT o.accessed_by ORDER BY o.accessed_by))
                   FROM public.secret_access_log o
                  WHERE o.secret_name = n.secret_name AND o.created_at < n.first_at
                    AND o.accessed_by <> n.accessed_by AND o.success
                    AND keywarden.is_use(o.access_type)))
        FROM newcomers n
      UNION ALL
      SELECT 'access_spike:' || s.secret_name || ':' || keywarden.utc_text(s.hour),
             'access_spike', 'high', s.secret_name, s.top_accessor, s.hour,
             pg_catalog.jsonb_build_object('hour', s.hour, 'uses', s.uses,
               'trailing_median', s.median, 'trailing_hours', s.hours)
        FROM spikes s
      UNION ALL
      SELECT 'rotation_overdue:' || d.name || ':' || keywarden.utc_text(d.rotation_due_at),
             'rotation_overdue', d.risk_level, d.name, NULL::text, d.rotation_due_at,
             pg_catalog.jsonb_build_object('rotation_due_at', d.rotation_due_at,
               'last_rotated_at', d.last_rotated_at,
               'rotation_interval_days', pg_catalog.trim_scale(extract(epoch FROM d.rotation_interval) / 86400))
        FROM keywarden.secret_schedule d
       WHERE d.rotation_due_at <= secret_alerts.p_now
      UNION ALL
      SELECT 'secret_expired:' || d.name || ':' || keywarden.utc_text(d.expires_at),
             'secret_expired', 'critical', d.name, NULL::text, d.expires_at,
             pg_catalog.jsonb_build_object('expires_at', d.expires_at)
        FROM keywarden.secret_schedule d
       WHERE d.expires_at <= secret_alerts.p_now
      ORDER BY 6, 1;
  END
  $$;

-- ---------------------------------------------------------------------------------------------
-- The change feed through Supabase Realtime, where it exists
-- ---------------------------------------------------------------------------------------------

DO $realtime$
BEGIN
  -- Read from the catalog rather than through to_regprocedure, which raises instead of
  -- answering NULL where the migrating role lacks USAGE on a `realtime` schema. The trigger
  -- runs as this role (the owner of the functions that write keywarden.secrets), so it is made
  -- only where this role may call realtime.send.
  IF NOT EXISTS (
    SELECT 1 FROM pg_catalog.pg_proc p
      JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
     WHERE n.nspname = 'realtime' AND p.proname = 'send'
       AND pg_catalog.pg_get_function_identity_arguments(p.oid)
           = 'payload jsonb, event text, topic text, private boolean'
       AND pg_catalog.has_schema_privilege(n.oid, 'USAGE')
       AND pg_catalog.has_function_privilege(p.oid, 'EXECUTE')
  ) THEN
    RETURN;
  END IF;

  -- Never a value or a description: a name, its version and what happened. A failing
  -- realtime.send must not undo the write it reports (Supabase's own turns its failures into
  -- warnings; this also covers a missing grant or a replaced function): the cache TTL remains
  -- the fallback, as for a message Realtime drops.
  EXECUTE $fn$
    CREATE FUNCTION keywarden.broadcast_secret_change() RETURNS trigger
      LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
      AS $$
      DECLARE
        changed_name text;
        changed_version integer;
      BEGIN
        IF TG_OP = 'DELETE' THEN
          changed_name := OLD.name;
          changed_version := OLD.version;
        ELSE
          changed_name := NEW.name;
          changed_version := NEW.version;
        END IF;
        BEGIN
          PERFORM realtime.send(
            pg_catalog.jsonb_build_object('name', changed_name, 'version', changed_version,
                                          'op', pg_catalog.lower(TG_OP)),
            'secret_changed', 'keywarden:secrets', true);
        EXCEPTION WHEN OTHERS THEN
          RAISE WARNING 'keywarden: realtime.send failed (%), the change of % is saved; caches fall back to their TTL',
            SQLSTATE, changed_name;
        END;
        RETURN NULL;
      END
      $$
  $fn$;
  REVOKE ALL ON FUNCTION keywarden.broadcast_secret_change() FROM PUBLIC, anon, authenticated;

  CREATE TRIGGER secrets_broadcast_insert_delete
    AFTER INSERT OR DELETE ON keywarden.secrets
    FOR EACH ROW EXECUTE FUNCTION keywarden.broadcast_secret_change();
  -- Metadata edits (description, hosts, expiry) leave the cached value as it is: no message.
  CREATE TRIGGER secrets_broadcast_update
    AFTER UPDATE ON keywarden.secrets
    FOR EACH ROW
    WHEN (OLD.version IS DISTINCT FROM NEW.version
          OR OLD.vault_secret_id IS DISTINCT FROM NEW.vault_secret_id)
    EXECUTE FUNCTION keywarden.broadcast_secret_change();
END
$realtime$;
