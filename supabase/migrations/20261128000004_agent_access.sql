-- Per-secret agent access, which the MCP server enforces (issue 5):
-- * agent_visible: the user lets agents read the value itself (reveal_secret).
-- * allowed_hosts: the hosts an agent may send the secret to (http_request's placeholders);
--   empty means nowhere.
-- Both default to the safe side, so every secret stored before this migration stays hidden.
--
-- store_secret and list_secret_names are replaced (a new parameter list or result row needs
-- DROP + CREATE); their bodies are migration 3's, extended, with the same grants.

-- ---------------------------------------------------------------------------------------------
-- Host validation
-- ---------------------------------------------------------------------------------------------

-- One allowed host: a lower-case host name (or IPv4 address), optionally with a "*." prefix
-- that covers its subdomains and a ":port". No scheme, path, userinfo or upper case, so the
-- MCP server compares hosts exactly and a URL-shaped entry cannot smuggle in another host.
-- A wildcard needs two labels after it, so "*.com" cannot open a whole top-level domain.
CREATE FUNCTION keywarden.is_valid_host(host text) RETURNS boolean
  LANGUAGE sql IMMUTABLE PARALLEL SAFE
  AS $$
    SELECT host IS NOT NULL
       AND host ~ '^(\*\.)?[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*(:[1-9][0-9]{0,4})?$'
       AND (host !~ '^\*\.' OR host ~ '^\*\.[^.:]+\.')
       AND pg_catalog.length(pg_catalog.split_part(host, ':', 1)) <= 253
       AND coalesce(pg_catalog.substring(host, ':([0-9]+)$')::integer <= 65535, true)
  $$;

CREATE FUNCTION keywarden.are_valid_hosts(hosts text[]) RETURNS boolean
  LANGUAGE sql IMMUTABLE PARALLEL SAFE
  AS $$
    SELECT hosts IS NOT NULL
       AND pg_catalog.cardinality(hosts) <= 32
       AND NOT EXISTS (SELECT 1 FROM pg_catalog.unnest(hosts) AS h (host)
                        WHERE NOT keywarden.is_valid_host(h.host))
  $$;

-- Raises KW012 naming the first bad entry by position and length only, like an invalid name:
-- a value pasted into the wrong place must not reach a log through an error message.
CREATE FUNCTION keywarden.assert_valid_hosts(hosts text[]) RETURNS void
  LANGUAGE plpgsql IMMUTABLE
  AS $$
  DECLARE
    bad_index bigint;
    bad_length integer;
  BEGIN
    IF pg_catalog.cardinality(hosts) > 32 THEN
      RAISE EXCEPTION 'invalid allowed_hosts: at most 32 hosts' USING ERRCODE = 'KW012';
    END IF;
    SELECT h.ord, coalesce(pg_catalog.length(h.host), 0) INTO bad_index, bad_length
      FROM pg_catalog.unnest(hosts) WITH ORDINALITY AS h (host, ord)
     WHERE NOT keywarden.is_valid_host(h.host)
     ORDER BY h.ord
     LIMIT 1;
    IF bad_index IS NOT NULL THEN
      RAISE EXCEPTION 'invalid allowed_hosts entry % (% characters): use a lower-case host such as api.github.com or *.example.com, optionally with :port, without scheme or path',
        bad_index, bad_length
        USING ERRCODE = 'KW012';
    END IF;
  END
  $$;

-- ---------------------------------------------------------------------------------------------
-- The columns
-- ---------------------------------------------------------------------------------------------

ALTER TABLE keywarden.secrets
  ADD COLUMN agent_visible boolean NOT NULL DEFAULT false,
  -- The CHECK backs store_secret's own validation up against writes that bypass it.
  ADD COLUMN allowed_hosts text[] NOT NULL DEFAULT '{}'
    CHECK (keywarden.are_valid_hosts(allowed_hosts));

-- ---------------------------------------------------------------------------------------------
-- store_secret: two more trailing metadata arguments
-- ---------------------------------------------------------------------------------------------

DROP FUNCTION public.store_secret(text, text, text, text, timestamptz, interval, text);

-- Creates a secret, or replaces an existing one's value as a new version. Storing the value a
-- secret already has, with no metadata change, creates no new version. Metadata arguments left
-- NULL keep what the secret had (agent_visible false and allowed_hosts empty for a new one).
-- Returns the vault id of the current value.
CREATE FUNCTION public.store_secret(
  secret_name text,
  secret_value text,
  secret_description text DEFAULT NULL,
  secret_type text DEFAULT NULL,
  expires_at timestamptz DEFAULT NULL,
  rotation_interval interval DEFAULT NULL,
  accessed_by text DEFAULT NULL,
  agent_visible boolean DEFAULT NULL,
  allowed_hosts text[] DEFAULT NULL
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
    IF store_secret.allowed_hosts IS NOT NULL THEN
      PERFORM keywarden.assert_valid_hosts(store_secret.allowed_hosts);
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
         agent_visible, allowed_hosts)
      VALUES (store_secret.secret_name, new_id, coalesce(store_secret.secret_type, 'other'),
              store_secret.secret_description, store_secret.expires_at, store_secret.rotation_interval,
              new_version, coalesce(store_secret.agent_visible, false),
              coalesce(store_secret.allowed_hosts, '{}'::text[]));
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
             updated_at = now()
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
-- a valid name) are listed too, as type 'other', hidden from agents and allowed nowhere.
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
  allowed_hosts text[]
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
             CASE WHEN m.previous_valid_until > now() THEN m.previous_valid_until END,
             coalesce(m.agent_visible, false),
             coalesce(m.allowed_hosts, '{}'::text[])
        FROM vault.secrets v
        LEFT JOIN keywarden.secrets m ON m.vault_secret_id = v.id
       WHERE keywarden.is_valid_name(v.name)
       ORDER BY v.name;
  END
  $$;

-- ---------------------------------------------------------------------------------------------
-- Grants, as in migration 3: service_role only. Supabase's default privileges grant new
-- functions to anon and authenticated, so revoking from PUBLIC alone would not be enough there.
-- ---------------------------------------------------------------------------------------------

REVOKE ALL ON FUNCTION
  keywarden.is_valid_host(text),
  keywarden.are_valid_hosts(text[]),
  keywarden.assert_valid_hosts(text[])
FROM PUBLIC, anon, authenticated;

REVOKE ALL ON FUNCTION
  public.store_secret(text, text, text, text, timestamptz, interval, text, boolean, text[]),
  public.list_secret_names(text)
FROM PUBLIC, anon, authenticated;

GRANT EXECUTE ON FUNCTION
  public.store_secret(text, text, text, text, timestamptz, interval, text, boolean, text[]),
  public.list_secret_names(text)
TO service_role;
