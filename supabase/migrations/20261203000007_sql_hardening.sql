-- Hardening against the roles that call the SQL (issue 11):
-- * audit rows a caller cannot forge: the server's clock decides `created_at`, `event_count` is
--   bounded, `accessed_by` must look like an accessor;
-- * a tamper-evident audit log: every row carries a SHA-256 over the previous row's hash and its
--   own content, and public.verify_secret_access_log() finds the first row where that breaks;
-- * every SECURITY DEFINER function (and every helper with a search_path of its own) runs with
--   `search_path = pg_catalog, pg_temp`, set last in this file from the catalog.
--
-- Why the last point matters: with `search_path = ''` PostgreSQL still searches the session's
-- temporary schema *first* for relations and types. A caller allowed to create temporary objects
-- (service_role: TEMP is granted to PUBLIC) could create `pg_temp.text`, a domain whose CHECK
-- calls the caller's own function, and that function ran with the rights of the definer
-- function's owner as soon as a body declared a `text` variable. Naming pg_temp last makes
-- pg_catalog's types win; relations are schema-qualified everywhere, so a temporary table
-- shadows nothing. (Functions and operators are never looked up in pg_temp.)

-- ---------------------------------------------------------------------------------------------
-- Accessors
-- ---------------------------------------------------------------------------------------------

-- An accessor as the front doors write it (`cli`, `mcp:claude-desktop`, `chatgpt-plugin`,
-- `edge:203.0.113.9`, `sql:postgres`): 1 to 200 printable characters from a small set, starting
-- with a letter or digit. No spaces, quotes, control characters or markup, so an accessor shown
-- in a terminal, a chat alert or a report cannot carry anything but a label.
CREATE FUNCTION keywarden.is_valid_accessor(accessed_by text) RETURNS boolean
  LANGUAGE sql IMMUTABLE PARALLEL SAFE
  AS $$ SELECT accessed_by IS NOT NULL AND accessed_by ~ '^[A-Za-z0-9][A-Za-z0-9_.:@/+=-]{0,199}$' $$;

-- Who is asking, as written to the audit log: the caller's label, else the database user.
-- Replaces migration 3's version, which took any text up to 200 characters.
CREATE OR REPLACE FUNCTION keywarden.accessor(accessed_by text) RETURNS text
  LANGUAGE plpgsql STABLE
  AS $$
  BEGIN
    IF accessed_by IS NULL OR accessed_by = '' THEN
      -- A role name may hold any character; the audit log gets a label-safe form of it.
      RETURN 'sql:' || pg_catalog.left(pg_catalog.regexp_replace(session_user, '[^A-Za-z0-9_.-]', '_', 'g'), 190);
    END IF;
    IF NOT keywarden.is_valid_accessor(accessed_by) THEN
      RAISE EXCEPTION 'invalid accessed_by (% characters): use 1 to 200 of A-Z, a-z, 0-9 and _ . : @ / + = -, starting with a letter or digit',
        pg_catalog.length(accessed_by)
        USING ERRCODE = 'KW012';
    END IF;
    RETURN accessed_by;
  END
  $$;

-- ---------------------------------------------------------------------------------------------
-- The audit log: the client's time apart, and the hash chain
-- ---------------------------------------------------------------------------------------------

ALTER TABLE public.secret_access_log
  -- When the client says the event happened (log_secret_access_batch only), kept only within a
  -- day before and 5 minutes after `created_at`, which is always the server's clock.
  ADD COLUMN client_time timestamptz,
  -- SHA-256 over the previous row's row_hash (the row with the next lower id) and this row's
  -- canonical content.
  ADD COLUMN row_hash bytea;

COMMENT ON COLUMN public.secret_access_log.client_time IS
  'The client''s time of a client-side event, when within a day before and 5 minutes after created_at; else NULL.';
COMMENT ON COLUMN public.secret_access_log.row_hash IS
  'sha256(previous row''s row_hash || canonical content); see public.verify_secret_access_log().';

-- The hash of one row given its predecessor's: the single definition of the canonical content,
-- used by the chaining trigger and by verification. Timestamps enter as exact epoch seconds with
-- microseconds (EXTRACT's numeric, not date_part's double precision), so neither the session's
-- time zone nor rounding changes anything.
CREATE FUNCTION keywarden.audit_row_hash(
  previous_hash bytea, id bigint, secret_name text, accessed_by text,
  access_type text, success boolean, error_message text, created_at timestamptz,
  event_count integer, secret_version integer, source text, client_time timestamptz
) RETURNS bytea
  LANGUAGE sql STABLE PARALLEL SAFE
  AS $$
    SELECT pg_catalog.sha256(previous_hash || pg_catalog.convert_to(pg_catalog.json_build_array(
      'kw-audit-v1', id, secret_name, accessed_by, access_type, success, error_message,
      EXTRACT(epoch FROM created_at), event_count, secret_version, source,
      EXTRACT(epoch FROM client_time))::pg_catalog.text, 'UTF8'))
  $$;

-- The chain starts from 32 zero bytes. Rows written before this migration are chained now, in
-- id order (the append-only trigger lets the table's owner do this).
DO $$
DECLARE
  r record;
  previous bytea := pg_catalog.decode(pg_catalog.repeat('00', 32), 'hex');
BEGIN
  FOR r IN SELECT * FROM public.secret_access_log l ORDER BY l.id LOOP
    previous := keywarden.audit_row_hash(previous, r.id, r.secret_name, r.accessed_by,
      r.access_type, r.success, r.error_message, r.created_at, r.event_count, r.secret_version,
      r.source, r.client_time);
    UPDATE public.secret_access_log l SET row_hash = previous WHERE l.id = r.id;
  END LOOP;
END
$$;

ALTER TABLE public.secret_access_log ALTER COLUMN row_hash SET NOT NULL;

-- Chains each new row, whatever it was inserted with: id and row_hash are always the trigger's.
-- * Writers queue for the chain on a transaction-scoped advisory lock, taken at their first
--   audit row and held until commit (the try is a plain expression: cheap once held).
-- * Under that lock the row takes a fresh id from the log's identity sequence, so ids follow
--   the chain's order even with concurrent writers (the identity value PostgreSQL gave the
--   row before the trigger ran was handed out before the queue), and the chain's end is the
--   row with the highest id: one primary-key probe, which sees the rows this statement wrote
--   before (a row-level trigger does) and, with READ COMMITTED's fresh snapshot per query,
--   everything committed before the lock was granted. A REPEATABLE READ snapshot could predate
--   that, so the chain is written under READ COMMITTED only.
-- No row is updated per insert: a chain-head row updated thousands of times in one batch would
-- make each update walk all its earlier versions.
DO $$
BEGIN
  EXECUTE pg_catalog.format($f$
    CREATE FUNCTION keywarden.chain_audit_row() RETURNS trigger
      LANGUAGE plpgsql
      AS $body$
      DECLARE
        previous_hash bytea;
      BEGIN
        IF pg_catalog.current_setting('transaction_isolation') <> 'read committed' THEN
          RAISE EXCEPTION 'audit rows are hash-chained under READ COMMITTED only (this transaction is %%)',
            pg_catalog.current_setting('transaction_isolation')
            USING ERRCODE = 'feature_not_supported';
        END IF;
        IF NOT pg_catalog.pg_try_advisory_xact_lock(pg_catalog.hashtextextended('keywarden-audit-chain', 0)) THEN
          PERFORM pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtextextended('keywarden-audit-chain', 0));
        END IF;
        NEW.id := pg_catalog.nextval(%1$L::pg_catalog.regclass);
        SELECT l.row_hash INTO previous_hash
          FROM public.secret_access_log l ORDER BY l.id DESC LIMIT 1;
        NEW.row_hash := keywarden.audit_row_hash(
          coalesce(previous_hash, pg_catalog.decode(pg_catalog.repeat('00', 32), 'hex')),
          NEW.id, NEW.secret_name, NEW.accessed_by, NEW.access_type, NEW.success,
          NEW.error_message, NEW.created_at, NEW.event_count, NEW.secret_version, NEW.source,
          NEW.client_time);
        RETURN NEW;
      END
      $body$
  $f$, pg_catalog.pg_get_serial_sequence('public.secret_access_log', 'id'));
END
$$;

CREATE TRIGGER secret_access_log_chain
  BEFORE INSERT ON public.secret_access_log
  FOR EACH ROW EXECUTE FUNCTION keywarden.chain_audit_row();

-- Walks the chain from its start and reports whether it is intact: rows checked, the first
-- row where it breaks (and why), and the last row's id and hash — what a user keeps as an
-- anchor. Given an anchor (a row id and its hash as hex, from an earlier verification), the
-- anchored row must still be there with that hash: this catches rows cut off the end, which
-- the chain alone cannot (what is left still chains). Reasons:
--   hash_mismatch   the row's content or hash changed (an UPDATE), or the row before it is
--                   gone (a DELETE)
--   anchor_mismatch the anchored row's hash differs (history rewritten)
--   anchor_missing  the anchored row is gone
-- Reads only; not audited (it touches no secret).
CREATE FUNCTION public.verify_secret_access_log(
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
    previous bytea := pg_catalog.decode(pg_catalog.repeat('00', 32), 'hex');
    computed bytea;
    anchor_seen boolean := false;
  BEGIN
    IF (verify_secret_access_log.anchor_id IS NULL) <> (verify_secret_access_log.anchor_hash IS NULL)
       OR verify_secret_access_log.anchor_hash !~ '^[0-9a-f]{64}$' THEN
      RAISE EXCEPTION 'an anchor is a row id and its hash (64 lower-case hex characters), both or neither'
        USING ERRCODE = 'KW012';
    END IF;
    intact := true;
    rows_checked := 0;
    FOR r IN SELECT * FROM public.secret_access_log l ORDER BY l.id LOOP
      computed := keywarden.audit_row_hash(previous, r.id, r.secret_name, r.accessed_by,
        r.access_type, r.success, r.error_message, r.created_at, r.event_count, r.secret_version,
        r.source, r.client_time);
      IF computed IS DISTINCT FROM r.row_hash THEN
        intact := false; first_broken_id := r.id; reason := 'hash_mismatch';
        RETURN NEXT; RETURN;
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
    IF verify_secret_access_log.anchor_id IS NOT NULL AND NOT anchor_seen THEN
      intact := false; reason := 'anchor_missing';
    END IF;
    RETURN NEXT;
  END
  $$;

-- ---------------------------------------------------------------------------------------------
-- log_secret_access_batch: no forged times, counts or accessors
-- ---------------------------------------------------------------------------------------------

-- The most events one aggregated row may stand for: the client's buffer starts a new row for a
-- (secret, accessor, minute) once its count reaches this (packages/core/src/audit), i.e. about
-- 16,700 cache hits a second per secret, accessor and process before a second row is needed.
CREATE FUNCTION keywarden.max_event_count() RETURNS integer
  LANGUAGE sql IMMUTABLE PARALLEL SAFE
  AS $$ SELECT 1000000 $$;

-- Whether a JSON value is an integer from 1 to keywarden.max_event_count().
CREATE FUNCTION keywarden.is_event_count(value jsonb) RETURNS boolean
  LANGUAGE sql IMMUTABLE PARALLEL SAFE
  AS $$
    SELECT CASE WHEN keywarden.is_int4_from(value, 1)
                THEN value::text::integer <= keywarden.max_event_count() ELSE false END
  $$;

-- Client-side audit events (cache hits, environment fallbacks, denials, errors the client saw),
-- written in one call. `events` is a JSON array of objects:
--   { secret_name, accessed_by, access_type, success, error_message?, created_at?, event_count?,
--     secret_version?, source? }
-- `created_at` is the server's clock at the call. The event's own `created_at` (the client's
-- clock) is kept as `client_time` when it lies within a day before and 5 minutes after it
-- (events wait in the client's buffer while the database is down), else dropped to NULL.
-- `event_count` is 1 to keywarden.max_event_count(); `accessed_by` a valid accessor.
-- The whole batch is refused (KW012) if any event is malformed. Returns the rows written.
CREATE OR REPLACE FUNCTION public.log_secret_access_batch(events jsonb) RETURNS integer
  LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
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
        OR NOT keywarden.is_valid_accessor(e.event->>'accessed_by')
        OR pg_catalog.jsonb_typeof(e.event->'access_type') IS DISTINCT FROM 'string'
        OR e.event->>'access_type' !~ '^[a-z][a-z_]{0,31}$'
        OR pg_catalog.jsonb_typeof(e.event->'success') IS DISTINCT FROM 'boolean'
        OR pg_catalog.jsonb_typeof(e.event->'error_message') NOT IN ('string', 'null')
        OR pg_catalog.length(e.event->>'error_message') > 1000
        OR pg_catalog.jsonb_typeof(e.event->'source') NOT IN ('string', 'null')
        OR pg_catalog.length(e.event->>'source') > 32
        OR (e.event ? 'event_count' AND NOT keywarden.is_event_count(e.event->'event_count'))
        OR (pg_catalog.jsonb_typeof(e.event->'secret_version') <> 'null'
            AND NOT keywarden.is_int4_from(e.event->'secret_version', 0))
        OR (pg_catalog.jsonb_typeof(e.event->'created_at') <> 'null'
            AND NOT keywarden.is_timestamptz(e.event->'created_at'))
     ORDER BY e.ord
     LIMIT 1;
    IF bad_index IS NOT NULL THEN
      RAISE EXCEPTION 'event % is malformed: it needs secret_name (a valid name or *), accessed_by (an accessor), access_type (a-z, _), success (boolean) and at most an event_count of %', bad_index, keywarden.max_event_count()
        USING ERRCODE = 'KW012';
    END IF;

    INSERT INTO public.secret_access_log
      (secret_name, accessed_by, access_type, success, error_message, created_at, event_count,
       secret_version, source, client_time)
    SELECT e.secret_name, e.accessed_by, e.access_type, e.success, e.error_message,
           pg_catalog.now(), coalesce(e.event_count, 1), e.secret_version, e.source,
           CASE WHEN e.created_at BETWEEN pg_catalog.now() - interval '1 day'
                                      AND pg_catalog.now() + interval '5 minutes'
                THEN e.created_at END
      FROM pg_catalog.jsonb_to_recordset(events) AS e (
        secret_name text, accessed_by text, access_type text, success boolean,
        error_message text, created_at timestamptz, event_count integer, secret_version integer,
        source text);
    GET DIAGNOSTICS written = ROW_COUNT;
    RETURN written;
  END
  $$;

-- ---------------------------------------------------------------------------------------------
-- Grants: service_role only, as in migration 3.
-- ---------------------------------------------------------------------------------------------

REVOKE ALL ON ALL FUNCTIONS IN SCHEMA keywarden FROM PUBLIC, anon, authenticated;
REVOKE ALL ON FUNCTION public.verify_secret_access_log(bigint, text) FROM PUBLIC, anon, authenticated;
GRANT EXECUTE ON FUNCTION public.verify_secret_access_log(bigint, text) TO service_role;

-- ---------------------------------------------------------------------------------------------
-- search_path = pg_catalog, pg_temp, from the catalog
-- ---------------------------------------------------------------------------------------------

-- Every function this role owns in Keywarden's schemas (public, keywarden, and the compatible
-- vault) that is SECURITY DEFINER or has a search_path of its own (an explicit '' would
-- override the definer's safe one inside it). Left alone: functions of extensions (the real
-- supabase_vault on Supabase, owned by supabase_admin), and helpers without a setting: they run
-- inside the pinned search_path of the definer function that calls them (a trigger inside the
-- statement that fires it), so a SET of their own would add nothing but a configuration switch
-- per call — per row, for the audit chain's trigger — and would stop the planner inlining SQL
-- helpers (is_valid_name in CHECK constraints, is_use over a million audit rows).
-- Functions of later migrations declare `SET search_path = pg_catalog, pg_temp` themselves;
-- packages/core/src/sql/hardening.test.ts checks every SECURITY DEFINER function in the catalog.
DO $$
DECLARE
  f record;
BEGIN
  FOR f IN
    SELECT p.oid::regprocedure AS signature
      FROM pg_catalog.pg_proc p
      JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
     WHERE n.nspname IN ('public', 'keywarden', 'vault')
       AND p.proowner = (SELECT r.oid FROM pg_catalog.pg_roles r WHERE r.rolname = current_user)
       AND p.prokind IN ('f', 'p')
       AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d
                        WHERE d.classid = 'pg_catalog.pg_proc'::pg_catalog.regclass
                          AND d.objid = p.oid AND d.deptype = 'e')
       AND (p.prosecdef
            OR EXISTS (SELECT 1 FROM pg_catalog.unnest(p.proconfig) AS c (setting)
                        WHERE c.setting LIKE 'search\_path=%'))
  LOOP
    EXECUTE pg_catalog.format('ALTER FUNCTION %s SET search_path = pg_catalog, pg_temp', f.signature);
  END LOOP;
END
$$;
