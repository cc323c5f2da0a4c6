-- Rotation lifecycle, monitoring and alerts (issue 7):
-- * rotation policy by type (interval and risk level), with the per-secret interval override
--   that keywarden.secrets.rotation_interval already holds;
-- * staged rotation: a pending value, stored encrypted in the vault like any other, promoted to
--   current (the old one kept for the grace period) or discarded; it is never served as current;
-- * check_expiring_secrets with the risk level and a reminder window, and a claim table so that
--   one notification per secret per window is a database contract, even for concurrent callers;
-- * secret_metrics and secret_alerts over the audit log;
-- * purge_expired_previous, which pg_cron runs where that extension exists.
--
-- Time: every function that *reports* on time takes `p_now timestamptz DEFAULT now()`, so tests
-- and backfills evaluate it at any instant without waiting. Functions that *change* a secret
-- or read a value always use the real clock: a caller must not be able to backdate an audit row
-- or reopen an ended grace period.
--
-- Conventions as in migration 3: SECURITY DEFINER with an empty search_path, service_role only,
-- KW-class SQLSTATEs, no value in any message.

-- ---------------------------------------------------------------------------------------------
-- Rotation policy
-- ---------------------------------------------------------------------------------------------

-- A timestamp as ISO 8601 in UTC, for keys that must not depend on the session's time zone.
CREATE FUNCTION keywarden.utc_text(t timestamptz) RETURNS text
  LANGUAGE sql STABLE PARALLEL SAFE
  AS $$ SELECT pg_catalog.to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') $$;

-- One row per secret type: how often it rotates (NULL: by hand) and how bad a leak would be.
-- `other` is an unknown kind of secret: nothing to derive an interval from, so it rotates by
-- hand, and its risk is medium — it may be anything.
CREATE TABLE keywarden.rotation_policies (
  secret_type text PRIMARY KEY
    CHECK (secret_type IN ('github_token', 'api_key', 'service_key', 'signing_key', 'other')),
  rotation_interval interval CHECK (rotation_interval > interval '0'),
  risk_level text NOT NULL CHECK (risk_level IN ('low', 'medium', 'high', 'critical'))
);
REVOKE ALL ON keywarden.rotation_policies FROM PUBLIC;

INSERT INTO keywarden.rotation_policies (secret_type, rotation_interval, risk_level) VALUES
  ('github_token', interval '90 days', 'high'),
  ('api_key', interval '90 days', 'high'),
  ('service_key', interval '180 days', 'medium'),
  ('signing_key', NULL, 'critical'),
  ('other', NULL, 'medium');

-- The policy table becomes the single source of the default interval (migration 3 hard-coded
-- it); list_secret_names and check_expiring_secrets call this function.
CREATE OR REPLACE FUNCTION keywarden.default_rotation_interval(secret_type text) RETURNS interval
  LANGUAGE sql STABLE PARALLEL SAFE
  AS $$
    SELECT p.rotation_interval FROM keywarden.rotation_policies p
     WHERE p.secret_type = default_rotation_interval.secret_type
  $$;

-- Staged rotation (below) keeps its pending value beside the current one.
ALTER TABLE keywarden.secrets
  -- A staged value waiting for promotion, in a vault row named `<name>@pending`. No foreign key
  -- to vault.secrets (see migration 3).
  ADD COLUMN pending_vault_secret_id uuid,
  ADD COLUMN pending_staged_at timestamptz;

-- Every secret with metadata, its effective interval, risk level, rotation due date and expiry.
CREATE VIEW keywarden.secret_schedule AS
  SELECT m.name, m.secret_type, p.risk_level,
         coalesce(m.rotation_interval, p.rotation_interval) AS rotation_interval,
         m.rotation_interval IS NOT NULL AS interval_overridden,
         m.created_at, m.last_rotated_at, m.expires_at,
         coalesce(m.last_rotated_at, m.created_at) + coalesce(m.rotation_interval, p.rotation_interval)
           AS rotation_due_at,
         m.pending_staged_at
    FROM keywarden.secrets m
    JOIN keywarden.rotation_policies p ON p.secret_type = m.secret_type;
REVOKE ALL ON keywarden.secret_schedule FROM PUBLIC;

-- ---------------------------------------------------------------------------------------------
-- Staged rotation
-- ---------------------------------------------------------------------------------------------

CREATE FUNCTION keywarden.pending_vault_name(name text) RETURNS text
  LANGUAGE sql IMMUTABLE PARALLEL SAFE
  AS $$ SELECT name || '@pending' $$;

-- Stores `new_value` as the secret's pending value, replacing an earlier staged one. The current
-- value keeps serving; nothing is notified, since no reader's value changed. Returns when it was
-- staged.
CREATE FUNCTION public.stage_rotation(
  secret_name text,
  new_value text,
  accessed_by text DEFAULT NULL
) RETURNS timestamptz
  LANGUAGE plpgsql SECURITY DEFINER SET search_path = ''
  AS $$
  DECLARE
    who text := keywarden.accessor(stage_rotation.accessed_by);
    existing keywarden.secrets;
    current_value text;
    new_id uuid;
  BEGIN
    PERFORM keywarden.assert_valid_name(stage_rotation.secret_name);
    PERFORM keywarden.assert_valid_value(stage_rotation.new_value);
    PERFORM keywarden.lock_name(stage_rotation.secret_name);
    SELECT * INTO existing FROM keywarden.secrets m WHERE m.name = stage_rotation.secret_name;
    IF existing.name IS NULL THEN
      RAISE EXCEPTION 'secret % does not exist: store it before staging a rotation', stage_rotation.secret_name
        USING ERRCODE = 'KW404';
    END IF;
    -- As rotate_secret: a session under another root key must not stage what nobody can read.
    SELECT d.decrypted_secret INTO current_value
      FROM vault.decrypted_secrets d WHERE d.id = existing.vault_secret_id;

    -- By name, not by id: a pending row left behind by a deleted secret goes too.
    DELETE FROM vault.secrets v WHERE v.name = keywarden.pending_vault_name(stage_rotation.secret_name);
    new_id := vault.create_secret(stage_rotation.new_value,
                                  keywarden.pending_vault_name(stage_rotation.secret_name),
                                  'staged rotation of ' || stage_rotation.secret_name);
    UPDATE keywarden.secrets m
       SET pending_vault_secret_id = new_id, pending_staged_at = now(), updated_at = now()
     WHERE m.name = stage_rotation.secret_name;
    PERFORM keywarden.audit(stage_rotation.secret_name, who, 'stage_rotation', true);
    RETURN now();
  END
  $$;

-- The staged value, for a verification check before promotion; NULL when none is staged. Audited
-- as `read_pending`, never as a read of the current value.
CREATE FUNCTION public.get_staged_secret(
  secret_name text,
  accessed_by text DEFAULT NULL
) RETURNS text
  LANGUAGE plpgsql SECURITY DEFINER SET search_path = ''
  AS $$
  DECLARE
    who text := keywarden.accessor(get_staged_secret.accessed_by);
    found_value text;
  BEGIN
    PERFORM keywarden.assert_valid_name(get_staged_secret.secret_name);
    SELECT d.decrypted_secret INTO found_value
      FROM keywarden.secrets m
      JOIN vault.decrypted_secrets d ON d.id = m.pending_vault_secret_id
     WHERE m.name = get_staged_secret.secret_name;
    PERFORM keywarden.audit(get_staged_secret.secret_name, who, 'read_pending', found_value IS NOT NULL,
      CASE WHEN found_value IS NULL THEN 'no staged rotation' END);
    RETURN found_value;
  END
  $$;

-- Makes the staged value current exactly as rotate_secret would (new version, previous value
-- kept for grace_period, NOTIFY). KW404 when nothing is staged.
CREATE FUNCTION public.promote_staged_rotation(
  secret_name text,
  grace_period interval DEFAULT interval '24 hours',
  accessed_by text DEFAULT NULL
) RETURNS TABLE (secret_id uuid, secret_version integer, previous_valid_until timestamptz)
  LANGUAGE plpgsql SECURITY DEFINER SET search_path = ''
  AS $$
  DECLARE
    pending_id uuid;
    staged_value text;
  BEGIN
    PERFORM keywarden.assert_valid_name(promote_staged_rotation.secret_name);
    PERFORM keywarden.lock_name(promote_staged_rotation.secret_name);
    SELECT m.pending_vault_secret_id INTO pending_id
      FROM keywarden.secrets m WHERE m.name = promote_staged_rotation.secret_name;
    IF pending_id IS NULL THEN
      RAISE EXCEPTION 'secret % has no staged rotation to promote', promote_staged_rotation.secret_name
        USING ERRCODE = 'KW404';
    END IF;
    SELECT d.decrypted_secret INTO staged_value FROM vault.decrypted_secrets d WHERE d.id = pending_id;
    UPDATE keywarden.secrets m SET pending_vault_secret_id = NULL, pending_staged_at = NULL
     WHERE m.name = promote_staged_rotation.secret_name;
    DELETE FROM vault.secrets v WHERE v.id = pending_id;
    -- One rotation path: the grace period, versioning, audit row and NOTIFY are rotate_secret's.
    RETURN QUERY SELECT * FROM public.rotate_secret(promote_staged_rotation.secret_name, staged_value,
                                                    promote_staged_rotation.grace_period,
                                                    promote_staged_rotation.accessed_by);
  END
  $$;

-- Drops the staged value; false (audited as a failure) when none was staged.
CREATE FUNCTION public.discard_staged_rotation(
  secret_name text,
  accessed_by text DEFAULT NULL
) RETURNS boolean
  LANGUAGE plpgsql SECURITY DEFINER SET search_path = ''
  AS $$
  DECLARE
    who text := keywarden.accessor(discard_staged_rotation.accessed_by);
    deleted integer;
  BEGIN
    PERFORM keywarden.assert_valid_name(discard_staged_rotation.secret_name);
    PERFORM keywarden.lock_name(discard_staged_rotation.secret_name);
    DELETE FROM vault.secrets v WHERE v.name = keywarden.pending_vault_name(discard_staged_rotation.secret_name);
    GET DIAGNOSTICS deleted = ROW_COUNT;
    UPDATE keywarden.secrets m SET pending_staged_at = NULL
     WHERE m.name = discard_staged_rotation.secret_name;
    PERFORM keywarden.audit(discard_staged_rotation.secret_name, who, 'discard_rotation', deleted > 0,
      CASE WHEN deleted = 0 THEN 'no staged rotation' END);
    RETURN deleted > 0;
  END
  $$;

-- Deleting a secret (delete_secret drops its vault row, which cascades to the metadata) drops
-- its staged value too, rather than leaving an orphan `<name>@pending` vault row behind.
CREATE FUNCTION keywarden.drop_pending_value() RETURNS trigger
  LANGUAGE plpgsql SET search_path = ''
  AS $$
  BEGIN
    DELETE FROM vault.secrets v WHERE v.id = OLD.pending_vault_secret_id;
    RETURN OLD;
  END
  $$;

CREATE TRIGGER secrets_drop_pending_value
  AFTER DELETE ON keywarden.secrets
  FOR EACH ROW WHEN (OLD.pending_vault_secret_id IS NOT NULL)
  EXECUTE FUNCTION keywarden.drop_pending_value();

-- ---------------------------------------------------------------------------------------------
-- Grace period end
-- ---------------------------------------------------------------------------------------------

-- Removes previous values whose grace period ended by p_now, so they leave vault.decrypted_secrets
-- too (get_secret stops serving them at that instant either way; writes purge as they go, and
-- pg_cron runs this every 15 minutes where it exists). Returns how many were removed.
CREATE FUNCTION public.purge_expired_previous(p_now timestamptz DEFAULT now()) RETURNS integer
  LANGUAGE plpgsql SECURITY DEFINER SET search_path = ''
  AS $$
  DECLARE
    purged integer;
  BEGIN
    IF p_now IS NULL THEN
      RAISE EXCEPTION 'p_now must not be null' USING ERRCODE = 'KW012';
    END IF;
    DELETE FROM vault.secrets v
     USING keywarden.secrets m
     WHERE v.id = m.previous_vault_secret_id
       AND m.previous_valid_until <= p_now;
    GET DIAGNOSTICS purged = ROW_COUNT;
    UPDATE keywarden.secrets m
       SET previous_vault_secret_id = NULL, previous_version = NULL, previous_valid_until = NULL
     WHERE m.previous_valid_until <= p_now;
    RETURN purged;
  END
  $$;

-- ---------------------------------------------------------------------------------------------
-- Reminders
-- ---------------------------------------------------------------------------------------------

DROP FUNCTION public.check_expiring_secrets(integer, text);

-- Secrets that expire, or fall due for rotation, within `days` days of p_now (or already have),
-- with their risk level and the reminder window they are in: `<reason>:<due, UTC>:upcoming`
-- while due within the window, `…:overdue` once past. A window key changes when the due date
-- does (a rotation, a new expiry), so each secret gets one reminder per window.
CREATE FUNCTION public.check_expiring_secrets(
  days integer DEFAULT 7,
  accessed_by text DEFAULT NULL,
  p_now timestamptz DEFAULT now()
) RETURNS TABLE (
  name text,
  secret_type text,
  reason text,
  due_at timestamptz,
  expires_at timestamptz,
  rotation_due_at timestamptz,
  overdue boolean,
  risk_level text,
  reminder_window text
)
  LANGUAGE plpgsql SECURITY DEFINER SET search_path = ''
  AS $$
  BEGIN
    IF check_expiring_secrets.days IS NULL OR check_expiring_secrets.days < 0
       OR check_expiring_secrets.days > 3650 THEN
      RAISE EXCEPTION 'invalid days: use 0 to 3650' USING ERRCODE = 'KW012';
    END IF;
    IF check_expiring_secrets.p_now IS NULL THEN
      RAISE EXCEPTION 'p_now must not be null' USING ERRCODE = 'KW012';
    END IF;
    PERFORM keywarden.audit('*', keywarden.accessor(check_expiring_secrets.accessed_by),
                            'check_expiring', true);
    RETURN QUERY
      WITH due AS (
        SELECT s.name, s.secret_type, s.risk_level, s.expires_at, s.rotation_due_at,
               CASE WHEN s.expires_at IS NOT NULL
                         AND (s.rotation_due_at IS NULL OR s.expires_at <= s.rotation_due_at)
                    THEN 'expires' ELSE 'rotation_due' END AS reason,
               least(s.expires_at, s.rotation_due_at) AS due_at
          FROM keywarden.secret_schedule s
      )
      SELECT d.name, d.secret_type, d.reason, d.due_at, d.expires_at, d.rotation_due_at,
             d.due_at <= check_expiring_secrets.p_now,
             d.risk_level,
             d.reason || ':' || keywarden.utc_text(d.due_at)
               || CASE WHEN d.due_at <= check_expiring_secrets.p_now THEN ':overdue' ELSE ':upcoming' END
        FROM due d
       WHERE d.due_at <= check_expiring_secrets.p_now + pg_catalog.make_interval(days => check_expiring_secrets.days)
       ORDER BY d.due_at, d.name;
  END
  $$;

-- What has been notified: one row per (kind, secret, window). The primary key is the contract:
-- a second claim of the same key, concurrent or later, claims nothing.
CREATE TABLE keywarden.sent_notifications (
  kind text NOT NULL CHECK (kind ~ '^[a-z][a-z_]{0,31}$'),
  secret_name text NOT NULL CHECK (pg_catalog.length(secret_name) BETWEEN 1 AND 200),
  window_key text NOT NULL CHECK (pg_catalog.length(window_key) BETWEEN 1 AND 500),
  claimed_by text NOT NULL,
  claimed_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (kind, secret_name, window_key)
);
REVOKE ALL ON keywarden.sent_notifications FROM PUBLIC;

-- Validates a claims argument: a JSON array of at most 1000 {kind, secret_name, window_key}.
CREATE FUNCTION keywarden.assert_valid_claims(claims jsonb) RETURNS void
  LANGUAGE plpgsql IMMUTABLE
  AS $$
  BEGIN
    IF claims IS NULL OR pg_catalog.jsonb_typeof(claims) <> 'array'
       OR pg_catalog.jsonb_array_length(claims) > 1000 THEN
      RAISE EXCEPTION 'claims must be a JSON array of at most 1000 objects' USING ERRCODE = 'KW012';
    END IF;
    IF EXISTS (
      SELECT 1 FROM pg_catalog.jsonb_array_elements(claims) AS c (claim)
       WHERE pg_catalog.jsonb_typeof(c.claim) IS DISTINCT FROM 'object'
          OR pg_catalog.jsonb_typeof(c.claim->'kind') IS DISTINCT FROM 'string'
          OR c.claim->>'kind' !~ '^[a-z][a-z_]{0,31}$'
          OR pg_catalog.jsonb_typeof(c.claim->'secret_name') IS DISTINCT FROM 'string'
          OR pg_catalog.length(c.claim->>'secret_name') NOT BETWEEN 1 AND 200
          OR pg_catalog.jsonb_typeof(c.claim->'window_key') IS DISTINCT FROM 'string'
          OR pg_catalog.length(c.claim->>'window_key') NOT BETWEEN 1 AND 500
    ) THEN
      RAISE EXCEPTION 'each claim needs kind (a-z, _), secret_name and window_key (strings)'
        USING ERRCODE = 'KW012';
    END IF;
  END
  $$;

-- Claims notification keys; returns the ones this call claimed — those nobody had claimed
-- before. Concurrent callers claiming one key wait for each other on the primary key, so exactly
-- one of them gets it. A sender releases a claim it could not deliver (release_notifications).
CREATE FUNCTION public.claim_notifications(
  claims jsonb,
  accessed_by text DEFAULT NULL
) RETURNS TABLE (kind text, secret_name text, window_key text)
  LANGUAGE plpgsql SECURITY DEFINER SET search_path = ''
  AS $$
  DECLARE
    who text := keywarden.accessor(claim_notifications.accessed_by);
  BEGIN
    PERFORM keywarden.assert_valid_claims(claim_notifications.claims);
    RETURN QUERY
      WITH claimed AS (
        INSERT INTO keywarden.sent_notifications AS s (kind, secret_name, window_key, claimed_by)
        SELECT DISTINCT c.kind, c.secret_name, c.window_key, who
          FROM pg_catalog.jsonb_to_recordset(claim_notifications.claims)
               AS c (kind text, secret_name text, window_key text)
        ON CONFLICT DO NOTHING
        RETURNING s.kind, s.secret_name, s.window_key
      )
      SELECT c.kind, c.secret_name, c.window_key FROM claimed c;
  END
  $$;

-- Gives claims back (their delivery failed), so the next run sends them. Returns how many.
CREATE FUNCTION public.release_notifications(claims jsonb) RETURNS integer
  LANGUAGE plpgsql SECURITY DEFINER SET search_path = ''
  AS $$
  DECLARE
    released integer;
  BEGIN
    PERFORM keywarden.assert_valid_claims(release_notifications.claims);
    DELETE FROM keywarden.sent_notifications s
     USING pg_catalog.jsonb_to_recordset(release_notifications.claims)
           AS c (kind text, secret_name text, window_key text)
     WHERE s.kind = c.kind AND s.secret_name = c.secret_name AND s.window_key = c.window_key;
    GET DIAGNOSTICS released = ROW_COUNT;
    RETURN released;
  END
  $$;

-- ---------------------------------------------------------------------------------------------
-- Metrics and alerts over the audit log
-- ---------------------------------------------------------------------------------------------

-- Audit rows that use a secret (reads, cache hits, env fallbacks, a front door's own kinds),
-- as opposed to managing it.
CREATE FUNCTION keywarden.is_use(access_type text) RETURNS boolean
  LANGUAGE sql IMMUTABLE PARALLEL SAFE
  AS $$
    SELECT access_type NOT IN ('store', 'rotate', 'delete', 'stage_rotation', 'discard_rotation',
                               'list', 'check_expiring')
  $$;

-- For per-accessor failure bursts and first reads by an accessor.
CREATE INDEX secret_access_log_accessor_idx
  ON public.secret_access_log (accessed_by, created_at);
CREATE INDEX secret_access_log_failures_idx
  ON public.secret_access_log (created_at) WHERE NOT success OR access_type = 'auth_failure';
CREATE INDEX secret_access_log_secret_accessor_idx
  ON public.secret_access_log (secret_name, accessed_by, created_at);

-- Per secret, as of p_now: uses (events, not rows: aggregated cache hits count their
-- event_count) in the last 24 hours and 7 days, the failed share of the 7 days' uses, the
-- accessors of those 7 days, the last successful use, and the rotation state. Not audited: it
-- touches no value.
CREATE FUNCTION public.secret_metrics(p_now timestamptz DEFAULT now())
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
  LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = '' SET jit = off
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
               pg_catalog.array_agg(DISTINCT u.accessed_by ORDER BY u.accessed_by) AS accessors
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
             (SELECT pg_catalog.max(l.created_at) FROM public.secret_access_log l
               WHERE l.secret_name = s.name AND l.success AND keywarden.is_use(l.access_type)
                 AND l.created_at <= secret_metrics.p_now),
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

-- Alerts between p_since (default: 24 hours before p_now) and p_now:
-- * failed_access_burst (high): more than 5 failed events — failed reads or writes, and the
--   edge plugin's `auth_failure` rows — by one accessor within one hour (a sliding window, both
--   ends included), one alert per accessor and UTC hour in which the count was over 5;
-- * new_accessor (medium): an accessor's first successful use of a secret that others already
--   used before it;
-- * access_spike (high): a UTC hour with more than 10 × the secret's median hourly uses over the
--   up to 168 hours before it (counted from the secret's first audit row; at least 1, and at
--   least 24 hours of history);
-- * rotation_overdue (the type's risk level) and secret_expired (critical): while true,
--   whatever p_since is.
-- alert_key identifies an alert across calls (the claim key for "new alerts"); evidence holds
-- its counts and times.
CREATE FUNCTION public.secret_alerts(
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
  LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = '' SET jit = off
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
      ), newcomers AS MATERIALIZED (
        -- Cheap index probes first (never used it before `since`; someone else used it before
        -- its first use); only the few survivors collect their evidence below.
        SELECT f.*
          FROM firsts f
         WHERE NOT EXISTS (
                 SELECT 1 FROM public.secret_access_log o
                  WHERE o.secret_name = f.secret_name AND o.accessed_by = f.accessed_by
                    AND o.created_at < since AND o.success AND keywarden.is_use(o.access_type))
           -- A scalar subquery with LIMIT 1, not EXISTS: the planner would hash the whole log
           -- for a semi join, where one index probe per candidate finds any earlier row.
           AND (SELECT 1 FROM public.secret_access_log o
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
          FROM trailing_hours t
          CROSS JOIN LATERAL (
            SELECT pg_catalog.percentile_cont(0.5) WITHIN GROUP (ORDER BY x.uses) AS median
              FROM pg_catalog.unnest(t.previous) AS x (uses)
          ) m
         WHERE t.hour >= pg_catalog.date_trunc('hour', since, 'UTC')
           AND t.uses > 10
           AND t.hours >= 24
           AND t.uses > 10 * greatest(m.median, 1)
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
-- pg_cron, where it exists (Supabase offers it; plain PostgreSQL and PGlite do not have it)
-- ---------------------------------------------------------------------------------------------

-- Ends grace periods in the vault itself every 15 minutes. The reminder job needs the webhook
-- URL and a bearer token, which a migration must not hold; docs/sql-api.md shows the cron.schedule
-- call that posts to the edge plugin's /cron/rotation-check route through pg_net.
DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_catalog.pg_extension e WHERE e.extname = 'pg_cron') THEN
    EXECUTE $cron$SELECT cron.schedule('keywarden-purge-expired-previous', '*/15 * * * *',
                                       'SELECT public.purge_expired_previous()')$cron$;
  END IF;
END
$$;

-- ---------------------------------------------------------------------------------------------
-- Grants: service_role only, as in migration 3.
-- ---------------------------------------------------------------------------------------------

REVOKE ALL ON ALL FUNCTIONS IN SCHEMA keywarden FROM PUBLIC, anon, authenticated;

REVOKE ALL ON FUNCTION
  public.stage_rotation(text, text, text),
  public.get_staged_secret(text, text),
  public.promote_staged_rotation(text, interval, text),
  public.discard_staged_rotation(text, text),
  public.purge_expired_previous(timestamptz),
  public.check_expiring_secrets(integer, text, timestamptz),
  public.claim_notifications(jsonb, text),
  public.release_notifications(jsonb),
  public.secret_metrics(timestamptz),
  public.secret_alerts(timestamptz, timestamptz)
FROM PUBLIC, anon, authenticated;

GRANT EXECUTE ON FUNCTION
  public.stage_rotation(text, text, text),
  public.get_staged_secret(text, text),
  public.promote_staged_rotation(text, interval, text),
  public.discard_staged_rotation(text, text),
  public.purge_expired_previous(timestamptz),
  public.check_expiring_secrets(integer, text, timestamptz),
  public.claim_notifications(jsonb, text),
  public.release_notifications(jsonb),
  public.secret_metrics(timestamptz),
  public.secret_alerts(timestamptz, timestamptz)
TO service_role;
