-- Changing a secret without retyping it (issue 13):
-- * public.update_secret_metadata: description, type, expiry, rotation interval, agent
--   visibility, allowed hosts, allowed commands and the protected mark change without the
--   value; no new version. Audited as 'update_metadata', NOTIFY keywarden_secrets like every
--   other change.
-- * public.keywarden_schema_version(): the latest migration applied, for stores that cannot
--   read supabase_migrations.schema_migrations (the Data API: PostgREST exposes only the
--   public schema's functions).

-- Arguments left NULL keep what the secret had. An expiry must lie in the future. A vault
-- secret made outside Keywarden (e.g. in the Supabase dashboard) is adopted, as store_secret
-- adopts it. Returns the secret's (unchanged) version; KW404 when there is no such secret.
CREATE FUNCTION public.update_secret_metadata(
  secret_name text,
  secret_description text DEFAULT NULL,
  secret_type text DEFAULT NULL,
  expires_at timestamptz DEFAULT NULL,
  rotation_interval interval DEFAULT NULL,
  accessed_by text DEFAULT NULL,
  agent_visible boolean DEFAULT NULL,
  allowed_hosts text[] DEFAULT NULL,
  allowed_commands text[] DEFAULT NULL,
  protected boolean DEFAULT NULL
) RETURNS integer
  LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
  AS $$
  DECLARE
    who text := keywarden.accessor(update_secret_metadata.accessed_by);
    existing keywarden.secrets;
    vault_id uuid;
  BEGIN
    PERFORM keywarden.assert_valid_name(update_secret_metadata.secret_name);
    IF update_secret_metadata.secret_type IS NOT NULL AND update_secret_metadata.secret_type NOT IN
       ('github_token', 'api_key', 'service_key', 'signing_key', 'other') THEN
      RAISE EXCEPTION 'invalid secret_type: use github_token, api_key, service_key, signing_key or other'
        USING ERRCODE = 'KW012';
    END IF;
    IF update_secret_metadata.rotation_interval IS NOT NULL
       AND update_secret_metadata.rotation_interval <= interval '0' THEN
      RAISE EXCEPTION 'invalid rotation_interval: it must be positive' USING ERRCODE = 'KW012';
    END IF;
    IF update_secret_metadata.expires_at IS NOT NULL
       AND update_secret_metadata.expires_at <= pg_catalog.now() THEN
      RAISE EXCEPTION 'invalid expires_at: it must be in the future' USING ERRCODE = 'KW012';
    END IF;
    IF update_secret_metadata.allowed_hosts IS NOT NULL THEN
      PERFORM keywarden.assert_valid_hosts(update_secret_metadata.allowed_hosts);
    END IF;
    IF update_secret_metadata.allowed_commands IS NOT NULL THEN
      PERFORM keywarden.assert_valid_commands(update_secret_metadata.allowed_commands);
    END IF;

    PERFORM keywarden.lock_name(update_secret_metadata.secret_name);
    SELECT * INTO existing FROM keywarden.secrets m WHERE m.name = update_secret_metadata.secret_name;
    IF existing.name IS NULL THEN
      SELECT v.id INTO vault_id FROM vault.secrets v WHERE v.name = update_secret_metadata.secret_name;
      IF vault_id IS NULL THEN
        RAISE EXCEPTION 'secret % does not exist: store it first (keywarden set)', update_secret_metadata.secret_name
          USING ERRCODE = 'KW404';
      END IF;
      INSERT INTO keywarden.secrets (name, vault_secret_id, version)
      VALUES (update_secret_metadata.secret_name, vault_id, 1)
      RETURNING * INTO existing;
    END IF;

    UPDATE keywarden.secrets m
       SET description = coalesce(update_secret_metadata.secret_description, m.description),
           secret_type = coalesce(update_secret_metadata.secret_type, m.secret_type),
           expires_at = coalesce(update_secret_metadata.expires_at, m.expires_at),
           rotation_interval = coalesce(update_secret_metadata.rotation_interval, m.rotation_interval),
           agent_visible = coalesce(update_secret_metadata.agent_visible, m.agent_visible),
           allowed_hosts = coalesce(update_secret_metadata.allowed_hosts, m.allowed_hosts),
           allowed_commands = coalesce(update_secret_metadata.allowed_commands, m.allowed_commands),
           protected = coalesce(update_secret_metadata.protected, m.protected),
           updated_at = pg_catalog.now()
     WHERE m.name = update_secret_metadata.secret_name;

    PERFORM keywarden.audit(update_secret_metadata.secret_name, who, 'update_metadata', true, NULL,
                            existing.version);
    PERFORM keywarden.notify_change(update_secret_metadata.secret_name);
    RETURN existing.version;
  END
  $$;

-- The latest migration recorded where `keywarden db migrate`, the embedded vault and
-- `supabase db push` record them; NULL when the table holds none. SECURITY DEFINER because
-- service_role cannot read supabase_migrations on Supabase. PL/pgSQL, so that a database
-- whose migrations were applied by other means (no such table) answers NULL.
CREATE FUNCTION public.keywarden_schema_version() RETURNS text
  LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
  AS $$
  BEGIN
    RETURN (SELECT pg_catalog.max(s.version)::text FROM supabase_migrations.schema_migrations s);
  EXCEPTION WHEN undefined_table OR invalid_schema_name THEN
    RETURN NULL;
  END
  $$;

-- rotate_secret, as migration 3 made it, but a rotation to the value the secret already has is
-- refused (KW012): it would make a new version of the same value and drop the grace period's
-- real previous value. Same signature and grants.
CREATE OR REPLACE FUNCTION public.rotate_secret(
  secret_name text,
  new_value text,
  grace_period interval DEFAULT interval '24 hours',
  accessed_by text DEFAULT NULL
) RETURNS TABLE (secret_id uuid, secret_version integer, previous_valid_until timestamptz)
  LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
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
    IF current_value = rotate_secret.new_value THEN
      RAISE EXCEPTION 'secret % already has this value: rotating to it would change nothing (give the new value)', rotate_secret.secret_name
        USING ERRCODE = 'KW012';
    END IF;

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

REVOKE ALL ON FUNCTION
  public.update_secret_metadata(text, text, text, timestamptz, interval, text, boolean, text[], text[], boolean),
  public.keywarden_schema_version()
FROM PUBLIC, anon, authenticated;

GRANT EXECUTE ON FUNCTION
  public.update_secret_metadata(text, text, text, timestamptz, interval, text, boolean, text[], text[], boolean),
  public.keywarden_schema_version()
TO service_role;
