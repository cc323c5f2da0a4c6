-- The owner's own mistakes at the CLI no longer raise a high alert against themselves.
--
-- A burst of failed accesses (more than 5 in an hour by one accessor) was always `high`, even
-- when every failure was the owner typing a name that is not there at the CLI (`keywarden get
-- tpyo`), or `rotate --discard` with nothing staged. Those still make a burst (the user sees
-- it), but at severity `low`: a burst is `high` as soon as one of its failures is a refusal,
-- a failed authentication, a decryption failure, or anything from another door than `cli`
-- (an agent probing for names is what the alert is for).
--
-- secret_alerts is migration 9's function with that one change; secret_alerts_json wraps it
-- and keeps working unchanged (same signature, same result columns).

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
               -- The owner's own slip at the CLI: a name that is not there, no previous value,
               -- nothing staged. Not a refusal, not a failed authentication.
               (l.accessed_by = 'cli' AND l.access_type <> 'auth_failure'
                AND (l.error_message IN ('secret not found', 'no previous value in its grace period',
                                         'no staged rotation')
                     OR l.error_message LIKE 'SECRET\_NOT\_FOUND:%')) AS owner_mistake,
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
               pg_catalog.array_agg(DISTINCT f.secret_name ORDER BY f.secret_name) AS secrets,
               pg_catalog.bool_and(f.owner_mistake) AS owner_mistakes
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
             'failed_access_burst', CASE WHEN b.owner_mistakes THEN 'low' ELSE 'high' END,
             b.top_secret, b.accessed_by, b.first_over,
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

REVOKE ALL ON FUNCTION public.secret_alerts(timestamptz, timestamptz)
  FROM PUBLIC, anon, authenticated;
GRANT EXECUTE ON FUNCTION public.secret_alerts(timestamptz, timestamptz) TO service_role;
