-- The dashboard's and the compliance report's numbers (`keywarden ui`, `keywarden report`).
--
-- Each view is one aggregation here, so the page and the report read the same SQL and can never
-- disagree, and no raw audit rows travel to a browser. Every function returns one jsonb array
-- (not a set): one shape for all stores, past the Data API's 1000-row cap, like the `*_json`
-- functions of migration 9. Counts are events (`sum(event_count)`), never rows, as in
-- secret_metrics: an aggregated cache-hit row counts its hits. Ranges are half-open
-- [p_from, p_to).
--
--   audit_activity   events and failures per time bucket (hour or day) and series (door,
--                    accessor or secret): the Activity chart
--   audit_accessors  per secret and accessor: first and last seen, events, failures, refusals
--   audit_failures   failed and refused accesses, grouped by secret, accessor, type and error
--   audit_rotations  each value change (store or rotation) against the secret's rotation policy
--   audit_incidents  the `keywarden incident` runs (rows of access_type `incident`)

-- The activity, accessor and failure aggregations read a range of created_at: the log is
-- appended in time order, so migration 3's secret_access_log_created_at_idx (and migration 5's
-- partial failures index) already serve them with a few pages per day; a covering index was
-- measured and the planner kept the plain one.
-- Value changes and incident runs are a few rows among millions of reads: a small partial index
-- finds them without reading the reads.
CREATE INDEX secret_access_log_lifecycle_idx
  ON public.secret_access_log (secret_name, created_at)
  WHERE access_type IN ('store', 'rotate', 'incident');

-- One check of a range for every function: both ends given, in order, and at most `longest`.
CREATE FUNCTION keywarden.check_dashboard_range(p_from timestamptz, p_to timestamptz, longest interval)
  RETURNS void
  LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp
  AS $$
  BEGIN
    IF p_from IS NULL OR p_to IS NULL OR p_from >= p_to THEN
      RAISE EXCEPTION 'p_from and p_to must be given, p_from before p_to' USING ERRCODE = 'KW012';
    END IF;
    IF p_to - p_from > longest THEN
      RAISE EXCEPTION 'the range may span at most %', longest USING ERRCODE = 'KW012';
    END IF;
  END
  $$;
REVOKE ALL ON FUNCTION keywarden.check_dashboard_range(timestamptz, timestamptz, interval) FROM PUBLIC;

-- The door of an accessor: `mcp:claude` is the `mcp` door, `cli` the `cli` door.
CREATE FUNCTION keywarden.door_of(accessed_by text) RETURNS text
  LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp
  AS $$ SELECT pg_catalog.split_part(accessed_by, ':', 1) $$;
REVOKE ALL ON FUNCTION keywarden.door_of(text) FROM PUBLIC;

CREATE FUNCTION public.audit_activity(
  p_from timestamptz,
  p_to timestamptz,
  p_bucket text DEFAULT 'hour',
  p_group text DEFAULT 'door',
  p_secret text DEFAULT NULL
) RETURNS jsonb
  LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET jit = off
  AS $$
  DECLARE
    result jsonb;
    step interval := CASE audit_activity.p_bucket WHEN 'day' THEN interval '1 day' ELSE interval '1 hour' END;
  BEGIN
    IF audit_activity.p_bucket IS NULL OR audit_activity.p_bucket NOT IN ('hour', 'day') THEN
      RAISE EXCEPTION 'p_bucket is hour or day' USING ERRCODE = 'KW012';
    END IF;
    IF audit_activity.p_group IS NULL OR audit_activity.p_group NOT IN ('door', 'accessor', 'secret') THEN
      RAISE EXCEPTION 'p_group is door, accessor or secret' USING ERRCODE = 'KW012';
    END IF;
    -- Bounded answers: at most 92 days of hours (2208 buckets) or 400 days.
    PERFORM keywarden.check_dashboard_range(audit_activity.p_from, audit_activity.p_to,
      CASE audit_activity.p_bucket WHEN 'hour' THEN interval '92 days' ELSE interval '400 days' END);
    SELECT coalesce(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
             'bucket', b.bucket, 'series', b.series, 'events', b.events, 'failures', b.failures)
             ORDER BY b.bucket, b.series), '[]'::jsonb)
      INTO result
      FROM (
        -- Rows are grouped by accessor first (a plain column), and the door or secret taken on
        -- the few groups: a per-row split_part or a time-zone-aware date_trunc cost ten times
        -- the scan. date_bin on the Unix epoch gives UTC hours and days at any session TimeZone.
        SELECT r.bucket,
               CASE audit_activity.p_group
                 WHEN 'door' THEN pg_catalog.split_part(r.accessed_by, ':', 1)
                 WHEN 'accessor' THEN r.accessed_by
                 ELSE r.secret_name
               END AS series,
               pg_catalog.sum(r.events) AS events, pg_catalog.sum(r.failures) AS failures
          FROM (
            SELECT pg_catalog.date_bin(step, l.created_at, '1970-01-01 00:00:00+00') AS bucket,
                   l.accessed_by,
                   CASE WHEN audit_activity.p_group = 'secret' THEN l.secret_name END AS secret_name,
                   pg_catalog.sum(l.event_count) AS events,
                   coalesce(pg_catalog.sum(l.event_count) FILTER (WHERE NOT l.success), 0) AS failures
              FROM public.secret_access_log l
             WHERE l.created_at >= audit_activity.p_from AND l.created_at < audit_activity.p_to
               AND (audit_activity.p_secret IS NULL OR l.secret_name = audit_activity.p_secret)
             GROUP BY 1, 2, 3
          ) r
         GROUP BY 1, 2
      ) b;
    RETURN result;
  END
  $$;

CREATE FUNCTION public.audit_accessors(
  p_from timestamptz,
  p_to timestamptz,
  p_secret text DEFAULT NULL
) RETURNS jsonb
  LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET jit = off
  AS $$
  DECLARE
    result jsonb;
  BEGIN
    PERFORM keywarden.check_dashboard_range(audit_accessors.p_from, audit_accessors.p_to, interval '400 days');
    SELECT coalesce(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
             'secret_name', a.secret_name, 'accessed_by', a.accessed_by,
             'door', keywarden.door_of(a.accessed_by),
             'first_seen', a.first_seen, 'last_seen', a.last_seen,
             'events', a.events, 'failures', a.failures, 'refusals', a.refusals)
             ORDER BY a.secret_name, a.accessed_by), '[]'::jsonb)
      INTO result
      FROM (
        SELECT l.secret_name, l.accessed_by,
               pg_catalog.min(l.created_at) AS first_seen, pg_catalog.max(l.created_at) AS last_seen,
               pg_catalog.sum(l.event_count) AS events,
               coalesce(pg_catalog.sum(l.event_count) FILTER (WHERE NOT l.success), 0) AS failures,
               coalesce(pg_catalog.sum(l.event_count) FILTER (WHERE l.access_type = 'denied'), 0) AS refusals
          FROM public.secret_access_log l
         WHERE l.created_at >= audit_accessors.p_from AND l.created_at < audit_accessors.p_to
           -- `*` is a listing, not a secret.
           AND l.secret_name <> '*'
           AND (audit_accessors.p_secret IS NULL OR l.secret_name = audit_accessors.p_secret)
         GROUP BY l.secret_name, l.accessed_by
      ) a;
    RETURN result;
  END
  $$;

CREATE FUNCTION public.audit_failures(
  p_from timestamptz,
  p_to timestamptz,
  p_secret text DEFAULT NULL
) RETURNS jsonb
  LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET jit = off
  AS $$
  DECLARE
    result jsonb;
  BEGIN
    PERFORM keywarden.check_dashboard_range(audit_failures.p_from, audit_failures.p_to, interval '400 days');
    -- The predicate of secret_access_log_failures_idx (migration 5), so that index serves it.
    SELECT coalesce(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
             'secret_name', f.secret_name, 'accessed_by', f.accessed_by,
             'access_type', f.access_type, 'error_message', f.error_message,
             'events', f.events, 'first_at', f.first_at, 'last_at', f.last_at)
             ORDER BY f.events DESC, f.last_at DESC), '[]'::jsonb)
      INTO result
      FROM (
        SELECT l.secret_name, l.accessed_by, l.access_type, l.error_message,
               pg_catalog.sum(l.event_count) AS events,
               pg_catalog.min(l.created_at) AS first_at, pg_catalog.max(l.created_at) AS last_at
          FROM public.secret_access_log l
         WHERE (NOT l.success OR l.access_type = 'auth_failure')
           AND l.created_at >= audit_failures.p_from AND l.created_at < audit_failures.p_to
           AND (audit_failures.p_secret IS NULL OR l.secret_name = audit_failures.p_secret)
         GROUP BY l.secret_name, l.accessed_by, l.access_type, l.error_message
         ORDER BY pg_catalog.sum(l.event_count) DESC, pg_catalog.max(l.created_at) DESC
         -- A bounded answer: the 1000 largest groups.
         LIMIT 1000
      ) f;
    RETURN result;
  END
  $$;

-- A value change is the first successful store or rotate row of a version. Its policy is the
-- secret's rotation interval now (its own, else its type's); due is the previous change plus
-- that interval, and late is how far past due the change came. A secret that rotates by hand
-- (signing keys) has no due date.
CREATE FUNCTION public.audit_rotations(
  p_from timestamptz,
  p_to timestamptz
) RETURNS jsonb
  LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET jit = off
  AS $$
  DECLARE
    result jsonb;
  BEGIN
    PERFORM keywarden.check_dashboard_range(audit_rotations.p_from, audit_rotations.p_to, interval '400 days');
    WITH changes AS (
      SELECT l.secret_name, l.secret_version, pg_catalog.min(l.created_at) AS changed_at,
             pg_catalog.bool_or(l.access_type = 'rotate') AS rotated
        FROM public.secret_access_log l
       WHERE l.access_type IN ('store', 'rotate') AND l.success
         AND l.created_at < audit_rotations.p_to
       GROUP BY l.secret_name, l.secret_version
    ), ordered AS (
      SELECT c.*, pg_catalog.lag(c.changed_at) OVER (
               PARTITION BY c.secret_name ORDER BY c.changed_at) AS previous_at
        FROM changes c
    ), judged AS (
      SELECT o.*, coalesce(s.rotation_interval, keywarden.default_rotation_interval(s.secret_type)) AS policy
        FROM ordered o
        LEFT JOIN keywarden.secrets s ON s.name = o.secret_name
       WHERE o.changed_at >= audit_rotations.p_from AND o.previous_at IS NOT NULL
    )
    SELECT coalesce(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
             'secret_name', j.secret_name, 'version', j.secret_version, 'rotated', j.rotated,
             'changed_at', j.changed_at, 'previous_at', j.previous_at,
             'interval_days', EXTRACT(epoch FROM j.policy) / 86400,
             'due_at', j.previous_at + j.policy,
             'late_seconds', CASE WHEN j.policy IS NULL THEN NULL
                                  ELSE GREATEST(0, EXTRACT(epoch FROM j.changed_at - (j.previous_at + j.policy))) END)
             ORDER BY j.changed_at, j.secret_name), '[]'::jsonb)
      INTO result
      FROM judged j;
    RETURN result;
  END
  $$;

CREATE FUNCTION public.audit_incidents(
  p_from timestamptz,
  p_to timestamptz
) RETURNS jsonb
  LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET jit = off
  AS $$
  DECLARE
    result jsonb;
  BEGIN
    PERFORM keywarden.check_dashboard_range(audit_incidents.p_from, audit_incidents.p_to, interval '400 days');
    SELECT coalesce(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
             'id', l.id, 'secret_name', l.secret_name, 'accessed_by', l.accessed_by,
             'success', l.success, 'error_message', l.error_message, 'created_at', l.created_at)
             ORDER BY l.created_at), '[]'::jsonb)
      INTO result
      FROM public.secret_access_log l
     WHERE l.access_type = 'incident'
       AND l.created_at >= audit_incidents.p_from AND l.created_at < audit_incidents.p_to;
    RETURN result;
  END
  $$;

REVOKE ALL ON FUNCTION
  public.audit_activity(timestamptz, timestamptz, text, text, text),
  public.audit_accessors(timestamptz, timestamptz, text),
  public.audit_failures(timestamptz, timestamptz, text),
  public.audit_rotations(timestamptz, timestamptz),
  public.audit_incidents(timestamptz, timestamptz)
FROM PUBLIC, anon, authenticated;

GRANT EXECUTE ON FUNCTION
  public.audit_activity(timestamptz, timestamptz, text, text, text),
  public.audit_accessors(timestamptz, timestamptz, text),
  public.audit_failures(timestamptz, timestamptz, text),
  public.audit_rotations(timestamptz, timestamptz),
  public.audit_incidents(timestamptz, timestamptz)
TO service_role;
