-- Keywarden foundation: the roles Supabase provides, and the private schema for metadata.
--
-- On Supabase `anon`, `authenticated` and `service_role` already exist. On plain PostgreSQL and
-- on the embedded PGlite they are created here (NOLOGIN) so that grants mean the same thing
-- everywhere. Roles belong to the cluster, not the database: two databases migrating at once
-- may race to create them, hence the exception handler.
DO $$
DECLARE
  role_name text;
BEGIN
  FOREACH role_name IN ARRAY ARRAY['anon', 'authenticated', 'service_role'] LOOP
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = role_name) THEN
      BEGIN
        EXECUTE pg_catalog.format('CREATE ROLE %I NOLOGIN NOINHERIT', role_name);
      EXCEPTION WHEN duplicate_object OR unique_violation THEN
        NULL;
      END;
    END IF;
  END LOOP;
END
$$;

-- Private schema: secret metadata and internal helpers. PostgREST never exposes it, and no API
-- role has USAGE on it; the public functions reach it as SECURITY DEFINER.
CREATE SCHEMA keywarden;
REVOKE ALL ON SCHEMA keywarden FROM PUBLIC;
COMMENT ON SCHEMA keywarden IS 'Keywarden internals: secret metadata and helpers. Use the public.* functions.';

-- pgcrypto backs the compatible vault. Supabase keeps extensions in the `extensions` schema;
-- where pgcrypto is already installed elsewhere it is used where it is.
CREATE SCHEMA IF NOT EXISTS extensions;
CREATE EXTENSION IF NOT EXISTS pgcrypto WITH SCHEMA extensions;
