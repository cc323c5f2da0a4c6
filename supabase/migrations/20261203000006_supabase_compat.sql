-- Supabase compatibility (issue 11): what a real Supabase database needs beyond plain PostgreSQL.
--
-- * No foreign key or trigger on vault.secrets. On Supabase `supabase_admin` owns that table and
--   `postgres`, which runs the migrations, has only SELECT and DELETE on it (no REFERENCES, no
--   TRIGGER). Migrations 3 and 5 no longer create the keys; installs made before drop them here.
--   What their ON DELETE did is now done explicitly, by index:
--   - deleting a keywarden.secrets row deletes the vault rows it points at (current, previous,
--     pending), by a trigger on keywarden.secrets, which Keywarden owns;
--   - the functions that delete vault rows delete or clear the metadata that pointed at them;
--   - a vault row deleted outside Keywarden (the dashboard, or `DELETE FROM vault.secrets` as
--     service_role, which Supabase's grants allow) leaves metadata behind: the next change of
--     that name settles it (keywarden.lock_name), and no listing shows it meanwhile.
-- * get_secrets decrypts only the rows it was asked for, whatever plan PostgreSQL picks.
-- * keywarden.schedule_jobs() schedules the pg_cron jobs, for pg_cron enabled after the
--   migrations (as Supabase users do, from the dashboard); `keywarden db migrate` calls it.

-- ---------------------------------------------------------------------------------------------
-- No foreign keys to vault.secrets
-- ---------------------------------------------------------------------------------------------

DO $$
DECLARE
  fk record;
BEGIN
  FOR fk IN
    SELECT c.conname
      FROM pg_catalog.pg_constraint c
     WHERE c.conrelid = 'keywarden.secrets'::pg_catalog.regclass
       AND c.contype = 'f'
       AND c.confrelid = 'vault.secrets'::pg_catalog.regclass
  LOOP
    EXECUTE pg_catalog.format('ALTER TABLE keywarden.secrets DROP CONSTRAINT %I', fk.conname);
  END LOOP;
END
$$;

-- vault_secret_id is UNIQUE (indexed already); these find who points at a previous or pending row.
CREATE INDEX IF NOT EXISTS secrets_previous_vault_secret_id_idx
  ON keywarden.secrets (previous_vault_secret_id) WHERE previous_vault_secret_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS secrets_pending_vault_secret_id_idx
  ON keywarden.secrets (pending_vault_secret_id) WHERE pending_vault_secret_id IS NOT NULL;

-- Deleting a secret's metadata deletes every vault row it points at (what ON DELETE CASCADE did
-- from the other side, plus migration 5's pending-value trigger, which this one replaces).
CREATE FUNCTION keywarden.drop_vault_rows() RETURNS trigger
  LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
  AS $$
  BEGIN
    DELETE FROM vault.secrets v
     WHERE v.id IN (OLD.vault_secret_id, OLD.previous_vault_secret_id, OLD.pending_vault_secret_id);
    RETURN OLD;
  END
  $$;

DROP TRIGGER secrets_drop_pending_value ON keywarden.secrets;
DROP FUNCTION keywarden.drop_pending_value();
CREATE TRIGGER secrets_drop_vault_rows
  AFTER DELETE ON keywarden.secrets
  FOR EACH ROW EXECUTE FUNCTION keywarden.drop_vault_rows();

-- Every writer of a name calls this first, so it is where a name's metadata is settled with the
-- vault before a change: metadata whose vault row is gone (deleted outside Keywarden) is
-- dropped, as ON DELETE CASCADE did, and pointers to gone previous or pending rows are cleared,
-- as ON DELETE SET NULL did. Primary-key lookups only.
--
-- It also refuses a session whose temporary schema shadows a built-in type or relation. The
-- writers call vault.create_secret / vault.update_secret, and on Supabase those belong to the
-- extension: SECURITY DEFINER as supabase_admin with `search_path = ''`, under which pg_temp is
-- searched first, so a caller's `pg_temp.text` domain would run its CHECK as the superuser.
-- Keywarden cannot re-pin the extension's functions, so it refuses to call them from such a
-- session (service_role may still call them directly: Supabase grants it that).
CREATE OR REPLACE FUNCTION keywarden.lock_name(name text) RETURNS void
  LANGUAGE plpgsql
  AS $$
  BEGIN
    IF pg_catalog.pg_my_temp_schema() <> 0 AND (
         EXISTS (SELECT 1 FROM pg_catalog.pg_type t
                  WHERE t.typnamespace = pg_catalog.pg_my_temp_schema()
                    AND EXISTS (SELECT 1 FROM pg_catalog.pg_type b
                                 WHERE b.typnamespace = 'pg_catalog'::pg_catalog.regnamespace
                                   AND b.typname = t.typname))
      OR EXISTS (SELECT 1 FROM pg_catalog.pg_class r
                  WHERE r.relnamespace = pg_catalog.pg_my_temp_schema()
                    AND EXISTS (SELECT 1 FROM pg_catalog.pg_class b
                                 WHERE b.relnamespace = 'pg_catalog'::pg_catalog.regnamespace
                                   AND b.relname = r.relname))) THEN
      RAISE EXCEPTION 'refused: this session''s temporary objects shadow built-in names'
        USING ERRCODE = '42501',
              HINT = 'Drop the temporary types or tables named like built-in ones, or use a new session.';
    END IF;
    PERFORM pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtextextended('keywarden:' || lock_name.name, 0));
    DELETE FROM keywarden.secrets m
     WHERE m.name = lock_name.name
       AND NOT EXISTS (SELECT 1 FROM vault.secrets v WHERE v.id = m.vault_secret_id);
    UPDATE keywarden.secrets m
       SET previous_vault_secret_id = NULL, previous_version = NULL, previous_valid_until = NULL
     WHERE m.name = lock_name.name AND m.previous_vault_secret_id IS NOT NULL
       AND NOT EXISTS (SELECT 1 FROM vault.secrets v WHERE v.id = m.previous_vault_secret_id);
    UPDATE keywarden.secrets m
       SET pending_vault_secret_id = NULL, pending_staged_at = NULL
     WHERE m.name = lock_name.name AND m.pending_vault_secret_id IS NOT NULL
       AND NOT EXISTS (SELECT 1 FROM vault.secrets v WHERE v.id = m.pending_vault_secret_id);
  END
  $$;

-- Reminders, metrics and alerts read the schedule: metadata whose vault row is gone is no
-- secret any more, so it is left out (one primary-key probe per secret).
CREATE OR REPLACE VIEW keywarden.secret_schedule AS
  SELECT m.name, m.secret_type, p.risk_level,
         coalesce(m.rotation_interval, p.rotation_interval) AS rotation_interval,
         m.rotation_interval IS NOT NULL AS interval_overridden,
         m.created_at, m.last_rotated_at, m.expires_at,
         coalesce(m.last_rotated_at, m.created_at) + coalesce(m.rotation_interval, p.rotation_interval)
           AS rotation_due_at,
         m.pending_staged_at
    FROM keywarden.secrets m
    JOIN keywarden.rotation_policies p ON p.secret_type = m.secret_type
   WHERE EXISTS (SELECT 1 FROM vault.secrets v WHERE v.id = m.vault_secret_id);

-- Deletes a secret and any previous value. Returns false (and audits the failure) when there
-- was nothing to delete. The metadata row goes explicitly (its trigger takes the pending value).
CREATE OR REPLACE FUNCTION public.delete_secret(
  secret_name text,
  accessed_by text DEFAULT NULL
) RETURNS boolean
  LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
  AS $$
  DECLARE
    who text := keywarden.accessor(delete_secret.accessed_by);
    deleted integer;
  BEGIN
    PERFORM keywarden.assert_valid_name(delete_secret.secret_name);
    PERFORM keywarden.lock_name(delete_secret.secret_name);
    DELETE FROM vault.secrets v
     WHERE v.name IN (delete_secret.secret_name, keywarden.previous_vault_name(delete_secret.secret_name));
    GET DIAGNOSTICS deleted = ROW_COUNT;
    DELETE FROM keywarden.secrets m WHERE m.name = delete_secret.secret_name;
    IF deleted = 0 THEN
      PERFORM keywarden.audit(delete_secret.secret_name, who, 'delete', false, 'secret not found');
      RETURN false;
    END IF;
    PERFORM keywarden.audit(delete_secret.secret_name, who, 'delete', true);
    PERFORM keywarden.notify_change(delete_secret.secret_name);
    RETURN true;
  END
  $$;

-- Drops the staged value; false (audited as a failure) when none was staged. Clears the pointer
-- itself (ON DELETE SET NULL did).
CREATE OR REPLACE FUNCTION public.discard_staged_rotation(
  secret_name text,
  accessed_by text DEFAULT NULL
) RETURNS boolean
  LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
  AS $$
  DECLARE
    who text := keywarden.accessor(discard_staged_rotation.accessed_by);
    deleted integer;
  BEGIN
    PERFORM keywarden.assert_valid_name(discard_staged_rotation.secret_name);
    PERFORM keywarden.lock_name(discard_staged_rotation.secret_name);
    DELETE FROM vault.secrets v WHERE v.name = keywarden.pending_vault_name(discard_staged_rotation.secret_name);
    GET DIAGNOSTICS deleted = ROW_COUNT;
    UPDATE keywarden.secrets m SET pending_vault_secret_id = NULL, pending_staged_at = NULL
     WHERE m.name = discard_staged_rotation.secret_name;
    PERFORM keywarden.audit(discard_staged_rotation.secret_name, who, 'discard_rotation', deleted > 0,
      CASE WHEN deleted = 0 THEN 'no staged rotation' END);
    RETURN deleted > 0;
  END
  $$;

-- ---------------------------------------------------------------------------------------------
-- get_secrets decrypts only what it was asked for
-- ---------------------------------------------------------------------------------------------

-- As migration 3's, with the decryption moved out of the joins. A LEFT JOIN to
-- vault.decrypted_secrets computes `decrypted_secret` where vault.secrets is scanned (it must
-- become NULL for unmatched rows), so a plan that scans the whole table — the generic plan
-- PostgreSQL switches to after five calls in a session, with a hash join — decrypted every vault
-- row, and one undecryptable row nobody asked for failed every batch. Here the join finds ids
-- on vault.secrets itself, and each requested row is decrypted by a scalar subquery on its id,
-- which the planner never turns into a join.
CREATE OR REPLACE FUNCTION public.get_secrets(
  secret_names text[],
  accessed_by text DEFAULT NULL,
  version text DEFAULT 'current'
) RETURNS TABLE (secret_name text, secret_value text, secret_version integer)
  LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
  AS $$
  DECLARE
    who text := keywarden.accessor(get_secrets.accessed_by);
    previous boolean;
    requested_name text;
  BEGIN
    IF get_secrets.secret_names IS NULL OR pg_catalog.cardinality(get_secrets.secret_names) > 1000 THEN
      RAISE EXCEPTION 'secret_names must be an array of at most 1000 names' USING ERRCODE = 'KW012';
    END IF;
    IF get_secrets.version IS NULL OR get_secrets.version NOT IN ('current', 'previous') THEN
      RAISE EXCEPTION 'invalid version: use current or previous' USING ERRCODE = 'KW012';
    END IF;
    previous := get_secrets.version = 'previous';
    FOREACH requested_name IN ARRAY get_secrets.secret_names LOOP
      PERFORM keywarden.assert_valid_name(requested_name);
    END LOOP;
    PERFORM keywarden.relax_read_commit();

    RETURN QUERY
      WITH requested AS (
        SELECT n.name, pg_catalog.min(n.ord) AS ord
          FROM pg_catalog.unnest(get_secrets.secret_names) WITH ORDINALITY AS n (name, ord)
         GROUP BY n.name
      ), found AS MATERIALIZED (
        -- Vault secrets made outside Keywarden have no metadata row; they read as version 1.
        SELECT r.ord, r.name, v.id AS vault_id, coalesce(m.version, 1) AS version
          FROM requested r
          JOIN vault.secrets v ON v.name = r.name
          LEFT JOIN keywarden.secrets m ON m.vault_secret_id = v.id
         WHERE NOT previous
        UNION ALL
        SELECT r.ord, r.name, m.previous_vault_secret_id, m.previous_version
          FROM requested r
          JOIN keywarden.secrets m ON m.name = r.name
         WHERE previous AND m.previous_valid_until > pg_catalog.now()
           AND m.previous_vault_secret_id IS NOT NULL
      ), decrypted AS MATERIALIZED (
        -- Materialized, so each value is decrypted once however often it is read below.
        SELECT r.ord, r.name, f.version,
               (SELECT s.decrypted_secret FROM vault.decrypted_secrets s WHERE s.id = f.vault_id) AS value
          FROM requested r
          LEFT JOIN found f ON f.name = r.name
      ), resolved AS (
        SELECT d.ord, d.name, d.value, CASE WHEN d.value IS NOT NULL THEN d.version END AS version
          FROM decrypted d
      ), logged AS (
        -- A data-modifying CTE runs whether or not it is read: one audit row per name.
        INSERT INTO public.secret_access_log
          (secret_name, accessed_by, access_type, success, error_message, secret_version)
        SELECT t.name, who, 'read', t.value IS NOT NULL,
               CASE WHEN t.value IS NOT NULL THEN NULL
                    WHEN previous THEN 'no previous value in its grace period'
                    ELSE 'secret not found' END,
               t.version
          FROM resolved t
      )
      SELECT t.name, t.value, t.version FROM resolved t ORDER BY t.ord;
  END
  $$;

-- ---------------------------------------------------------------------------------------------
-- pg_cron jobs
-- ---------------------------------------------------------------------------------------------

-- Schedules Keywarden's pg_cron jobs in this database, where pg_cron is installed here; returns
-- the names of the jobs it (re)scheduled, none without pg_cron. Idempotent: a job of the same
-- name is replaced, not duplicated. Migration 5 scheduled them only if pg_cron already existed
-- when it ran; on Supabase pg_cron is usually enabled later, from the dashboard, so run
-- `select keywarden.schedule_jobs();` after enabling it (`keywarden db migrate` runs it too).
-- The jobs run as the role that calls this (normally `postgres`, which owns the functions).
CREATE FUNCTION keywarden.schedule_jobs() RETURNS text[]
  LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
  AS $$
  BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_extension e WHERE e.extname = 'pg_cron') THEN
      RETURN ARRAY[]::text[];
    END IF;
    -- Dynamic: the cron schema does not exist where pg_cron is not installed.
    EXECUTE $cron$SELECT cron.schedule('keywarden-purge-expired-previous', '*/15 * * * *',
                                       'SELECT public.purge_expired_previous()')$cron$;
    RETURN ARRAY['keywarden-purge-expired-previous'];
  END
  $$;

SELECT keywarden.schedule_jobs();

-- ---------------------------------------------------------------------------------------------
-- Grants, as in migration 3
-- ---------------------------------------------------------------------------------------------

REVOKE ALL ON ALL FUNCTIONS IN SCHEMA keywarden FROM PUBLIC, anon, authenticated;
REVOKE ALL ON keywarden.secret_schedule FROM PUBLIC;

REVOKE ALL ON FUNCTION
  public.delete_secret(text, text),
  public.discard_staged_rotation(text, text),
  public.get_secrets(text[], text, text)
FROM PUBLIC, anon, authenticated;

GRANT EXECUTE ON FUNCTION
  public.delete_secret(text, text),
  public.discard_staged_rotation(text, text),
  public.get_secrets(text[], text, text)
TO service_role;

-- Supabase's default privileges in `public` gave anon, authenticated and service_role ALL on
-- the audit log and its identity sequence when migration 3 created them; revoking from anon and
-- authenticated there was not enough, since service_role could then INSERT forged rows.
REVOKE ALL ON TABLE public.secret_access_log FROM PUBLIC, anon, authenticated, service_role;
GRANT SELECT ON TABLE public.secret_access_log TO service_role;
REVOKE ALL ON SEQUENCE public.secret_access_log_id_seq FROM PUBLIC, anon, authenticated, service_role;
