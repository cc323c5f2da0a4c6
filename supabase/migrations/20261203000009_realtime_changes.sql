-- The Data API's row cap, and the change feed through Supabase Realtime.
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
-- 2. Where Supabase Realtime exists (the `realtime.send` function), a trigger on
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
-- The change feed through Supabase Realtime, where it exists
-- ---------------------------------------------------------------------------------------------

DO $realtime$
BEGIN
  IF pg_catalog.to_regprocedure('realtime.send(jsonb, text, text, boolean)') IS NULL THEN
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
