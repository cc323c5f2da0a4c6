-- The read path at its physical limit (issue 14). What a read does is unchanged: the same rows
-- decrypted, the same audit row (hash-chained by migration 7's trigger) in the read's own
-- transaction, the same errors, the same durability (keywarden.durable_read_audit). What changes
-- is what each read paid for nothing:
--
-- * get_secrets(ARRAY[$1]) was planned again on every call. PostgreSQL plans a cached statement
--   with its parameters' values while that looks cheaper than its generic plan, and with a
--   one-element array it always does (the generic plan assumes a bigger array). One-name reads
--   now call public.get_secret_row(name), a single-name read of a few plpgsql statements, and
--   both read functions plan their statements once per session
--   (`plan_cache_mode = force_generic_plan`, set on the function): a custom plan also looked
--   cheaper because it pruned the unused current/previous branch, so it was made on every call.
-- * Bounded repetitions in regular expressions (`{0,127}` on names, `{64}` on the root key,
--   `{0,199}` on accessors, `{0,31}` on the audit log's access type) cost 6-11 µs each, on every
--   read; length() plus an unbounded class accepts exactly the same strings for 0.3-0.6 µs
--   (packages/core/src/sql/read-path.test.ts checks that on generated strings).
-- * On the compatible vault, each row went through vault._decrypt: a SECURITY DEFINER plpgsql
--   call with an exception block (a subtransaction), and the root key and its key id recomputed
--   per row. The reads now decrypt inline, with the root key and its key id computed once per
--   call, and only when a row was found (so a missing secret needs no key, as before). On the
--   real supabase_vault they keep reading its decrypted view, one scalar subquery per requested
--   row (migration 6).
-- * list_secret_names wrote its audit row with a synchronous commit although it is a read, ran
--   the name check on every row and default_rotation_interval() twice per row. It now commits
--   like a read (relaxed unless keywarden.durable_read_audit), checks only the names of vault
--   rows made outside Keywarden (metadata names are checked by their table's constraint), and
--   joins the rotation policy once per row.

-- ---------------------------------------------------------------------------------------------
-- Cheap checks, accepting the same strings
-- ---------------------------------------------------------------------------------------------

CREATE OR REPLACE FUNCTION keywarden.is_valid_name(name text) RETURNS boolean
  LANGUAGE sql IMMUTABLE PARALLEL SAFE
  AS $$ SELECT name IS NOT NULL AND pg_catalog.length(name) <= 128 AND name ~ '^[a-z0-9][a-z0-9_.-]*$' $$;

CREATE OR REPLACE FUNCTION keywarden.is_valid_accessor(accessed_by text) RETURNS boolean
  LANGUAGE sql IMMUTABLE PARALLEL SAFE
  AS $$
    SELECT accessed_by IS NOT NULL AND pg_catalog.length(accessed_by) <= 200
           AND accessed_by ~ '^[A-Za-z0-9][A-Za-z0-9_.:@/+=-]*$'
  $$;

-- The audit log's access types (`read`, `cache_hit`, `update_metadata`, …): its CHECK runs on
-- every audit row.
CREATE FUNCTION keywarden.is_access_type(access_type text) RETURNS boolean
  LANGUAGE sql IMMUTABLE PARALLEL SAFE
  AS $$ SELECT pg_catalog.length(access_type) <= 32 AND access_type ~ '^[a-z][a-z_]*$' $$;

ALTER TABLE public.secret_access_log
  DROP CONSTRAINT secret_access_log_access_type_check,
  ADD CONSTRAINT secret_access_log_access_type_check CHECK (keywarden.is_access_type(access_type));

-- Whether this transaction's commit may skip the WAL flush, and if so makes it skip it: only a
-- transaction that has written nothing yet (so a caller's own writes keep their durability),
-- and never with keywarden.durable_read_audit on (docs/sql-api.md, "Durability of read audit
-- rows"). Replaces migration 3's plpgsql procedure with one SQL expression that the reads'
-- plpgsql evaluates inline. Returns whether the commit was relaxed.
DROP FUNCTION keywarden.relax_read_commit();
CREATE FUNCTION keywarden.relax_read_commit() RETURNS boolean
  LANGUAGE sql VOLATILE
  AS $$
    SELECT CASE WHEN pg_catalog.pg_current_xact_id_if_assigned() IS NULL
                     AND coalesce(pg_catalog.current_setting('keywarden.durable_read_audit', true), '')
                         NOT IN ('on', 'true', '1')
                THEN pg_catalog.set_config('synchronous_commit', 'off', true) = 'off'
                ELSE false END
  $$;

-- ---------------------------------------------------------------------------------------------
-- The compatible vault: the key derivation defined once, inlinable
-- ---------------------------------------------------------------------------------------------

DO $vault$
DECLARE
  crypto_schema text;
BEGIN
  IF EXISTS (SELECT 1 FROM pg_catalog.pg_extension e WHERE e.extname = 'supabase_vault') THEN
    RETURN;
  END IF;
  SELECT e.extnamespace::regnamespace::text INTO STRICT crypto_schema
    FROM pg_catalog.pg_extension e WHERE e.extname = 'pgcrypto';

  EXECUTE pg_catalog.format($crypto$
    -- Whether a setting is a root key: 64 hex characters.
    CREATE FUNCTION vault._is_root_key(setting text) RETURNS boolean
      LANGUAGE sql IMMUTABLE PARALLEL SAFE
      AS $f$ SELECT pg_catalog.length(setting) = 64 AND setting ~ '^[0-9a-fA-F]*$' $f$;

    -- The fingerprint of a root key stored with each row (key_id), so a wrong key is named.
    -- SQL functions without settings, so that PostgreSQL inlines them into the reads' queries.
    CREATE FUNCTION vault._key_id(root bytea) RETURNS uuid
      LANGUAGE sql STABLE PARALLEL SAFE
      AS $f$ SELECT pg_catalog.left(pg_catalog.encode(%1$s.hmac(
               pg_catalog.convert_to('keywarden-root-key-id', 'UTF8'), root, 'sha256'), 'hex'), 32)::uuid $f$;

    -- A row's own key: HMAC-SHA256(root key, row id || nonce), hex.
    CREATE FUNCTION vault._row_key(secret_id uuid, nonce bytea, root bytea) RETURNS text
      LANGUAGE sql STABLE PARALLEL SAFE
      AS $f$ SELECT pg_catalog.encode(%1$s.hmac(
               pg_catalog.convert_to('keywarden-vault-v1:' || secret_id::text, 'UTF8') || nonce, root, 'sha256'), 'hex') $f$;

    -- A row's plaintext. Raises pgcrypto's own error for a ciphertext that fails to decrypt;
    -- the callers say which row.
    CREATE FUNCTION vault._open(secret_id uuid, nonce bytea, ciphertext text, root bytea) RETURNS text
      LANGUAGE sql STABLE PARALLEL SAFE
      AS $f$ SELECT pg_catalog.convert_from(%1$s.pgp_sym_decrypt_bytea(
               pg_catalog.decode(ciphertext, 'base64'), vault._row_key(secret_id, nonce, root)), 'UTF8') $f$;
  $crypto$, crypto_schema);

  -- Raises the error for a row encrypted under another root key (KW003). A function, so that
  -- a query can raise it from a CASE branch; it is reached only on that failure.
  CREATE FUNCTION vault._refuse_key(secret_id uuid, key_id uuid, session_key_id uuid) RETURNS text
    LANGUAGE plpgsql STABLE
    AS $f$
    BEGIN
      RAISE EXCEPTION 'vault secret % was encrypted under another root key (key id %); this session''s keywarden.root_key has key id %',
        secret_id, key_id, session_key_id
        USING ERRCODE = 'KW003';
    END
    $f$;

  -- As migration 2's, with the cheap check.
  CREATE OR REPLACE FUNCTION vault._root_key() RETURNS bytea
    LANGUAGE plpgsql STABLE
    AS $f$
    DECLARE
      setting text := pg_catalog.current_setting('keywarden.root_key', true);
    BEGIN
      IF setting IS NULL OR setting = '' THEN
        RAISE EXCEPTION 'keywarden.root_key is not set'
          USING ERRCODE = 'KW001',
                HINT = 'Give each session the 256-bit vault root key as 64 hex characters, e.g. PGOPTIONS=''-c keywarden.root_key=<hex>''.';
      END IF;
      IF NOT vault._is_root_key(setting) THEN
        RAISE EXCEPTION 'keywarden.root_key must be 64 hex characters (a 256-bit key)'
          USING ERRCODE = 'KW002';
      END IF;
      RETURN pg_catalog.decode(setting, 'hex');
    END
    $f$;

  REVOKE ALL ON FUNCTION vault._is_root_key(text), vault._key_id(bytea),
                         vault._row_key(uuid, bytea, bytea), vault._open(uuid, bytea, text, bytea),
                         vault._refuse_key(uuid, uuid, uuid)
    FROM PUBLIC, anon, authenticated;
END
$vault$;

-- ---------------------------------------------------------------------------------------------
-- get_secrets and get_secret_row
-- ---------------------------------------------------------------------------------------------

-- Both decrypt where the vault allows it cheaply:
-- * compatible vault: inline, under a root key and key id computed once per call and only when
--   a row was found; a row under another key raises KW003 naming both key ids, a ciphertext that
--   fails to decrypt raises KW003 naming the row;
-- * supabase_vault: its decrypted view, by id, for the found rows only.
-- Values are decrypted before anything is written, so that the exception block catching a
-- failed decryption is a subtransaction that writes nothing (one that wrote would cost a
-- transaction id of its own). Both plan their statements once per session (see the top).
-- packages/core/src/sql/read-path.test.ts checks that both read and audit alike.
DO $read$
DECLARE
  real_vault boolean := EXISTS (SELECT 1 FROM pg_catalog.pg_extension e WHERE e.extname = 'supabase_vault');
  -- get_secrets: the key as a CTE, one expression per found row `f`, and the exception handler.
  session_key text := '';
  open_value text := '(SELECT d.decrypted_secret FROM vault.decrypted_secrets d WHERE d.id = f.vault_id)';
  on_failure text := '';
  -- get_secret_row: the statements that set `secret_value` from the row found.
  open_row text := $q$
        SELECT d.decrypted_secret INTO secret_value FROM vault.decrypted_secrets d WHERE d.id = found_id;$q$;
BEGIN
  IF NOT real_vault THEN
    session_key := $q$
        session_key AS MATERIALIZED (
          SELECT k.root, vault._key_id(k.root) AS key_id FROM (SELECT vault._root_key() AS root) k
        ),$q$;
    open_value := $q$(SELECT CASE WHEN f.key_id IS NOT DISTINCT FROM k.key_id
                                   THEN vault._open(f.vault_id, f.nonce, f.ciphertext, k.root)
                                   ELSE vault._refuse_key(f.vault_id, f.key_id, k.key_id) END
                        FROM session_key k)$q$;
    -- Which row failed is named by reading the requested rows through vault.decrypted_secrets,
    -- whose vault._decrypt raises KW003 with the row's id (only on this failure path).
    on_failure := $q$
      EXCEPTION WHEN external_routine_invocation_exception OR invalid_parameter_value
                  OR character_not_in_repertoire THEN
        PERFORM d.decrypted_secret FROM vault.decrypted_secrets d
         WHERE d.name IN (SELECT CASE WHEN previous THEN keywarden.previous_vault_name(n.name) ELSE n.name END
                            FROM pg_catalog.unnest(get_secrets.secret_names) AS n (name));
        RAISE;$q$;
    open_row := $q$
        root := vault._root_key();
        session_key_id := vault._key_id(root);
        IF found_key_id IS DISTINCT FROM session_key_id THEN
          PERFORM vault._refuse_key(found_id, found_key_id, session_key_id);
        END IF;
        BEGIN
          secret_value := vault._open(found_id, found_nonce, found_ciphertext, root);
        EXCEPTION WHEN external_routine_invocation_exception OR invalid_parameter_value
                    OR character_not_in_repertoire THEN
          RAISE EXCEPTION 'vault secret % failed to decrypt: its ciphertext was altered or belongs to another row', found_id
            USING ERRCODE = 'KW003';
        END;$q$;
  END IF;

  -- Many values in one round trip: a row per distinct requested name, in request order, with a
  -- NULL value (and a failure row in the audit log) for a name that has none. version
  -- 'previous' reads the values before the last rotations.
  EXECUTE pg_catalog.format($f$
    CREATE OR REPLACE FUNCTION public.get_secrets(
      secret_names text[],
      accessed_by text DEFAULT NULL,
      version text DEFAULT 'current'
    ) RETURNS TABLE (secret_name text, secret_value text, secret_version integer)
      LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
      SET plan_cache_mode = force_generic_plan
      AS $body$
      DECLARE
        who text := keywarden.accessor(get_secrets.accessed_by);
        previous boolean;
        requested_name text;
        read_names text[];
        read_values text[];
        read_versions integer[];
      BEGIN
        IF get_secrets.secret_names IS NULL OR pg_catalog.cardinality(get_secrets.secret_names) > 1000 THEN
          RAISE EXCEPTION 'secret_names must be an array of at most 1000 names' USING ERRCODE = 'KW012';
        END IF;
        IF get_secrets.version IS NULL OR get_secrets.version NOT IN ('current', 'previous') THEN
          RAISE EXCEPTION 'invalid version: use current or previous' USING ERRCODE = 'KW012';
        END IF;
        previous := get_secrets.version = 'previous';
        FOREACH requested_name IN ARRAY get_secrets.secret_names LOOP
          IF NOT keywarden.is_valid_name(requested_name) THEN
            PERFORM keywarden.assert_valid_name(requested_name);
          END IF;
        END LOOP;
        IF keywarden.relax_read_commit() THEN NULL; END IF;

        BEGIN
          WITH requested AS (
            SELECT n.name, pg_catalog.min(n.ord) AS ord
              FROM pg_catalog.unnest(get_secrets.secret_names) WITH ORDINALITY AS n (name, ord)
             GROUP BY n.name
          ), found AS MATERIALIZED (
            -- Vault secrets made outside Keywarden have no metadata row; they read as version 1.
            SELECT r.name, v.id AS vault_id, v.nonce, v.key_id, v.secret AS ciphertext,
                   coalesce(m.version, 1) AS version
              FROM requested r
              JOIN vault.secrets v ON v.name = r.name
              LEFT JOIN keywarden.secrets m ON m.vault_secret_id = v.id
             WHERE NOT previous
            UNION ALL
            SELECT r.name, v.id, v.nonce, v.key_id, v.secret, m.previous_version
              FROM requested r
              JOIN keywarden.secrets m ON m.name = r.name
              JOIN vault.secrets v ON v.id = m.previous_vault_secret_id
             WHERE previous AND m.previous_valid_until > pg_catalog.now()
          ),%1$s decrypted AS (
            SELECT r.ord, r.name, f.version,
                   CASE WHEN f.vault_id IS NOT NULL THEN %2$s END AS value
              FROM requested r
              LEFT JOIN found f ON f.name = r.name
          )
          -- One sort for the three arrays: a plain aggregate over an ordered subquery takes its
          -- rows in that order (three ORDER BYs inside the aggregates sorted three times).
          SELECT pg_catalog.array_agg(t.name), pg_catalog.array_agg(t.value),
                 pg_catalog.array_agg(CASE WHEN t.value IS NOT NULL THEN t.version END)
            INTO read_names, read_values, read_versions
            FROM (SELECT d.name, d.value, d.version FROM decrypted d ORDER BY d.ord) t;
        %3$s
        END;

        -- One audit row per name, in request order.
        INSERT INTO public.secret_access_log
          (secret_name, accessed_by, access_type, success, error_message, secret_version)
        SELECT t.name, who, 'read', t.value IS NOT NULL,
               CASE WHEN t.value IS NOT NULL THEN NULL
                    WHEN previous THEN 'no previous value in its grace period'
                    ELSE 'secret not found' END,
               t.version
          FROM ROWS FROM (pg_catalog.unnest(read_names), pg_catalog.unnest(read_values),
                          pg_catalog.unnest(read_versions)) AS t (name, value, version);
        RETURN QUERY
          SELECT t.name, t.value, t.version
            FROM ROWS FROM (pg_catalog.unnest(read_names), pg_catalog.unnest(read_values),
                            pg_catalog.unnest(read_versions)) AS t (name, value, version);
      END
      $body$
  $f$, session_key, open_value, on_failure);

  -- One value and its version, as get_secrets(ARRAY[secret_name]) returns them (NULL, with a
  -- failure row in the audit log, for a missing one), in a few plpgsql statements: one lookup,
  -- the decryption, one INSERT. What the clients call for a single read; public.get_secret is
  -- this function's value.
  EXECUTE pg_catalog.format($f$
    CREATE FUNCTION public.get_secret_row(
      secret_name text,
      accessed_by text DEFAULT NULL,
      version text DEFAULT 'current'
    ) RETURNS TABLE (secret_value text, secret_version integer)
      LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
      SET plan_cache_mode = force_generic_plan
      AS $body$
      DECLARE
        who text := keywarden.accessor(get_secret_row.accessed_by);
        found_id uuid;
        found_nonce bytea;
        found_key_id uuid;
        found_ciphertext text;
        found_version integer;
        root bytea;
        session_key_id uuid;
      BEGIN
        IF get_secret_row.version IS NULL OR get_secret_row.version NOT IN ('current', 'previous') THEN
          RAISE EXCEPTION 'invalid version: use current or previous' USING ERRCODE = 'KW012';
        END IF;
        IF NOT keywarden.is_valid_name(get_secret_row.secret_name) THEN
          PERFORM keywarden.assert_valid_name(get_secret_row.secret_name);
        END IF;
        IF keywarden.relax_read_commit() THEN NULL; END IF;

        IF get_secret_row.version = 'current' THEN
          -- Vault secrets made outside Keywarden have no metadata row; they read as version 1.
          SELECT v.id, v.nonce, v.key_id, v.secret, coalesce(m.version, 1)
            INTO found_id, found_nonce, found_key_id, found_ciphertext, found_version
            FROM vault.secrets v
            LEFT JOIN keywarden.secrets m ON m.vault_secret_id = v.id
           WHERE v.name = get_secret_row.secret_name;
        ELSE
          SELECT v.id, v.nonce, v.key_id, v.secret, m.previous_version
            INTO found_id, found_nonce, found_key_id, found_ciphertext, found_version
            FROM keywarden.secrets m
            JOIN vault.secrets v ON v.id = m.previous_vault_secret_id
           WHERE m.name = get_secret_row.secret_name AND m.previous_valid_until > pg_catalog.now();
        END IF;
        IF found_id IS NOT NULL THEN
          %1$s
        END IF;

        secret_version := CASE WHEN secret_value IS NOT NULL THEN found_version END;
        INSERT INTO public.secret_access_log
          (secret_name, accessed_by, access_type, success, error_message, secret_version)
        VALUES (get_secret_row.secret_name, who, 'read', secret_value IS NOT NULL,
                CASE WHEN secret_value IS NOT NULL THEN NULL
                     WHEN get_secret_row.version = 'previous' THEN 'no previous value in its grace period'
                     ELSE 'secret not found' END,
                secret_version);
        RETURN NEXT;
      END
      $body$
  $f$, open_row);
END
$read$;

-- The seed's get_secret: get_secret_row's value (same checks, same audit row, same errors).
CREATE OR REPLACE FUNCTION public.get_secret(
  secret_name text,
  accessed_by text DEFAULT NULL,
  version text DEFAULT 'current'
) RETURNS text
  LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
  AS $$
    SELECT r.secret_value
      FROM public.get_secret_row(get_secret.secret_name, get_secret.accessed_by, get_secret.version) r
  $$;

-- ---------------------------------------------------------------------------------------------
-- list_secret_names: committed like a read, checked and joined once
-- ---------------------------------------------------------------------------------------------

-- As migration 8's: the same rows, in the same order, and its `list` audit row.
CREATE OR REPLACE FUNCTION public.list_secret_names(
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
  previous_valid_until timestamptz,
  agent_visible boolean,
  allowed_hosts text[],
  allowed_commands text[],
  protected boolean
)
  LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
  AS $$
  DECLARE
    who text := keywarden.accessor(list_secret_names.accessed_by);
  BEGIN
    IF keywarden.relax_read_commit() THEN NULL; END IF;
    INSERT INTO public.secret_access_log (secret_name, accessed_by, access_type, success)
    VALUES ('*', who, 'list', true);
    RETURN QUERY
      SELECT v.name,
             coalesce(m.description, NULLIF(v.description, '')),
             coalesce(m.secret_type, 'other'),
             coalesce(m.version, 1),
             coalesce(m.created_at, v.created_at),
             greatest(m.updated_at, v.updated_at),
             m.last_rotated_at,
             m.expires_at,
             pg_catalog.trim_scale(extract(epoch FROM i.every) / 86400),
             coalesce(m.last_rotated_at, m.created_at) + i.every,
             CASE WHEN m.previous_valid_until > pg_catalog.now() THEN m.previous_valid_until END,
             coalesce(m.agent_visible, false),
             coalesce(m.allowed_hosts, '{}'::text[]),
             coalesce(m.allowed_commands, '{}'::text[]),
             coalesce(m.protected, false)
        FROM vault.secrets v
        LEFT JOIN keywarden.secrets m ON m.vault_secret_id = v.id
        LEFT JOIN keywarden.rotation_policies p ON p.secret_type = m.secret_type
        CROSS JOIN LATERAL (SELECT coalesce(m.rotation_interval, p.rotation_interval) AS every) i
       -- A metadata row's name passed its table's CHECK; only vault rows made outside Keywarden
       -- (and the `@previous`/`@pending` rows) need the check.
       WHERE m.vault_secret_id IS NOT NULL OR keywarden.is_valid_name(v.name)
       ORDER BY v.name;
  END
  $$;

-- ---------------------------------------------------------------------------------------------
-- Grants: service_role only
-- ---------------------------------------------------------------------------------------------

REVOKE ALL ON FUNCTION keywarden.is_access_type(text), keywarden.relax_read_commit()
  FROM PUBLIC, anon, authenticated;
REVOKE ALL ON FUNCTION public.get_secret_row(text, text, text) FROM PUBLIC, anon, authenticated;
GRANT EXECUTE ON FUNCTION public.get_secret_row(text, text, text) TO service_role;
