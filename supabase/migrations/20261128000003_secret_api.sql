-- Keywarden's SQL API: secret metadata, the audit log and the public functions every front
-- door calls (directly, or through PostgREST's /rpc on Supabase).
--
-- Conventions:
-- * Every public function is SECURITY DEFINER with an empty search_path, revoked from PUBLIC,
--   anon and authenticated, and granted to service_role only. The keywarden.* helpers they call
--   are fully schema-qualified and run inside that empty search_path; a SET clause of their own
--   would cost a configuration switch on every call of the read path.
-- * Every access writes its row to public.secret_access_log in the same transaction.
-- * Every change sends NOTIFY keywarden_secrets with the secret's name (delivered on commit).
-- * Errors carry Keywarden's own SQLSTATEs (class KW) so clients map them to stable codes:
--     KW001 root key missing · KW002 root key malformed · KW003 decryption failed
--     KW010 invalid name · KW011 invalid value · KW012 invalid argument · KW404 no such secret
--   No message ever contains a secret value, nor an invalid name (it may be a misplaced value).

-- ---------------------------------------------------------------------------------------------
-- Validation helpers
-- ---------------------------------------------------------------------------------------------

CREATE FUNCTION keywarden.is_valid_name(name text) RETURNS boolean
  LANGUAGE sql IMMUTABLE PARALLEL SAFE
  AS $$ SELECT name IS NOT NULL AND name ~ '^[a-z0-9][a-z0-9_.-]{0,127}$' $$;

CREATE FUNCTION keywarden.assert_valid_name(name text) RETURNS void
  LANGUAGE plpgsql IMMUTABLE
  AS $$
  BEGIN
    IF NOT keywarden.is_valid_name(name) THEN
      RAISE EXCEPTION 'invalid secret name (% characters): a name is 1 to 128 characters of a-z, 0-9, "_", "." and "-", starting with a letter or digit',
        coalesce(pg_catalog.length(name), 0)
        USING ERRCODE = 'KW010';
    END IF;
  END
  $$;

CREATE FUNCTION keywarden.assert_valid_value(value text) RETURNS void
  LANGUAGE plpgsql IMMUTABLE
  AS $$
  BEGIN
    IF value IS NULL OR value = '' THEN
      RAISE EXCEPTION 'invalid secret value: it is empty' USING ERRCODE = 'KW011';
    END IF;
    IF pg_catalog.octet_length(value) > 65536 THEN
      RAISE EXCEPTION 'invalid secret value: % bytes is over the 65536-byte limit', pg_catalog.octet_length(value)
        USING ERRCODE = 'KW011';
    END IF;
  END
  $$;

-- Whether a JSON value is an integer from `minimum` to 2147483647 (an `integer` column's top).
CREATE FUNCTION keywarden.is_int4_from(value jsonb, minimum integer) RETURNS boolean
  LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = ''
  AS $$
    SELECT coalesce(pg_catalog.jsonb_typeof(value) = 'number'
                    AND CASE WHEN value::text ~ '^-?[0-9]{1,10}$'
                             THEN value::text::bigint BETWEEN minimum AND 2147483647 ELSE false END,
                    false)
  $$;

-- Whether a JSON value is a string that reads as a timestamptz.
CREATE FUNCTION keywarden.is_timestamptz(value jsonb) RETURNS boolean
  LANGUAGE plpgsql STABLE SET search_path = ''
  AS $$
  BEGIN
    IF pg_catalog.jsonb_typeof(value) IS DISTINCT FROM 'string' THEN
      RETURN false;
    END IF;
    PERFORM (value #>> '{}')::timestamptz;
    RETURN true;
  EXCEPTION WHEN data_exception THEN
    RETURN false;
  END
  $$;

-- Who is asking, as written to the audit log: the caller's label, else the database user.
CREATE FUNCTION keywarden.accessor(accessed_by text) RETURNS text
  LANGUAGE plpgsql STABLE
  AS $$
  BEGIN
    IF accessed_by IS NULL OR accessed_by = '' THEN
      RETURN 'sql:' || session_user;
    END IF;
    IF pg_catalog.length(accessed_by) > 200 THEN
      RAISE EXCEPTION 'accessed_by is over 200 characters' USING ERRCODE = 'KW012';
    END IF;
    RETURN accessed_by;
  END
  $$;

-- ---------------------------------------------------------------------------------------------
-- Secret metadata (values live in the vault only)
-- ---------------------------------------------------------------------------------------------

CREATE FUNCTION keywarden.default_rotation_interval(secret_type text) RETURNS interval
  LANGUAGE sql IMMUTABLE PARALLEL SAFE
  AS $$
    SELECT CASE secret_type
      WHEN 'github_token' THEN interval '90 days'
      WHEN 'api_key' THEN interval '90 days'
      WHEN 'service_key' THEN interval '180 days'
      ELSE NULL -- signing keys and others rotate by hand
    END
  $$;

CREATE TABLE keywarden.secrets (
  name text PRIMARY KEY CHECK (keywarden.is_valid_name(name)),
  -- No foreign keys to vault.secrets: on Supabase the extension's owner (supabase_admin) owns
  -- that table and `postgres` has no REFERENCES on it. Migration 6 does explicitly what ON DELETE
  -- did (and drops the keys from installs that have them).
  vault_secret_id uuid NOT NULL UNIQUE,
  secret_type text NOT NULL DEFAULT 'other'
    CHECK (secret_type IN ('github_token', 'api_key', 'service_key', 'signing_key', 'other')),
  description text,
  expires_at timestamptz,
  -- NULL: the type's default (keywarden.default_rotation_interval).
  rotation_interval interval CHECK (rotation_interval > interval '0'),
  version integer NOT NULL DEFAULT 1 CHECK (version > 0),
  last_rotated_at timestamptz,
  -- The value before the last rotation, served on request until previous_valid_until. Its
  -- version is kept too: a store after the rotation moves `version` on, not the previous value.
  previous_vault_secret_id uuid,
  previous_version integer CHECK (previous_version > 0),
  previous_valid_until timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX secrets_previous_valid_until_idx ON keywarden.secrets (previous_valid_until)
  WHERE previous_valid_until IS NOT NULL;
REVOKE ALL ON keywarden.secrets FROM PUBLIC;

-- The vault row holding the previous value is named so that no valid secret name can clash.
CREATE FUNCTION keywarden.previous_vault_name(name text) RETURNS text
  LANGUAGE sql IMMUTABLE PARALLEL SAFE
  AS $$ SELECT name || '@previous' $$;

-- Removes previous values whose grace period has ended, from the vault and the metadata.
CREATE FUNCTION keywarden.purge_expired_previous() RETURNS integer
  LANGUAGE plpgsql SET search_path = ''
  AS $$
  DECLARE
    purged integer;
  BEGIN
    DELETE FROM vault.secrets v
     USING keywarden.secrets m
     WHERE v.id = m.previous_vault_secret_id
       AND m.previous_valid_until <= now();
    GET DIAGNOSTICS purged = ROW_COUNT;
    UPDATE keywarden.secrets m
       SET previous_vault_secret_id = NULL, previous_version = NULL, previous_valid_until = NULL
     WHERE m.previous_valid_until <= now();
    RETURN purged;
  END
  $$;

-- Serialises changes to one name across sessions (creation included, where no row exists yet
-- to lock), so concurrent writers see strictly increasing versions.
CREATE FUNCTION keywarden.lock_name(name text) RETURNS void
  LANGUAGE sql
  AS $$ SELECT pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtextextended('keywarden:' || name, 0)) $$;

-- ---------------------------------------------------------------------------------------------
-- The audit log
-- ---------------------------------------------------------------------------------------------

CREATE TABLE public.secret_access_log (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  secret_name text NOT NULL,
  accessed_by text NOT NULL,
  access_type text NOT NULL CHECK (access_type ~ '^[a-z][a-z_]{0,31}$'),
  success boolean NOT NULL,
  error_message text,
  created_at timestamptz NOT NULL DEFAULT now(),
  -- Aggregated client events (e.g. cache hits counted per minute) carry their count.
  event_count integer NOT NULL DEFAULT 1 CHECK (event_count > 0),
  secret_version integer,
  -- Which tier served a client-side event: cache, stale, env.
  source text
);
COMMENT ON TABLE public.secret_access_log IS
  'Every access to a Keywarden secret. Append-only; never holds a secret value.';
CREATE INDEX secret_access_log_created_at_idx ON public.secret_access_log (created_at DESC);
CREATE INDEX secret_access_log_secret_name_idx ON public.secret_access_log (secret_name, created_at DESC);

CREATE FUNCTION keywarden.refuse_audit_change() RETURNS trigger
  LANGUAGE plpgsql SET search_path = ''
  AS $$
  BEGIN
    -- The table's owner may still prune (retention); nobody else may change history.
    IF current_user = (SELECT pg_catalog.pg_get_userbyid(c.relowner)
                         FROM pg_catalog.pg_class c WHERE c.oid = TG_RELID) THEN
      RETURN CASE TG_OP WHEN 'DELETE' THEN OLD ELSE NEW END;
    END IF;
    RAISE EXCEPTION 'public.secret_access_log is append-only: % is refused', TG_OP
      USING ERRCODE = '42501';
  END
  $$;

CREATE TRIGGER secret_access_log_append_only
  BEFORE UPDATE OR DELETE ON public.secret_access_log
  FOR EACH ROW EXECUTE FUNCTION keywarden.refuse_audit_change();
CREATE TRIGGER secret_access_log_no_truncate
  BEFORE TRUNCATE ON public.secret_access_log
  FOR EACH STATEMENT EXECUTE FUNCTION keywarden.refuse_audit_change();

CREATE FUNCTION keywarden.audit(
  secret_name text, accessed_by text, access_type text, success boolean,
  error_message text DEFAULT NULL, secret_version integer DEFAULT NULL
) RETURNS void
  LANGUAGE sql
  AS $$
    INSERT INTO public.secret_access_log
      (secret_name, accessed_by, access_type, success, error_message, secret_version)
    VALUES (secret_name, accessed_by, access_type, success, error_message, secret_version)
  $$;

-- Reads commit without waiting for their WAL flush: the read and its audit row still commit
-- together or not at all, but a server crash in the next few hundred milliseconds may lose both
-- — while the value was already served. This halves a cold read's latency (the flush costs more
-- than the read). Only a transaction that has written nothing else is relaxed, so a caller's
-- own writes keep their durability. `SET keywarden.durable_read_audit = on` (per session, or
-- ALTER DATABASE … SET) keeps reads synchronous.
CREATE FUNCTION keywarden.relax_read_commit() RETURNS void
  LANGUAGE plpgsql
  AS $$
  BEGIN
    IF pg_catalog.pg_current_xact_id_if_assigned() IS NULL
       AND coalesce(pg_catalog.current_setting('keywarden.durable_read_audit', true), '') NOT IN ('on', 'true', '1') THEN
      PERFORM pg_catalog.set_config('synchronous_commit', 'off', true);
    END IF;
  END
  $$;

CREATE FUNCTION keywarden.notify_change(name text) RETURNS void
  LANGUAGE sql
  AS $$ SELECT pg_catalog.pg_notify('keywarden_secrets', name) $$;

-- ---------------------------------------------------------------------------------------------
-- The public API
-- ---------------------------------------------------------------------------------------------

-- Creates a secret, or replaces an existing one's value as a new version. Storing the value a
-- secret already has, with no metadata change, creates no new version. Metadata arguments left
-- NULL keep what the secret had. Returns the vault id of the current value.
CREATE FUNCTION public.store_secret(
  secret_name text,
  secret_value text,
  secret_description text DEFAULT NULL,
  secret_type text DEFAULT NULL,
  expires_at timestamptz DEFAULT NULL,
  rotation_interval interval DEFAULT NULL,
  accessed_by text DEFAULT NULL
) RETURNS uuid
  LANGUAGE plpgsql SECURITY DEFINER SET search_path = ''
  AS $$
  DECLARE
    who text := keywarden.accessor(store_secret.accessed_by);
    existing keywarden.secrets;
    current_value text;
    new_id uuid;
    new_version integer;
  BEGIN
    PERFORM keywarden.assert_valid_name(store_secret.secret_name);
    PERFORM keywarden.assert_valid_value(store_secret.secret_value);
    IF store_secret.secret_type IS NOT NULL AND store_secret.secret_type NOT IN
       ('github_token', 'api_key', 'service_key', 'signing_key', 'other') THEN
      RAISE EXCEPTION 'invalid secret_type: use github_token, api_key, service_key, signing_key or other'
        USING ERRCODE = 'KW012';
    END IF;
    IF store_secret.rotation_interval IS NOT NULL AND store_secret.rotation_interval <= interval '0' THEN
      RAISE EXCEPTION 'invalid rotation_interval: it must be positive' USING ERRCODE = 'KW012';
    END IF;

    PERFORM keywarden.lock_name(store_secret.secret_name);
    PERFORM keywarden.purge_expired_previous();
    SELECT * INTO existing FROM keywarden.secrets m WHERE m.name = store_secret.secret_name;

    IF existing.name IS NULL THEN
      -- A vault secret of this name made outside Keywarden (e.g. in the Supabase dashboard) is
      -- adopted rather than duplicated. Its value so far read as version 1, so a different
      -- value is version 2.
      SELECT v.id INTO new_id FROM vault.secrets v WHERE v.name = store_secret.secret_name;
      IF new_id IS NULL THEN
        new_id := vault.create_secret(store_secret.secret_value, store_secret.secret_name,
                                      coalesce(store_secret.secret_description, ''));
        new_version := 1;
      ELSE
        SELECT d.decrypted_secret INTO current_value FROM vault.decrypted_secrets d WHERE d.id = new_id;
        IF current_value IS DISTINCT FROM store_secret.secret_value THEN
          PERFORM vault.update_secret(new_id, store_secret.secret_value, NULL, store_secret.secret_description);
          new_version := 2;
        ELSE
          IF store_secret.secret_description IS NOT NULL THEN
            PERFORM vault.update_secret(new_id, NULL, NULL, store_secret.secret_description);
          END IF;
          new_version := 1;
        END IF;
      END IF;
      INSERT INTO keywarden.secrets AS m
        (name, vault_secret_id, secret_type, description, expires_at, rotation_interval, version)
      VALUES (store_secret.secret_name, new_id, coalesce(store_secret.secret_type, 'other'),
              store_secret.secret_description, store_secret.expires_at, store_secret.rotation_interval,
              new_version);
    ELSE
      new_id := existing.vault_secret_id;
      SELECT d.decrypted_secret INTO current_value FROM vault.decrypted_secrets d WHERE d.id = new_id;
      IF current_value IS DISTINCT FROM store_secret.secret_value THEN
        PERFORM vault.update_secret(new_id, store_secret.secret_value);
        new_version := existing.version + 1;
      ELSE
        new_version := existing.version;
      END IF;
      UPDATE keywarden.secrets m
         SET version = new_version,
             description = coalesce(store_secret.secret_description, m.description),
             secret_type = coalesce(store_secret.secret_type, m.secret_type),
             expires_at = coalesce(store_secret.expires_at, m.expires_at),
             rotation_interval = coalesce(store_secret.rotation_interval, m.rotation_interval),
             updated_at = now()
       WHERE m.name = store_secret.secret_name;
    END IF;

    PERFORM keywarden.audit(store_secret.secret_name, who, 'store', true, NULL, new_version);
    PERFORM keywarden.notify_change(store_secret.secret_name);
    RETURN new_id;
  END
  $$;

-- Returns a secret's value, or NULL (with a failure row in the audit log) when there is none.
-- version 'previous' returns the value before the last rotation while its grace period
-- lasts. Raises only for a bad name, a bad version selector or a missing/wrong root key.
CREATE FUNCTION public.get_secret(
  secret_name text,
  accessed_by text DEFAULT NULL,
  version text DEFAULT 'current'
) RETURNS text
  LANGUAGE plpgsql SECURITY DEFINER SET search_path = ''
  AS $$
  DECLARE
    who text := keywarden.accessor(get_secret.accessed_by);
    found_value text;
    found_version integer;
  BEGIN
    PERFORM keywarden.assert_valid_name(get_secret.secret_name);
    PERFORM keywarden.relax_read_commit();
    IF get_secret.version = 'current' THEN
      -- Vault secrets made outside Keywarden have no metadata row; they read as version 1.
      SELECT d.decrypted_secret, coalesce(m.version, 1) INTO found_value, found_version
        FROM vault.decrypted_secrets d
        LEFT JOIN keywarden.secrets m ON m.vault_secret_id = d.id
       WHERE d.name = get_secret.secret_name;
    ELSIF get_secret.version = 'previous' THEN
      SELECT d.decrypted_secret, m.previous_version INTO found_value, found_version
        FROM keywarden.secrets m
        JOIN vault.decrypted_secrets d ON d.id = m.previous_vault_secret_id
       WHERE m.name = get_secret.secret_name AND m.previous_valid_until > now();
    ELSE
      RAISE EXCEPTION 'invalid version: use current or previous' USING ERRCODE = 'KW012';
    END IF;

    IF found_value IS NULL THEN
      PERFORM keywarden.audit(get_secret.secret_name, who, 'read', false,
        CASE get_secret.version WHEN 'previous' THEN 'no previous value in its grace period'
                                       ELSE 'secret not found' END);
      RETURN NULL;
    END IF;
    PERFORM keywarden.audit(get_secret.secret_name, who, 'read', true, NULL, found_version);
    RETURN found_value;
  END
  $$;

-- Many values in one round trip: a row per distinct requested name, in request order, with a
-- NULL value (and a failure row in the audit log) for a name that has none. version 'previous'
-- reads the values before the last rotations, as get_secret does.
CREATE FUNCTION public.get_secrets(
  secret_names text[],
  accessed_by text DEFAULT NULL,
  version text DEFAULT 'current'
) RETURNS TABLE (secret_name text, secret_value text, secret_version integer)
  LANGUAGE plpgsql SECURITY DEFINER SET search_path = ''
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

    -- Two static queries rather than one with a conditional join, so each joins by index.
    IF previous THEN
      RETURN QUERY
        WITH requested AS (
          SELECT n.name, pg_catalog.min(n.ord) AS ord
            FROM pg_catalog.unnest(get_secrets.secret_names) WITH ORDINALITY AS n (name, ord)
           GROUP BY n.name
        ), resolved AS MATERIALIZED (
          SELECT r.ord, r.name, d.decrypted_secret AS value,
                 CASE WHEN d.id IS NOT NULL THEN m.previous_version END AS version
            FROM requested r
            LEFT JOIN keywarden.secrets m
              ON m.name = r.name AND m.previous_valid_until > now()
            LEFT JOIN vault.decrypted_secrets d ON d.id = m.previous_vault_secret_id
        ), logged AS (
          -- A data-modifying CTE runs whether or not it is read: one audit row per name.
          INSERT INTO public.secret_access_log
            (secret_name, accessed_by, access_type, success, error_message, secret_version)
          SELECT t.name, who, 'read', t.value IS NOT NULL,
                 CASE WHEN t.value IS NULL THEN 'no previous value in its grace period' END, t.version
            FROM resolved t
        )
        SELECT t.name, t.value, t.version FROM resolved t ORDER BY t.ord;
    ELSE
      RETURN QUERY
        WITH requested AS (
          SELECT n.name, pg_catalog.min(n.ord) AS ord
            FROM pg_catalog.unnest(get_secrets.secret_names) WITH ORDINALITY AS n (name, ord)
           GROUP BY n.name
        ), resolved AS MATERIALIZED (
          -- Vault secrets made outside Keywarden have no metadata row; they read as version 1.
          SELECT r.ord, r.name, d.decrypted_secret AS value,
                 CASE WHEN d.id IS NOT NULL THEN coalesce(m.version, 1) END AS version
            FROM requested r
            LEFT JOIN vault.decrypted_secrets d ON d.name = r.name
            LEFT JOIN keywarden.secrets m ON m.vault_secret_id = d.id
        ), logged AS (
          INSERT INTO public.secret_access_log
            (secret_name, accessed_by, access_type, success, error_message, secret_version)
          SELECT t.name, who, 'read', t.value IS NOT NULL,
                 CASE WHEN t.value IS NULL THEN 'secret not found' END, t.version
            FROM resolved t
        )
        SELECT t.name, t.value, t.version FROM resolved t ORDER BY t.ord;
    END IF;
  END
  $$;

-- Replaces an existing secret's value and keeps the previous one retrievable (get_secret(...,
-- version => 'previous')) for grace_period, so agents holding the old value keep working
-- while they pick up the new one. A zero grace period drops the old value at once.
CREATE FUNCTION public.rotate_secret(
  secret_name text,
  new_value text,
  grace_period interval DEFAULT interval '24 hours',
  accessed_by text DEFAULT NULL
) RETURNS TABLE (secret_id uuid, secret_version integer, previous_valid_until timestamptz)
  LANGUAGE plpgsql SECURITY DEFINER SET search_path = ''
  AS $$
  DECLARE
    who text := keywarden.accessor(rotate_secret.accessed_by);
    existing keywarden.secrets;
    current_value text;
    new_id uuid;
    valid_until timestamptz;
  BEGIN
    PERFORM keywarden.assert_valid_name(rotate_secret.secret_name);
    PERFORM keywarden.assert_valid_value(rotate_secret.new_value);
    IF rotate_secret.grace_period IS NULL OR rotate_secret.grace_period < interval '0' THEN
      RAISE EXCEPTION 'invalid grace_period: it must be zero or positive' USING ERRCODE = 'KW012';
    END IF;

    PERFORM keywarden.lock_name(rotate_secret.secret_name);
    PERFORM keywarden.purge_expired_previous();
    SELECT * INTO existing FROM keywarden.secrets m WHERE m.name = rotate_secret.secret_name;
    IF existing.name IS NULL THEN
      RAISE EXCEPTION 'secret % does not exist: store it before rotating it', rotate_secret.secret_name
        USING ERRCODE = 'KW404';
    END IF;
    -- The value being replaced must decrypt under this session's root key (else KW003): a
    -- session holding another key would leave a secret no client with the real key can read.
    SELECT d.decrypted_secret INTO current_value
      FROM vault.decrypted_secrets d WHERE d.id = existing.vault_secret_id;

    IF existing.previous_vault_secret_id IS NOT NULL THEN
      DELETE FROM vault.secrets v WHERE v.id = existing.previous_vault_secret_id;
    END IF;

    IF rotate_secret.grace_period = interval '0' THEN
      new_id := existing.vault_secret_id;
      PERFORM vault.update_secret(new_id, rotate_secret.new_value);
      valid_until := NULL;
    ELSE
      -- The current row becomes the previous one (its ciphertext is bound to its id, not its
      -- name, so renaming needs no re-encryption) and the new value gets a row of its own.
      valid_until := now() + rotate_secret.grace_period;
      PERFORM vault.update_secret(existing.vault_secret_id, NULL,
        keywarden.previous_vault_name(rotate_secret.secret_name),
        'previous value of ' || rotate_secret.secret_name || ', served until ' || valid_until::text);
      new_id := vault.create_secret(rotate_secret.new_value, rotate_secret.secret_name,
                                    coalesce(existing.description, ''));
    END IF;

    UPDATE keywarden.secrets m
       SET vault_secret_id = new_id,
           previous_vault_secret_id = CASE WHEN valid_until IS NULL THEN NULL
                                           ELSE existing.vault_secret_id END,
           previous_version = CASE WHEN valid_until IS NULL THEN NULL ELSE existing.version END,
           previous_valid_until = valid_until,
           version = existing.version + 1,
           last_rotated_at = now(),
           updated_at = now()
     WHERE m.name = rotate_secret.secret_name;

    PERFORM keywarden.audit(rotate_secret.secret_name, who, 'rotate', true, NULL, existing.version + 1);
    PERFORM keywarden.notify_change(rotate_secret.secret_name);
    RETURN QUERY SELECT new_id, existing.version + 1, valid_until;
  END
  $$;

-- Deletes a secret and any previous value. Returns false (and audits the failure) when there
-- was nothing to delete.
CREATE FUNCTION public.delete_secret(
  secret_name text,
  accessed_by text DEFAULT NULL
) RETURNS boolean
  LANGUAGE plpgsql SECURITY DEFINER SET search_path = ''
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
    IF deleted = 0 THEN
      PERFORM keywarden.audit(delete_secret.secret_name, who, 'delete', false, 'secret not found');
      RETURN false;
    END IF;
    PERFORM keywarden.audit(delete_secret.secret_name, who, 'delete', true);
    PERFORM keywarden.notify_change(delete_secret.secret_name);
    RETURN true;
  END
  $$;

-- Names and metadata of every secret, never values. Vault secrets made outside Keywarden (with
-- a valid name) are listed too, as type 'other'.
CREATE FUNCTION public.list_secret_names(
  accessed_by text DEFAULT NULL
) RETURNS TABLE (
  name text,
  description text,
  secret_type text,
  version integer,
  created_at timestamptz,
  updated_at timestamptz,
  last_rotated_at timestamptz,
  expires_at timestamptz,
  rotation_interval_days numeric,
  rotation_due_at timestamptz,
  previous_valid_until timestamptz
)
  LANGUAGE plpgsql SECURITY DEFINER SET search_path = ''
  AS $$
  BEGIN
    PERFORM keywarden.audit('*', keywarden.accessor(list_secret_names.accessed_by), 'list', true);
    RETURN QUERY
      SELECT v.name,
             coalesce(m.description, NULLIF(v.description, '')),
             coalesce(m.secret_type, 'other'),
             coalesce(m.version, 1),
             coalesce(m.created_at, v.created_at),
             greatest(m.updated_at, v.updated_at),
             m.last_rotated_at,
             m.expires_at,
             pg_catalog.trim_scale(extract(epoch FROM
               coalesce(m.rotation_interval, keywarden.default_rotation_interval(m.secret_type))) / 86400),
             coalesce(m.last_rotated_at, m.created_at)
               + coalesce(m.rotation_interval, keywarden.default_rotation_interval(m.secret_type)),
             CASE WHEN m.previous_valid_until > now() THEN m.previous_valid_until END
        FROM vault.secrets v
        LEFT JOIN keywarden.secrets m ON m.vault_secret_id = v.id
       WHERE keywarden.is_valid_name(v.name)
       ORDER BY v.name;
  END
  $$;

-- Secrets that expire, or fall due for rotation, within `days` days (or already have).
CREATE FUNCTION public.check_expiring_secrets(
  days integer DEFAULT 7,
  accessed_by text DEFAULT NULL
) RETURNS TABLE (
  name text,
  secret_type text,
  reason text,
  due_at timestamptz,
  expires_at timestamptz,
  rotation_due_at timestamptz,
  overdue boolean
)
  LANGUAGE plpgsql SECURITY DEFINER SET search_path = ''
  AS $$
  BEGIN
    IF check_expiring_secrets.days IS NULL OR check_expiring_secrets.days < 0
       OR check_expiring_secrets.days > 3650 THEN
      RAISE EXCEPTION 'invalid days: use 0 to 3650' USING ERRCODE = 'KW012';
    END IF;
    PERFORM keywarden.audit('*', keywarden.accessor(check_expiring_secrets.accessed_by),
                            'check_expiring', true);
    RETURN QUERY
      WITH due AS (
        SELECT m.name, m.secret_type, m.expires_at,
               coalesce(m.last_rotated_at, m.created_at)
                 + coalesce(m.rotation_interval, keywarden.default_rotation_interval(m.secret_type))
                 AS rotation_due_at
          FROM keywarden.secrets m
      )
      SELECT d.name, d.secret_type,
             CASE WHEN d.expires_at IS NOT NULL
                       AND (d.rotation_due_at IS NULL OR d.expires_at <= d.rotation_due_at)
                  THEN 'expires' ELSE 'rotation_due' END,
             least(d.expires_at, d.rotation_due_at),
             d.expires_at, d.rotation_due_at,
             least(d.expires_at, d.rotation_due_at) <= now()
        FROM due d
       WHERE least(d.expires_at, d.rotation_due_at)
               <= now() + pg_catalog.make_interval(days => check_expiring_secrets.days)
       ORDER BY least(d.expires_at, d.rotation_due_at), d.name;
  END
  $$;

-- Client-side audit events (cache hits, environment fallbacks, denials, errors the client saw),
-- written in one call. `events` is a JSON array of objects:
--   { secret_name, accessed_by, access_type, success, error_message?, created_at?, event_count?,
--     secret_version?, source? }
-- The whole batch is refused (KW012) if any event is malformed. Returns the rows written.
CREATE FUNCTION public.log_secret_access_batch(events jsonb) RETURNS integer
  LANGUAGE plpgsql SECURITY DEFINER SET search_path = ''
  AS $$
  DECLARE
    written integer;
    bad_index integer;
  BEGIN
    IF events IS NULL OR pg_catalog.jsonb_typeof(events) <> 'array' THEN
      RAISE EXCEPTION 'events must be a JSON array' USING ERRCODE = 'KW012';
    END IF;
    IF pg_catalog.jsonb_array_length(events) > 10000 THEN
      RAISE EXCEPTION 'at most 10000 events per batch' USING ERRCODE = 'KW012';
    END IF;

    SELECT e.ord - 1 INTO bad_index
      FROM pg_catalog.jsonb_array_elements(events) WITH ORDINALITY AS e (event, ord)
     -- Required fields are tested with IS DISTINCT FROM so that a missing one counts as bad
     -- (a NULL here would let the event through, to fail later with a constraint's SQLSTATE).
     WHERE pg_catalog.jsonb_typeof(e.event) IS DISTINCT FROM 'object'
        OR pg_catalog.jsonb_typeof(e.event->'secret_name') IS DISTINCT FROM 'string'
        OR NOT (e.event->>'secret_name' = '*' OR keywarden.is_valid_name(e.event->>'secret_name'))
        OR pg_catalog.jsonb_typeof(e.event->'accessed_by') IS DISTINCT FROM 'string'
        OR pg_catalog.length(e.event->>'accessed_by') NOT BETWEEN 1 AND 200
        OR pg_catalog.jsonb_typeof(e.event->'access_type') IS DISTINCT FROM 'string'
        OR e.event->>'access_type' !~ '^[a-z][a-z_]{0,31}$'
        OR pg_catalog.jsonb_typeof(e.event->'success') IS DISTINCT FROM 'boolean'
        OR pg_catalog.jsonb_typeof(e.event->'error_message') NOT IN ('string', 'null')
        OR pg_catalog.length(e.event->>'error_message') > 1000
        OR pg_catalog.jsonb_typeof(e.event->'source') NOT IN ('string', 'null')
        OR pg_catalog.length(e.event->>'source') > 32
        OR (e.event ? 'event_count' AND NOT keywarden.is_int4_from(e.event->'event_count', 1))
        OR (pg_catalog.jsonb_typeof(e.event->'secret_version') <> 'null'
            AND NOT keywarden.is_int4_from(e.event->'secret_version', 0))
        OR (pg_catalog.jsonb_typeof(e.event->'created_at') <> 'null'
            AND NOT keywarden.is_timestamptz(e.event->'created_at'))
     ORDER BY e.ord
     LIMIT 1;
    IF bad_index IS NOT NULL THEN
      RAISE EXCEPTION 'event % is malformed: it needs secret_name (a valid name or *), accessed_by, access_type (a-z, _) and success (boolean)', bad_index
        USING ERRCODE = 'KW012';
    END IF;

    INSERT INTO public.secret_access_log
      (secret_name, accessed_by, access_type, success, error_message, created_at, event_count,
       secret_version, source)
    SELECT e.secret_name, e.accessed_by, e.access_type, e.success, e.error_message,
           coalesce(e.created_at, now()), coalesce(e.event_count, 1), e.secret_version, e.source
      FROM pg_catalog.jsonb_to_recordset(events) AS e (
        secret_name text, accessed_by text, access_type text, success boolean,
        error_message text, created_at timestamptz, event_count integer, secret_version integer,
        source text);
    GET DIAGNOSTICS written = ROW_COUNT;
    RETURN written;
  END
  $$;

-- The audit trail, newest first, for the front doors' audit queries (one RPC on every store).
-- Reading the log is not itself logged.
CREATE FUNCTION public.query_secret_access_log(
  secret_name text DEFAULT NULL,
  failed_only boolean DEFAULT false,
  since timestamptz DEFAULT NULL,
  max_rows integer DEFAULT 100
) RETURNS SETOF public.secret_access_log
  LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = ''
  AS $$
  BEGIN
    IF query_secret_access_log.secret_name IS NOT NULL
       AND query_secret_access_log.secret_name <> '*' THEN
      PERFORM keywarden.assert_valid_name(query_secret_access_log.secret_name);
    END IF;
    IF query_secret_access_log.max_rows IS NULL OR query_secret_access_log.max_rows NOT BETWEEN 1 AND 100000 THEN
      RAISE EXCEPTION 'invalid max_rows: use 1 to 100000' USING ERRCODE = 'KW012';
    END IF;
    RETURN QUERY
      SELECT l.*
        FROM public.secret_access_log l
       WHERE (query_secret_access_log.secret_name IS NULL OR l.secret_name = query_secret_access_log.secret_name)
         AND (NOT coalesce(query_secret_access_log.failed_only, false) OR NOT l.success)
         AND (query_secret_access_log.since IS NULL OR l.created_at >= query_secret_access_log.since)
       ORDER BY l.created_at DESC, l.id DESC
       LIMIT query_secret_access_log.max_rows;
  END
  $$;

-- What a client's health check needs: which vault is underneath, how many secrets it holds and
-- the newest applied migration. Touches no value, so it is not audited.
CREATE FUNCTION public.vault_status()
RETURNS TABLE (vault text, secret_count integer, schema_version text)
  LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = ''
  AS $$
  BEGIN
    vault := CASE WHEN EXISTS (SELECT 1 FROM pg_catalog.pg_extension e WHERE e.extname = 'supabase_vault')
                  THEN 'supabase_vault' ELSE 'keywarden_pgcrypto' END;
    secret_count := (SELECT pg_catalog.count(*)::integer FROM keywarden.secrets);
    -- Migrations applied by hand (psql -f) leave no history table.
    IF pg_catalog.to_regclass('supabase_migrations.schema_migrations') IS NOT NULL THEN
      EXECUTE 'SELECT pg_catalog.max(version) FROM supabase_migrations.schema_migrations'
        INTO schema_version;
    END IF;
    RETURN NEXT;
  END
  $$;

-- ---------------------------------------------------------------------------------------------
-- Grants: service_role only. Supabase's default privileges grant new functions to anon and
-- authenticated, so revoking from PUBLIC alone would not be enough there.
-- ---------------------------------------------------------------------------------------------

REVOKE ALL ON ALL FUNCTIONS IN SCHEMA keywarden FROM PUBLIC, anon, authenticated;

REVOKE ALL ON FUNCTION
  public.store_secret(text, text, text, text, timestamptz, interval, text),
  public.get_secret(text, text, text),
  public.get_secrets(text[], text, text),
  public.rotate_secret(text, text, interval, text),
  public.delete_secret(text, text),
  public.list_secret_names(text),
  public.check_expiring_secrets(integer, text),
  public.log_secret_access_batch(jsonb),
  public.query_secret_access_log(text, boolean, timestamptz, integer),
  public.vault_status()
FROM PUBLIC, anon, authenticated;

GRANT EXECUTE ON FUNCTION
  public.store_secret(text, text, text, text, timestamptz, interval, text),
  public.get_secret(text, text, text),
  public.get_secrets(text[], text, text),
  public.rotate_secret(text, text, interval, text),
  public.delete_secret(text, text),
  public.list_secret_names(text),
  public.check_expiring_secrets(integer, text),
  public.log_secret_access_batch(jsonb),
  public.query_secret_access_log(text, boolean, timestamptz, integer),
  public.vault_status()
TO service_role;

REVOKE ALL ON TABLE public.secret_access_log FROM PUBLIC, anon, authenticated;
GRANT SELECT ON TABLE public.secret_access_log TO service_role;
