-- Least privilege per door (issue 12):
-- * keywarden.secrets.allowed_commands: the executables an agent may inject the secret into
--   (the MCP server's run_command); empty means none. Matched by executable name (see
--   docs/mcp-server.md): a bare entry such as gh matches that program wherever PATH finds it,
--   an absolute path matches only that path.
-- * keywarden.secrets.protected: the user's mark for a secret that no agent door may write,
--   rotate, delete or reveal (Keywarden's own credentials are protected by name in the core).
-- * keywarden.door_policies: what each door may do with each secret. The core evaluates it
--   (packages/core/src/policy); a door with no matching rule gets the core's defaults.
--
-- store_secret and list_secret_names are replaced (a new parameter list or result row needs
-- DROP + CREATE); their bodies are migration 4's, extended, with the same grants. The seed
-- calls (store_secret(name, value, description), list_secret_names()) stay valid.

-- ---------------------------------------------------------------------------------------------
-- Command validation
-- ---------------------------------------------------------------------------------------------

-- One allowed command: a bare executable name (gh, terraform, python3.12) or an absolute path
-- of plain characters. No spaces, quotes or arguments, so an entry names one program only.
CREATE FUNCTION keywarden.is_valid_command(command text) RETURNS boolean
  LANGUAGE sql IMMUTABLE PARALLEL SAFE
  SET search_path = pg_catalog, pg_temp
  AS $$
    SELECT command IS NOT NULL
       AND (command ~ '^[A-Za-z0-9][A-Za-z0-9._+-]{0,127}$'
            OR command ~ '^/[A-Za-z0-9._+/-]{1,255}$')
  $$;

CREATE FUNCTION keywarden.are_valid_commands(commands text[]) RETURNS boolean
  LANGUAGE sql IMMUTABLE PARALLEL SAFE
  SET search_path = pg_catalog, pg_temp
  AS $$
    SELECT commands IS NOT NULL
       AND pg_catalog.cardinality(commands) <= 32
       AND NOT EXISTS (SELECT 1 FROM pg_catalog.unnest(commands) AS c (command)
                        WHERE NOT keywarden.is_valid_command(c.command))
  $$;

-- Raises KW012 naming the first bad entry by position and length only (a value pasted into the
-- wrong place must not reach a log through an error message).
CREATE FUNCTION keywarden.assert_valid_commands(commands text[]) RETURNS void
  LANGUAGE plpgsql IMMUTABLE
  SET search_path = pg_catalog, pg_temp
  AS $$
  DECLARE
    bad_index bigint;
    bad_length integer;
  BEGIN
    IF pg_catalog.cardinality(commands) > 32 THEN
      RAISE EXCEPTION 'invalid allowed_commands: at most 32 commands' USING ERRCODE = 'KW012';
    END IF;
    SELECT c.ord, coalesce(pg_catalog.length(c.command), 0) INTO bad_index, bad_length
      FROM pg_catalog.unnest(commands) WITH ORDINALITY AS c (command, ord)
     WHERE NOT keywarden.is_valid_command(c.command)
     ORDER BY c.ord
     LIMIT 1;
    IF bad_index IS NOT NULL THEN
      RAISE EXCEPTION 'invalid allowed_commands entry % (% characters): use an executable name such as gh or an absolute path, without arguments',
        bad_index, bad_length
        USING ERRCODE = 'KW012';
    END IF;
  END
  $$;

-- ---------------------------------------------------------------------------------------------
-- The columns
-- ---------------------------------------------------------------------------------------------

ALTER TABLE keywarden.secrets
  ADD COLUMN allowed_commands text[] NOT NULL DEFAULT '{}'
    CHECK (keywarden.are_valid_commands(allowed_commands)),
  ADD COLUMN protected boolean NOT NULL DEFAULT false;

-- ---------------------------------------------------------------------------------------------
-- store_secret: two more trailing metadata arguments
-- ---------------------------------------------------------------------------------------------

DROP FUNCTION public.store_secret(text, text, text, text, timestamptz, interval, text, boolean, text[]);

-- Creates a secret, or replaces an existing one's value as a new version. Storing the value a
-- secret already has, with no metadata change, creates no new version. Metadata arguments left
-- NULL keep what the secret had (hidden from agents, allowed nowhere and unprotected for a new
-- one). Returns the vault id of the current value.
CREATE FUNCTION public.store_secret(
  secret_name text,
  secret_value text,
  secret_description text DEFAULT NULL,
  secret_type text DEFAULT NULL,
  expires_at timestamptz DEFAULT NULL,
  rotation_interval interval DEFAULT NULL,
  accessed_by text DEFAULT NULL,
  agent_visible boolean DEFAULT NULL,
  allowed_hosts text[] DEFAULT NULL,
  allowed_commands text[] DEFAULT NULL,
  protected boolean DEFAULT NULL
) RETURNS uuid
  LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
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
    IF store_secret.allowed_hosts IS NOT NULL THEN
      PERFORM keywarden.assert_valid_hosts(store_secret.allowed_hosts);
    END IF;
    IF store_secret.allowed_commands IS NOT NULL THEN
      PERFORM keywarden.assert_valid_commands(store_secret.allowed_commands);
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
        (name, vault_secret_id, secret_type, description, expires_at, rotation_interval, version,
         agent_visible, allowed_hosts, allowed_commands, protected)
      VALUES (store_secret.secret_name, new_id, coalesce(store_secret.secret_type, 'other'),
              store_secret.secret_description, store_secret.expires_at, store_secret.rotation_interval,
              new_version, coalesce(store_secret.agent_visible, false),
              coalesce(store_secret.allowed_hosts, '{}'::text[]),
              coalesce(store_secret.allowed_commands, '{}'::text[]),
              coalesce(store_secret.protected, false));
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
             agent_visible = coalesce(store_secret.agent_visible, m.agent_visible),
             allowed_hosts = coalesce(store_secret.allowed_hosts, m.allowed_hosts),
             allowed_commands = coalesce(store_secret.allowed_commands, m.allowed_commands),
             protected = coalesce(store_secret.protected, m.protected),
             updated_at = pg_catalog.now()
       WHERE m.name = store_secret.secret_name;
    END IF;

    PERFORM keywarden.audit(store_secret.secret_name, who, 'store', true, NULL, new_version);
    PERFORM keywarden.notify_change(store_secret.secret_name);
    RETURN new_id;
  END
  $$;

-- ---------------------------------------------------------------------------------------------
-- list_secret_names: two more columns
-- ---------------------------------------------------------------------------------------------

DROP FUNCTION public.list_secret_names(text);

-- Names and metadata of every secret, never values. Vault secrets made outside Keywarden (with
-- a valid name) are listed too, as type 'other', hidden from agents, allowed nowhere and
-- unprotected.
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
  previous_valid_until timestamptz,
  agent_visible boolean,
  allowed_hosts text[],
  allowed_commands text[],
  protected boolean
)
  LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
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
             CASE WHEN m.previous_valid_until > pg_catalog.now() THEN m.previous_valid_until END,
             coalesce(m.agent_visible, false),
             coalesce(m.allowed_hosts, '{}'::text[]),
             coalesce(m.allowed_commands, '{}'::text[]),
             coalesce(m.protected, false)
        FROM vault.secrets v
        LEFT JOIN keywarden.secrets m ON m.vault_secret_id = v.id
       WHERE keywarden.is_valid_name(v.name)
       ORDER BY v.name;
  END
  $$;

-- ---------------------------------------------------------------------------------------------
-- Door policies
-- ---------------------------------------------------------------------------------------------

-- A door pattern names who asks: cli, edge, mcp:<client name>, with * matching any run of
-- characters (mcp:*). A secret pattern is a secret name with the same *. The core picks the
-- most specific matching rule (see packages/core/src/policy); a door no rule matches gets the
-- defaults documented in docs/cli.md (keywarden policy).
CREATE TABLE keywarden.door_policies (
  door_pattern text NOT NULL CHECK (door_pattern ~ '^[a-z0-9*][a-z0-9._:*-]{0,127}$'),
  secret_pattern text NOT NULL CHECK (secret_pattern ~ '^[a-z0-9*][a-z0-9_.*-]{0,127}$'),
  can_read_metadata boolean NOT NULL,
  can_use_hosts boolean NOT NULL,
  can_use_commands boolean NOT NULL,
  can_reveal boolean NOT NULL,
  can_write boolean NOT NULL,
  can_create boolean NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
  updated_by text NOT NULL,
  PRIMARY KEY (door_pattern, secret_pattern)
);

REVOKE ALL ON TABLE keywarden.door_policies FROM PUBLIC, anon, authenticated, service_role;

-- Every rule, most specific first within a door.
CREATE FUNCTION public.list_door_policies()
RETURNS TABLE (
  door_pattern text,
  secret_pattern text,
  can_read_metadata boolean,
  can_use_hosts boolean,
  can_use_commands boolean,
  can_reveal boolean,
  can_write boolean,
  can_create boolean,
  updated_at timestamptz,
  updated_by text
)
  LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
  AS $$
    SELECT p.door_pattern, p.secret_pattern, p.can_read_metadata, p.can_use_hosts,
           p.can_use_commands, p.can_reveal, p.can_write, p.can_create, p.updated_at, p.updated_by
      FROM keywarden.door_policies p
     ORDER BY p.door_pattern, p.secret_pattern
  $$;

-- Creates or replaces the rule for (door_pattern, secret_pattern); audited as 'policy'.
CREATE FUNCTION public.set_door_policy(
  door_pattern text,
  secret_pattern text,
  can_read_metadata boolean,
  can_use_hosts boolean,
  can_use_commands boolean,
  can_reveal boolean,
  can_write boolean,
  can_create boolean,
  accessed_by text DEFAULT NULL
) RETURNS void
  LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
  AS $$
  DECLARE
    who text := keywarden.accessor(set_door_policy.accessed_by);
  BEGIN
    IF set_door_policy.door_pattern IS NULL
       OR set_door_policy.door_pattern !~ '^[a-z0-9*][a-z0-9._:*-]{0,127}$' THEN
      RAISE EXCEPTION 'invalid door pattern: use cli, edge, mcp:<client name> or a pattern with *, such as mcp:*'
        USING ERRCODE = 'KW012';
    END IF;
    IF set_door_policy.secret_pattern IS NULL
       OR set_door_policy.secret_pattern !~ '^[a-z0-9*][a-z0-9_.*-]{0,127}$' THEN
      RAISE EXCEPTION 'invalid secret pattern: use a secret name or a pattern with *, such as github_*'
        USING ERRCODE = 'KW012';
    END IF;
    IF set_door_policy.can_read_metadata IS NULL OR set_door_policy.can_use_hosts IS NULL
       OR set_door_policy.can_use_commands IS NULL OR set_door_policy.can_reveal IS NULL
       OR set_door_policy.can_write IS NULL OR set_door_policy.can_create IS NULL THEN
      RAISE EXCEPTION 'invalid door policy: every right must be true or false' USING ERRCODE = 'KW012';
    END IF;
    INSERT INTO keywarden.door_policies AS p
      (door_pattern, secret_pattern, can_read_metadata, can_use_hosts, can_use_commands,
       can_reveal, can_write, can_create, updated_by)
    VALUES (set_door_policy.door_pattern, set_door_policy.secret_pattern,
            set_door_policy.can_read_metadata, set_door_policy.can_use_hosts,
            set_door_policy.can_use_commands, set_door_policy.can_reveal,
            set_door_policy.can_write, set_door_policy.can_create, who)
    ON CONFLICT ON CONSTRAINT door_policies_pkey DO UPDATE
       SET can_read_metadata = EXCLUDED.can_read_metadata,
           can_use_hosts = EXCLUDED.can_use_hosts,
           can_use_commands = EXCLUDED.can_use_commands,
           can_reveal = EXCLUDED.can_reveal,
           can_write = EXCLUDED.can_write,
           can_create = EXCLUDED.can_create,
           updated_at = pg_catalog.now(),
           updated_by = EXCLUDED.updated_by;
    PERFORM keywarden.audit('*', who, 'policy', true,
      'set ' || set_door_policy.door_pattern || ' ' || set_door_policy.secret_pattern);
  END
  $$;

-- Drops one rule; false when there was none. Audited as 'policy'.
CREATE FUNCTION public.delete_door_policy(
  door_pattern text,
  secret_pattern text,
  accessed_by text DEFAULT NULL
) RETURNS boolean
  LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
  AS $$
  DECLARE
    who text := keywarden.accessor(delete_door_policy.accessed_by);
    removed boolean;
  BEGIN
    DELETE FROM keywarden.door_policies p
     WHERE p.door_pattern = delete_door_policy.door_pattern
       AND p.secret_pattern = delete_door_policy.secret_pattern;
    removed := FOUND;
    IF removed THEN
      PERFORM keywarden.audit('*', who, 'policy', true,
        'removed ' || delete_door_policy.door_pattern || ' ' || delete_door_policy.secret_pattern);
    END IF;
    RETURN removed;
  END
  $$;

-- ---------------------------------------------------------------------------------------------
-- Grants, as in migrations 3 and 4: service_role only. Supabase's default privileges grant new
-- functions to anon and authenticated, so revoking from PUBLIC alone would not be enough there.
-- ---------------------------------------------------------------------------------------------

REVOKE ALL ON FUNCTION
  keywarden.is_valid_command(text),
  keywarden.are_valid_commands(text[]),
  keywarden.assert_valid_commands(text[])
FROM PUBLIC, anon, authenticated;

REVOKE ALL ON FUNCTION
  public.store_secret(text, text, text, text, timestamptz, interval, text, boolean, text[], text[], boolean),
  public.list_secret_names(text),
  public.list_door_policies(),
  public.set_door_policy(text, text, boolean, boolean, boolean, boolean, boolean, boolean, text),
  public.delete_door_policy(text, text, text)
FROM PUBLIC, anon, authenticated;

GRANT EXECUTE ON FUNCTION
  public.store_secret(text, text, text, text, timestamptz, interval, text, boolean, text[], text[], boolean),
  public.list_secret_names(text),
  public.list_door_policies(),
  public.set_door_policy(text, text, boolean, boolean, boolean, boolean, boolean, boolean, text),
  public.delete_door_policy(text, text, text)
TO service_role;
