-- Costs that stay flat as the vault and its audit log grow, and an audit log that can be pruned
-- (issue 14, the scale half; bench/scale.js measures it at 10 to 10k secrets and 100k to 1M rows).
--
-- 1. secret_alerts: the spike check no longer builds a 168-value array for every hour of every
--    busy secret's grid (707k window rows at 10k secrets and 1M rows, 5.7 s). It takes the hours
--    that may spike (over 10 uses, inside the window), reads the 168 hours before each from the
--    secret's own index, and adds the empty hours as zeros: the same median over the same
--    values. secret_metrics takes a secret's last use from its week's rows when it has one and
--    probes the index only for the others. Same answers as before (sql/audit-scale.test.ts
--    compares both against the previous definitions on seeded data).
-- 2. The audit row's indexes: secret_access_log_accessor_idx (accessed_by, created_at) served
--    no query (none filters on an accessor without a secret), and cost ~56 of the row's ~311
--    bytes on disk and part of every audit INSERT. The other four each serve a query that needs
--    them (docs/performance.md lists which).
-- 3. Retention: keywarden.audit_retention holds how long audit rows are kept (default: NULL,
--    forever). public.prune_secret_access_log() prunes the rows older than that in batches, one
--    batch per call and transaction, oldest first; keywarden.run_audit_retention() loops it with
--    a COMMIT between batches, and keywarden.schedule_jobs() schedules that daily where pg_cron
--    exists. Before the first row of a prune goes, a checkpoint row is appended to the chain: it
--    records the id and row_hash of the last row to prune, and verification starts from it.

-- ---------------------------------------------------------------------------------------------
-- The audit row's indexes
-- ---------------------------------------------------------------------------------------------

DROP INDEX public.secret_access_log_accessor_idx;

-- ---------------------------------------------------------------------------------------------
-- secret_metrics: a secret's last use from its week when it has one
-- ---------------------------------------------------------------------------------------------

-- Migration 5's function, with two changes: the last successful use is the week's latest when
-- the secret was used in the week (no later row can be at or before p_now), so the index probe
-- runs only for secrets unused for a week (at 10k secrets that drops most of 10k probes); and
-- that probe can only take the (secret_name, created_at) index (see below).
CREATE OR REPLACE FUNCTION public.secret_metrics(p_now timestamptz DEFAULT now())
RETURNS TABLE (
  name text,
  secret_type text,
  risk_level text,
  accesses_24h bigint,
  accesses_7d bigint,
  failed_7d bigint,
  failure_rate numeric,
  distinct_accessors_7d integer,
  accessors_7d text[],
  last_accessed_at timestamptz,
  last_rotated_at timestamptz,
  seconds_since_rotation bigint,
  rotation_due_at timestamptz,
  expires_at timestamptz,
  rotation_staged_at timestamptz
)
  LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET jit = off
  AS $$
  BEGIN
    IF secret_metrics.p_now IS NULL THEN
      RAISE EXCEPTION 'p_now must not be null' USING ERRCODE = 'KW012';
    END IF;
    RETURN QUERY
      WITH uses AS (
        SELECT l.secret_name, l.accessed_by, l.success, l.event_count::bigint AS events, l.created_at
          FROM public.secret_access_log l
         WHERE l.created_at > secret_metrics.p_now - interval '7 days'
           AND l.created_at <= secret_metrics.p_now
           AND keywarden.is_use(l.access_type)
      ), per_secret AS (
        SELECT u.secret_name,
               pg_catalog.sum(u.events) FILTER (WHERE u.created_at > secret_metrics.p_now - interval '24 hours') AS day,
               pg_catalog.sum(u.events) AS week,
               pg_catalog.sum(u.events) FILTER (WHERE NOT u.success) AS failed,
               pg_catalog.array_agg(DISTINCT u.accessed_by ORDER BY u.accessed_by) AS accessors,
               pg_catalog.max(u.created_at) FILTER (WHERE u.success) AS last_use
          FROM uses u
         GROUP BY u.secret_name
      )
      SELECT s.name, s.secret_type, s.risk_level,
             coalesce(p.day, 0)::bigint,
             coalesce(p.week, 0)::bigint,
             coalesce(p.failed, 0)::bigint,
             CASE WHEN coalesce(p.week, 0) = 0 THEN 0::numeric
                  ELSE pg_catalog.round(coalesce(p.failed, 0)::numeric / p.week, 4) END,
             coalesce(pg_catalog.cardinality(p.accessors), 0),
             coalesce(p.accessors, '{}'::text[]),
             -- COALESCE evaluates the probe only where the week had no successful use. The
             -- name is matched as a range, not with `=`, and the order names it: with `=`, the
             -- name is a constant to the planner and `ORDER BY created_at DESC LIMIT 1` (what
             -- max() becomes) may walk the created_at index back through the whole log looking
             -- for the name (5 s over 100k rows for a secret never used); here only the
             -- (secret_name, created_at DESC) index gives that order.
             coalesce(p.last_use,
                      (SELECT l.created_at FROM public.secret_access_log l
                        WHERE l.secret_name >= s.name AND l.secret_name <= s.name
                          AND l.success AND keywarden.is_use(l.access_type)
                          AND l.created_at <= secret_metrics.p_now
                        ORDER BY l.secret_name, l.created_at DESC LIMIT 1)),
             s.last_rotated_at,
             pg_catalog.floor(extract(epoch FROM secret_metrics.p_now - coalesce(s.last_rotated_at, s.created_at)))::bigint,
             s.rotation_due_at,
             s.expires_at,
             s.pending_staged_at
        FROM keywarden.secret_schedule s
        LEFT JOIN per_secret p ON p.secret_name = s.name
       ORDER BY s.name;
  END
  $$;

-- ---------------------------------------------------------------------------------------------
-- secret_alerts: the spike check from the hours that may spike
-- ---------------------------------------------------------------------------------------------

-- Migration 11's function with the spike check rewritten (the other checks are unchanged). An
-- hour H of a secret spikes when its uses exceed 10 and 10 × the median of the up to 168 hours
-- before it on the secret's hour grid (which starts at the secret's first audit row, or 168
-- hours before the window), with at least 24 such hours. Migration 11 built that grid, every
-- hour of it, for every busy secret, and a window aggregate collected 168 values per grid hour.
-- Here only the candidate hours (over 10 uses, inside the window) are looked at: the grid hours
-- before H number least(168, hours since the grid's start); the non-empty ones come from the
-- secret's hourly sums (the 168 hours before the window, for the busy secrets only); the rest are
-- zeros. Where the zeros are most of them the median is 0 without a sort; where the least value
-- leaves no spike possible no median is needed (migration 9's shortcut); elsewhere the values are
-- collected and the zeros added as such. Same values, same median.
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
      ), window_hours AS MATERIALIZED (
        -- Uses per secret and UTC hour, from the window's first hour to p_now.
        SELECT l.secret_name, pg_catalog.date_trunc('hour', l.created_at, 'UTC') AS hour,
               pg_catalog.sum(l.event_count) AS uses
          FROM public.secret_access_log l
         WHERE l.secret_name <> '*' AND keywarden.is_use(l.access_type)
           AND l.created_at >= pg_catalog.date_trunc('hour', since, 'UTC')
           AND l.created_at <= secret_alerts.p_now
         GROUP BY l.secret_name, pg_catalog.date_trunc('hour', l.created_at, 'UTC')
      ), busy AS MATERIALIZED (
        -- Secrets with an hour over 10 uses in the window, and where their hour grid starts.
        SELECT b.secret_name,
               greatest(pg_catalog.date_trunc('hour', since, 'UTC') - interval '168 hours',
                        pg_catalog.date_trunc('hour', (
                          -- Its first row, by the (secret_name, created_at DESC) index read
                          -- backwards (a range and this order, as in secret_metrics' probe).
                          SELECT l.created_at FROM public.secret_access_log l
                           WHERE l.secret_name >= b.secret_name AND l.secret_name <= b.secret_name
                           ORDER BY l.secret_name DESC, l.created_at LIMIT 1), 'UTC')) AS grid_start
          FROM (SELECT DISTINCT w.secret_name FROM window_hours w WHERE w.uses > 10) b
      ), hourly AS MATERIALIZED (
        -- The busy secrets' non-empty hours: the 168 before the window, and the window's own.
        SELECT l.secret_name, pg_catalog.date_trunc('hour', l.created_at, 'UTC') AS hour,
               pg_catalog.sum(l.event_count) AS uses
          FROM busy b
          JOIN public.secret_access_log l ON l.secret_name = b.secret_name
         WHERE keywarden.is_use(l.access_type)
           AND l.created_at >= pg_catalog.date_trunc('hour', since, 'UTC') - interval '168 hours'
           AND l.created_at < pg_catalog.date_trunc('hour', since, 'UTC')
         GROUP BY l.secret_name, pg_catalog.date_trunc('hour', l.created_at, 'UTC')
        UNION ALL
        SELECT w.secret_name, w.hour, w.uses
          FROM window_hours w
         WHERE w.secret_name IN (SELECT b.secret_name FROM busy b)
      ), counted AS (
        -- How many of the 168 hours before each hour were not empty, and the least of those.
        -- (Partitioned by the name's bytes: the same partitions, and a sort without the
        -- locale's collation.)
        SELECT h.secret_name, h.hour, h.uses,
               pg_catalog.count(*) OVER w AS nonzero,
               pg_catalog.min(h.uses) OVER w AS least_nonzero
          FROM hourly h
        WINDOW w AS (PARTITION BY h.secret_name COLLATE "C" ORDER BY h.hour
                     RANGE BETWEEN interval '168 hours' PRECEDING AND interval '1 hour' PRECEDING)
      ), candidates AS MATERIALIZED (
        -- The window's hours over 10 uses, with the grid hours before each (at most 168) and,
        -- when more of those are empty than the median's position, its median: 0. (Of n sorted
        -- values, the median interpolates between positions floor((n-1)/2) and n/2; it is 0
        -- when the empty hours fill position n/2.)
        -- The median is at least the least of the values (0 if an hour was empty), so an hour
        -- within 10 × that is no spike and needs no median at all (in steady traffic, nearly
        -- every hour).
        SELECT c.secret_name, c.hour, c.uses, c.hours,
               CASE WHEN c.hours / 2 < c.hours - c.nonzero THEN 0::double precision END AS median
          FROM (SELECT k.secret_name, k.hour, k.uses, k.nonzero, k.least_nonzero,
                       least(168, (extract(epoch FROM k.hour - b.grid_start) / 3600)::bigint) AS hours
                  FROM counted k
                  JOIN busy b ON b.secret_name = k.secret_name
                 WHERE k.hour >= pg_catalog.date_trunc('hour', since, 'UTC') AND k.uses > 10) c
         WHERE c.hours >= 24
           AND c.uses > 10 * greatest(CASE WHEN c.nonzero < c.hours THEN 0 ELSE c.least_nonzero END, 1)
      ), sorted AS (
        -- The others: the non-empty hours before each, and the empty ones as zeros.
        SELECT t.secret_name, t.hour, t.uses, t.hours,
               (SELECT pg_catalog.percentile_cont(0.5) WITHIN GROUP (ORDER BY x.uses)
                  FROM pg_catalog.unnest(t.used || pg_catalog.array_fill(0::bigint,
                         ARRAY[(t.hours - pg_catalog.cardinality(t.used))::integer])) AS x (uses)) AS median
          -- Each candidate's 168 hours before it, joined to the non-empty ones on (name, hour):
          -- an equality join, where a range condition would compare every hour of a secret
          -- with every candidate of that secret.
          FROM (SELECT c.secret_name, c.hour, c.uses, c.hours,
                       coalesce(pg_catalog.array_agg(h.uses) FILTER (WHERE h.hour IS NOT NULL), '{}') AS used
                  FROM candidates c
                  CROSS JOIN LATERAL pg_catalog.generate_series(c.hour - interval '168 hours',
                                                                c.hour - interval '1 hour',
                                                                interval '1 hour') AS g (hour)
                  LEFT JOIN hourly h ON h.secret_name = c.secret_name AND h.hour = g.hour
                 WHERE c.median IS NULL
                 GROUP BY c.secret_name, c.hour, c.uses, c.hours) t
      ), spikes AS (
        SELECT t.secret_name, t.hour, t.uses, t.median, t.hours,
               (SELECT pg_catalog.mode() WITHIN GROUP (ORDER BY l.accessed_by)
                  FROM public.secret_access_log l
                 WHERE l.secret_name = t.secret_name AND keywarden.is_use(l.access_type)
                   AND l.created_at >= t.hour AND l.created_at < t.hour + interval '1 hour') AS top_accessor
          FROM (SELECT c.secret_name, c.hour, c.uses, c.median, c.hours
                  FROM candidates c WHERE c.median IS NOT NULL
                UNION ALL
                SELECT o.secret_name, o.hour, o.uses, o.median, o.hours FROM sorted o) t
         WHERE t.uses > 10 * greatest(t.median, 1)
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

-- ---------------------------------------------------------------------------------------------
-- Audit retention
-- ---------------------------------------------------------------------------------------------

-- How long audit rows are kept: one row, NULL for forever (the default). Only the owner of the
-- functions (the role that ran the migrations) may change it, with keywarden.set_audit_retention:
-- a role that may call the API (service_role included) must not be able to shorten the history
-- that records what it did.
CREATE TABLE keywarden.audit_retention (
  singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
  keep interval CHECK (keep > interval '0'),
  updated_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO keywarden.audit_retention (keep) VALUES (NULL);
REVOKE ALL ON keywarden.audit_retention FROM PUBLIC, anon, authenticated, service_role;

-- Sets how long audit rows are kept (NULL: forever) and returns it. Keep at least 98 days for
-- secret_alerts' widest window (90 days and the 168 hours before it).
CREATE FUNCTION keywarden.set_audit_retention(keep interval) RETURNS interval
  LANGUAGE sql SET search_path = pg_catalog, pg_temp
  AS $$
    UPDATE keywarden.audit_retention r SET keep = set_audit_retention.keep, updated_at = pg_catalog.now()
     WHERE r.singleton
    RETURNING r.keep
  $$;

-- One row per prune: the chain row that records it (log_id) and the last row it prunes (id and
-- row_hash). Verification starts from the newest: at pruned_through_hash, with the first row
-- after pruned_through_id. The same facts are in the chain row's error_message
-- (keywarden.audit_checkpoint_text), which its row_hash covers, so that neither copy can be
-- changed alone.
CREATE TABLE keywarden.audit_checkpoints (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  log_id bigint NOT NULL,
  pruned_through_id bigint NOT NULL,
  pruned_through_hash bytea NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  CHECK (log_id > pruned_through_id)
);
REVOKE ALL ON keywarden.audit_checkpoints FROM PUBLIC, anon, authenticated, service_role;

-- The checkpoint as its chain row states it.
CREATE FUNCTION keywarden.audit_checkpoint_text(pruned_through_id bigint, pruned_through_hash bytea)
RETURNS text
  LANGUAGE sql IMMUTABLE PARALLEL SAFE
  AS $$
    SELECT pg_catalog.format('audit checkpoint: rows through id %s pruned; the chain resumes from row_hash %s',
                             pruned_through_id, pg_catalog.encode(pruned_through_hash, 'hex'))
  $$;

-- One step of a prune, in the caller's transaction; call it until `done`. A step either
-- * deletes up to batch_size rows at or below the newest checkpoint's pruned_through_id, oldest
--   first (a prune that was started and not finished goes on), or
-- * appends a checkpoint for the rows older than the retention (the longest run of them from
--   the start of the log, in id order, so no row younger than the retention goes), and deletes
--   nothing: the checkpoint's transaction holds the audit chain's lock only for its own row, and
--   writers wait for no delete, or
-- * finds nothing to prune: done.
-- Deleting old rows takes no lock that a writer (appending at the end) waits for. Prunes queue
-- on an advisory lock of their own. No parameter moves the cut: it is the owner's setting.
CREATE FUNCTION public.prune_secret_access_log(
  batch_size integer DEFAULT 10000,
  accessed_by text DEFAULT NULL
) RETURNS TABLE (deleted integer, done boolean, pruned_through_id bigint)
  LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
  AS $$
  DECLARE
    who text := keywarden.accessor(prune_secret_access_log.accessed_by);
    checkpoint keywarden.audit_checkpoints;
    keep interval;
    first_kept bigint;
    last_pruned record;
    log_id bigint;
  BEGIN
    IF prune_secret_access_log.batch_size IS NULL OR prune_secret_access_log.batch_size NOT BETWEEN 1 AND 100000 THEN
      RAISE EXCEPTION 'invalid batch_size: use 1 to 100000' USING ERRCODE = 'KW012';
    END IF;
    PERFORM pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtextextended('keywarden-audit-prune', 0));
    SELECT c.* INTO checkpoint FROM keywarden.audit_checkpoints c ORDER BY c.id DESC LIMIT 1;

    IF checkpoint.id IS NOT NULL THEN
      DELETE FROM public.secret_access_log l
       WHERE l.id IN (SELECT o.id FROM public.secret_access_log o
                       WHERE o.id <= checkpoint.pruned_through_id
                       ORDER BY o.id LIMIT prune_secret_access_log.batch_size);
      GET DIAGNOSTICS deleted = ROW_COUNT;
      IF deleted > 0 THEN
        done := false; pruned_through_id := checkpoint.pruned_through_id;
        RETURN NEXT; RETURN;
      END IF;
    END IF;

    deleted := 0;
    pruned_through_id := checkpoint.pruned_through_id;
    SELECT r.keep INTO keep FROM keywarden.audit_retention r;
    IF keep IS NULL THEN
      done := true; RETURN NEXT; RETURN;
    END IF;
    -- A primary-key walk over the rows to prune, which this prune deletes anyway.
    SELECT l.id INTO first_kept FROM public.secret_access_log l
     WHERE l.id > coalesce(checkpoint.pruned_through_id, 0)
       AND l.created_at >= pg_catalog.now() - keep
     ORDER BY l.id LIMIT 1;
    SELECT l.id, l.row_hash INTO last_pruned FROM public.secret_access_log l
     WHERE l.id > coalesce(checkpoint.pruned_through_id, 0)
       AND (first_kept IS NULL OR l.id < first_kept)
     ORDER BY l.id DESC LIMIT 1;
    IF last_pruned.id IS NULL THEN
      done := true; RETURN NEXT; RETURN;
    END IF;

    INSERT INTO public.secret_access_log
      (secret_name, accessed_by, access_type, success, error_message, source)
    VALUES ('*', who, 'audit_checkpoint', true,
            keywarden.audit_checkpoint_text(last_pruned.id, last_pruned.row_hash), 'retention')
    RETURNING id INTO log_id;
    INSERT INTO keywarden.audit_checkpoints (log_id, pruned_through_id, pruned_through_hash)
    VALUES (log_id, last_pruned.id, last_pruned.row_hash);
    done := false; pruned_through_id := last_pruned.id;
    RETURN NEXT;
  END
  $$;

-- The whole prune, a COMMIT after each step, so that no transaction holds many deleted rows or
-- the chain's lock for long: what the pg_cron job runs, and what to run by hand where there is no
-- pg_cron (`CALL keywarden.run_audit_retention();`, outside a transaction block). A procedure
-- that commits may not be SECURITY DEFINER or carry a SET: it runs as its caller, which must be
-- the owner (nobody else may execute it), and names everything with its schema.
CREATE PROCEDURE keywarden.run_audit_retention(batch_size integer DEFAULT 10000)
  LANGUAGE plpgsql
  AS $$
  DECLARE
    finished boolean;
  BEGIN
    LOOP
      SELECT p.done INTO finished FROM public.prune_secret_access_log(batch_size, 'retention') p;
      COMMIT;
      EXIT WHEN finished;
    END LOOP;
  END
  $$;

-- As migration 7's, but starting from the newest checkpoint when there is one: at its
-- pruned_through_hash, with the first row after pruned_through_id (rows at or below it that a
-- prune in progress has not deleted yet are no longer part of the chain). Additional reasons:
--   checkpoint_mismatch the checkpoint's chain row is not the checkpoint it records (the
--                       checkpoint table was changed)
--   checkpoint_missing  the checkpoint's chain row is gone
-- An anchor at or below a checkpoint was pruned: the anchor at the checkpoint's last pruned row
-- must have its hash; one below it is past, which the chain, continuing beyond it, shows.
CREATE OR REPLACE FUNCTION public.verify_secret_access_log(
  anchor_id bigint DEFAULT NULL,
  anchor_hash text DEFAULT NULL
) RETURNS TABLE (
  intact boolean,
  rows_checked bigint,
  first_broken_id bigint,
  reason text,
  last_id bigint,
  last_hash text
)
  LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
  AS $$
  DECLARE
    r record;
    checkpoint keywarden.audit_checkpoints;
    previous bytea := pg_catalog.decode(pg_catalog.repeat('00', 32), 'hex');
    computed bytea;
    anchor_seen boolean := false;
    checkpoint_seen boolean := false;
  BEGIN
    IF (verify_secret_access_log.anchor_id IS NULL) <> (verify_secret_access_log.anchor_hash IS NULL)
       OR verify_secret_access_log.anchor_hash !~ '^[0-9a-f]{64}$' THEN
      RAISE EXCEPTION 'an anchor is a row id and its hash (64 lower-case hex characters), both or neither'
        USING ERRCODE = 'KW012';
    END IF;
    intact := true;
    rows_checked := 0;
    SELECT c.* INTO checkpoint FROM keywarden.audit_checkpoints c ORDER BY c.id DESC LIMIT 1;
    IF checkpoint.id IS NOT NULL THEN
      previous := checkpoint.pruned_through_hash;
      IF verify_secret_access_log.anchor_id = checkpoint.pruned_through_id THEN
        IF pg_catalog.encode(checkpoint.pruned_through_hash, 'hex') <> verify_secret_access_log.anchor_hash THEN
          intact := false; first_broken_id := checkpoint.pruned_through_id; reason := 'anchor_mismatch';
          RETURN NEXT; RETURN;
        END IF;
        anchor_seen := true;
      ELSIF verify_secret_access_log.anchor_id < checkpoint.pruned_through_id THEN
        anchor_seen := true;
      END IF;
    END IF;
    FOR r IN SELECT * FROM public.secret_access_log l
              WHERE l.id > coalesce(checkpoint.pruned_through_id, 0) ORDER BY l.id LOOP
      computed := keywarden.audit_row_hash(previous, r.id, r.secret_name, r.accessed_by,
        r.access_type, r.success, r.error_message, r.created_at, r.event_count, r.secret_version,
        r.source, r.client_time);
      IF computed IS DISTINCT FROM r.row_hash THEN
        intact := false; first_broken_id := r.id; reason := 'hash_mismatch';
        RETURN NEXT; RETURN;
      END IF;
      IF r.id = checkpoint.log_id THEN
        IF r.access_type <> 'audit_checkpoint'
           OR r.error_message IS DISTINCT FROM keywarden.audit_checkpoint_text(
                checkpoint.pruned_through_id, checkpoint.pruned_through_hash) THEN
          intact := false; first_broken_id := r.id; reason := 'checkpoint_mismatch';
          RETURN NEXT; RETURN;
        END IF;
        checkpoint_seen := true;
      END IF;
      IF r.id = verify_secret_access_log.anchor_id THEN
        IF pg_catalog.encode(r.row_hash, 'hex') <> verify_secret_access_log.anchor_hash THEN
          intact := false; first_broken_id := r.id; reason := 'anchor_mismatch';
          RETURN NEXT; RETURN;
        END IF;
        anchor_seen := true;
      END IF;
      rows_checked := rows_checked + 1;
      previous := computed;
      last_id := r.id;
      last_hash := pg_catalog.encode(r.row_hash, 'hex');
    END LOOP;
    IF checkpoint.id IS NOT NULL AND NOT checkpoint_seen THEN
      intact := false; first_broken_id := checkpoint.log_id; reason := 'checkpoint_missing';
      RETURN NEXT; RETURN;
    END IF;
    IF verify_secret_access_log.anchor_id IS NOT NULL AND NOT anchor_seen THEN
      intact := false; reason := 'anchor_missing';
    END IF;
    RETURN NEXT;
  END
  $$;

-- Migration 6's, with the daily retention job beside the purge. The retention job does nothing
-- while the retention is NULL (forever).
CREATE OR REPLACE FUNCTION keywarden.schedule_jobs() RETURNS text[]
  LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
  AS $$
  BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_extension e WHERE e.extname = 'pg_cron') THEN
      RETURN ARRAY[]::text[];
    END IF;
    -- Dynamic: the cron schema does not exist where pg_cron is not installed.
    EXECUTE $cron$SELECT cron.schedule('keywarden-purge-expired-previous', '*/15 * * * *',
                                       'SELECT public.purge_expired_previous()')$cron$;
    EXECUTE $cron$SELECT cron.schedule('keywarden-audit-retention', '23 3 * * *',
                                       'CALL keywarden.run_audit_retention()')$cron$;
    RETURN ARRAY['keywarden-purge-expired-previous', 'keywarden-audit-retention'];
  END
  $$;

SELECT keywarden.schedule_jobs();

-- ---------------------------------------------------------------------------------------------
-- Grants, as in migration 3: service_role may prune (by the owner's setting only) and verify.
-- ---------------------------------------------------------------------------------------------

REVOKE ALL ON ALL FUNCTIONS IN SCHEMA keywarden FROM PUBLIC, anon, authenticated;
REVOKE ALL ON PROCEDURE keywarden.run_audit_retention(integer) FROM PUBLIC, anon, authenticated, service_role;
REVOKE ALL ON FUNCTION public.prune_secret_access_log(integer, text) FROM PUBLIC, anon, authenticated;
GRANT EXECUTE ON FUNCTION public.prune_secret_access_log(integer, text) TO service_role;
