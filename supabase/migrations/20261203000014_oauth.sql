-- Remote MCP with OAuth 2.1 (issue 16): the edge plugin's authorization server keeps its state
-- here, so that Deno on Supabase and Node share one implementation and one state.
--
-- * keywarden.oauth_clients: clients registered by Dynamic Client Registration (RFC 7591),
--   public clients only (PKCE, no client secret). Each one is a door named oauth:<client name>
--   (made unique), the accessor of its audit rows and the door its MCP calls go through.
-- * keywarden.oauth_requests: pending authorization requests. The owner approves one with a
--   one-time code that `keywarden connect approve <id>` issues; only its hash is stored.
-- * keywarden.oauth_grants: connections (client, scopes, resource, created, last used, revoked).
-- * keywarden.oauth_codes: authorization codes (hash, PKCE S256 challenge, redirect URI,
--   resource, expiry, single use).
-- * keywarden.oauth_tokens: opaque access tokens and rotating refresh tokens, hashes only. A
--   refresh token presented after it was rotated revokes its whole grant (reuse detection).
--
-- Every token, code, owner code and CSRF token reaches the database only as the SHA-256 the
-- edge computed (lower-case hex), so neither a table nor a statement log holds one.
--
-- One entry point, public.oauth_call(operation, arguments jsonb) RETURNS jsonb, dispatches to
-- the keywarden.oauth_* functions: the stores (supabase-js .rpc(), pg, the local agent) then
-- carry one call instead of thirteen. Refusals are answers ({"error": …}), not exceptions, so
-- their audit rows commit with them; exceptions are left to programming errors (KW012).

-- ---------------------------------------------------------------------------------------------
-- Tables
-- ---------------------------------------------------------------------------------------------

CREATE TABLE keywarden.oauth_clients (
  client_id text PRIMARY KEY,
  client_name text NOT NULL CHECK (pg_catalog.length(client_name) BETWEEN 1 AND 100),
  -- oauth:<slug of the name>, unique: two clients that call themselves the same never share a door.
  door text NOT NULL UNIQUE CHECK (door ~ '^oauth:[a-z0-9][a-z0-9._-]{0,79}$'),
  redirect_uris text[] NOT NULL
    CHECK (pg_catalog.cardinality(redirect_uris) BETWEEN 1 AND 10),
  created_at timestamptz NOT NULL DEFAULT pg_catalog.now()
);

CREATE TABLE keywarden.oauth_requests (
  id text PRIMARY KEY CHECK (id ~ '^[A-Z2-9]{8}$'),
  client_id text NOT NULL REFERENCES keywarden.oauth_clients ON DELETE CASCADE,
  redirect_uri text NOT NULL,
  scopes text[] NOT NULL,
  resource text NOT NULL,
  code_challenge text NOT NULL CHECK (code_challenge ~ '^[A-Za-z0-9_-]{43}$'),
  state text,
  csrf_hash text NOT NULL CHECK (csrf_hash ~ '^[0-9a-f]{64}$'),
  owner_code_hash text CHECK (owner_code_hash ~ '^[0-9a-f]{64}$'),
  owner_code_expires_at timestamptz,
  failed_attempts integer NOT NULL DEFAULT 0,
  status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'approved', 'denied', 'failed')),
  created_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
  expires_at timestamptz NOT NULL
);

CREATE TABLE keywarden.oauth_grants (
  id uuid PRIMARY KEY DEFAULT pg_catalog.gen_random_uuid(),
  client_id text NOT NULL REFERENCES keywarden.oauth_clients ON DELETE CASCADE,
  scopes text[] NOT NULL,
  resource text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
  last_used_at timestamptz,
  revoked_at timestamptz,
  revoked_reason text
);

CREATE TABLE keywarden.oauth_codes (
  code_hash text PRIMARY KEY CHECK (code_hash ~ '^[0-9a-f]{64}$'),
  grant_id uuid NOT NULL REFERENCES keywarden.oauth_grants ON DELETE CASCADE,
  redirect_uri text NOT NULL,
  code_challenge text NOT NULL,
  resource text NOT NULL,
  expires_at timestamptz NOT NULL,
  used_at timestamptz
);

CREATE TABLE keywarden.oauth_tokens (
  token_hash text PRIMARY KEY CHECK (token_hash ~ '^[0-9a-f]{64}$'),
  grant_id uuid NOT NULL REFERENCES keywarden.oauth_grants ON DELETE CASCADE,
  kind text NOT NULL CHECK (kind IN ('access', 'refresh')),
  created_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
  expires_at timestamptz NOT NULL,
  -- A refresh token's rotation; presenting it again afterwards is reuse.
  used_at timestamptz,
  revoked_at timestamptz
);

CREATE INDEX oauth_requests_client ON keywarden.oauth_requests (client_id);
CREATE INDEX oauth_grants_client ON keywarden.oauth_grants (client_id);
CREATE INDEX oauth_codes_grant ON keywarden.oauth_codes (grant_id);
CREATE INDEX oauth_tokens_grant ON keywarden.oauth_tokens (grant_id);

REVOKE ALL ON TABLE keywarden.oauth_clients, keywarden.oauth_requests, keywarden.oauth_grants,
  keywarden.oauth_codes, keywarden.oauth_tokens
FROM PUBLIC, anon, authenticated, service_role;

-- ---------------------------------------------------------------------------------------------
-- Helpers
-- ---------------------------------------------------------------------------------------------

CREATE FUNCTION keywarden.oauth_scopes() RETURNS text[]
  LANGUAGE sql IMMUTABLE PARALLEL SAFE
  SET search_path = pg_catalog, pg_temp
  AS $$ SELECT ARRAY['secrets:metadata', 'secrets:use', 'secrets:write']::text[] $$;

-- A text[] from a jsonb array of strings (NULL for anything else).
CREATE FUNCTION keywarden.oauth_text_array(value jsonb) RETURNS text[]
  LANGUAGE sql IMMUTABLE PARALLEL SAFE
  SET search_path = pg_catalog, pg_temp
  AS $$
    SELECT CASE WHEN pg_catalog.jsonb_typeof(value) = 'array'
                 AND NOT EXISTS (SELECT 1 FROM pg_catalog.jsonb_array_elements(value) e (v)
                                  WHERE pg_catalog.jsonb_typeof(e.v) <> 'string')
           THEN ARRAY(SELECT e.v FROM pg_catalog.jsonb_array_elements_text(value) e (v))
           END
  $$;

-- A hash argument: 64 lower-case hex digits, else KW012 (naming the argument, never the value).
CREATE FUNCTION keywarden.oauth_hash(arguments jsonb, key text) RETURNS text
  LANGUAGE plpgsql IMMUTABLE
  SET search_path = pg_catalog, pg_temp
  AS $$
  DECLARE
    value text := arguments ->> key;
  BEGIN
    IF value IS NULL OR value !~ '^[0-9a-f]{64}$' THEN
      RAISE EXCEPTION 'invalid %: a SHA-256 in lower-case hex is expected', key USING ERRCODE = 'KW012';
    END IF;
    RETURN value;
  END
  $$;

-- A redirect URI a client may register: https, or http to a loopback address (native apps,
-- RFC 8252), with no fragment and no whitespace. The edge parses it first; this is the floor.
CREATE FUNCTION keywarden.oauth_is_valid_redirect_uri(uri text) RETURNS boolean
  LANGUAGE sql IMMUTABLE PARALLEL SAFE
  SET search_path = pg_catalog, pg_temp
  AS $$
    SELECT uri IS NOT NULL AND pg_catalog.length(uri) <= 2000
       AND uri !~ '[[:space:]#]'
       AND (uri ~ '^https://[^/?]+(/|$)'
            OR uri ~ '^http://(localhost|127\.0\.0\.1|\[::1\])(:[0-9]{1,5})?(/|$)')
  $$;

-- The audit row of an OAuth event: secret '*', the client's door (or the CLI) as accessor.
CREATE FUNCTION keywarden.oauth_audit(
  accessed_by text, access_type text, success boolean, message text
) RETURNS void
  LANGUAGE sql
  SET search_path = pg_catalog, pg_temp
  AS $$ SELECT keywarden.audit('*', accessed_by, access_type, success, pg_catalog.left(message, 500)) $$;

-- An error answer, audited as a refusal first.
CREATE FUNCTION keywarden.oauth_refuse(
  accessed_by text, error text, description text
) RETURNS jsonb
  LANGUAGE plpgsql
  SET search_path = pg_catalog, pg_temp
  AS $$
  BEGIN
    PERFORM keywarden.oauth_audit(accessed_by, 'oauth_refused', false, error || ': ' || description);
    RETURN pg_catalog.jsonb_build_object('error', error, 'error_description', description);
  END
  $$;

-- Revokes a grant and every token it has; audited with the reason.
CREATE FUNCTION keywarden.oauth_revoke_grant(
  grant_id uuid, accessed_by text, access_type text, reason text
) RETURNS boolean
  LANGUAGE plpgsql
  SET search_path = pg_catalog, pg_temp
  AS $$
  BEGIN
    UPDATE keywarden.oauth_grants g
       SET revoked_at = pg_catalog.now(), revoked_reason = reason
     WHERE g.id = oauth_revoke_grant.grant_id AND g.revoked_at IS NULL;
    IF NOT FOUND THEN
      RETURN false;
    END IF;
    UPDATE keywarden.oauth_tokens t SET revoked_at = pg_catalog.now()
     WHERE t.grant_id = oauth_revoke_grant.grant_id AND t.revoked_at IS NULL;
    PERFORM keywarden.oauth_audit(accessed_by, access_type, true,
      'connection ' || grant_id || ' revoked: ' || reason);
    RETURN true;
  END
  $$;

CREATE FUNCTION keywarden.oauth_client_json(c keywarden.oauth_clients) RETURNS jsonb
  LANGUAGE sql STABLE
  SET search_path = pg_catalog, pg_temp
  AS $$
    SELECT pg_catalog.jsonb_build_object('client_id', c.client_id, 'client_name', c.client_name,
      'door', c.door, 'redirect_uris', pg_catalog.to_jsonb(c.redirect_uris),
      'created_at', c.created_at)
  $$;

-- ---------------------------------------------------------------------------------------------
-- Registration (RFC 7591)
-- ---------------------------------------------------------------------------------------------

-- {client_name, redirect_uris} → the client. Clients that never got a connection are forgotten
-- after a day, and at most 200 such clients exist at once, so anonymous registration cannot
-- grow the table without bound.
CREATE FUNCTION keywarden.oauth_register_client(arguments jsonb) RETURNS jsonb
  LANGUAGE plpgsql
  SET search_path = pg_catalog, pg_temp
  AS $$
  DECLARE
    name text := pg_catalog.btrim(arguments ->> 'client_name');
    uris text[] := keywarden.oauth_text_array(arguments -> 'redirect_uris');
    slug text;
    new_door text;
    suffix integer := 1;
    new_client keywarden.oauth_clients;
  BEGIN
    IF name IS NULL OR name = '' OR pg_catalog.length(name) > 100 OR name ~ '[[:cntrl:]]' THEN
      RETURN keywarden.oauth_refuse('oauth:unregistered', 'invalid_client_metadata',
        'client_name must be 1 to 100 printable characters');
    END IF;
    IF uris IS NULL OR pg_catalog.cardinality(uris) NOT BETWEEN 1 AND 10
       OR EXISTS (SELECT 1 FROM pg_catalog.unnest(uris) u (uri)
                   WHERE NOT keywarden.oauth_is_valid_redirect_uri(u.uri)) THEN
      RETURN keywarden.oauth_refuse('oauth:unregistered', 'invalid_redirect_uri',
        'redirect_uris must be 1 to 10 https URIs (or http to a loopback address) without fragments');
    END IF;
    PERFORM pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext('keywarden.oauth_clients'));
    DELETE FROM keywarden.oauth_clients c
     WHERE c.created_at < pg_catalog.now() - interval '1 day'
       AND NOT EXISTS (SELECT 1 FROM keywarden.oauth_grants g WHERE g.client_id = c.client_id);
    IF (SELECT pg_catalog.count(*) FROM keywarden.oauth_clients c
         WHERE NOT EXISTS (SELECT 1 FROM keywarden.oauth_grants g WHERE g.client_id = c.client_id)) >= 200 THEN
      RETURN keywarden.oauth_refuse('oauth:unregistered', 'temporarily_unavailable',
        'too many clients are waiting for approval; retry later');
    END IF;
    slug := pg_catalog.left(pg_catalog.btrim(pg_catalog.regexp_replace(pg_catalog.lower(name),
      '[^a-z0-9._-]+', '-', 'g'), '-._'), 70);
    IF slug = '' THEN
      slug := 'client';
    END IF;
    new_door := 'oauth:' || slug;
    WHILE EXISTS (SELECT 1 FROM keywarden.oauth_clients c WHERE c.door = new_door) LOOP
      suffix := suffix + 1;
      new_door := 'oauth:' || slug || '-' || suffix;
    END LOOP;
    INSERT INTO keywarden.oauth_clients (client_id, client_name, door, redirect_uris)
    VALUES ('kwc_' || pg_catalog.replace(pg_catalog.gen_random_uuid()::text, '-', ''), name, new_door, uris)
    RETURNING * INTO new_client;
    PERFORM keywarden.oauth_audit(new_door, 'oauth_register', true,
      'client ' || new_client.client_id || ' registered, redirect hosts ' ||
      (SELECT pg_catalog.string_agg(DISTINCT pg_catalog.substring(u.uri, '^[a-z]+://([^/?]+)'), ', ')
         FROM pg_catalog.unnest(uris) u (uri)));
    RETURN keywarden.oauth_client_json(new_client);
  END
  $$;

-- {client_id} → the client, or {"error": "invalid_client"}.
CREATE FUNCTION keywarden.oauth_get_client(arguments jsonb) RETURNS jsonb
  LANGUAGE sql STABLE
  SET search_path = pg_catalog, pg_temp
  AS $$
    SELECT coalesce(
      (SELECT keywarden.oauth_client_json(c) FROM keywarden.oauth_clients c
        WHERE c.client_id = arguments ->> 'client_id'),
      pg_catalog.jsonb_build_object('error', 'invalid_client', 'error_description', 'unknown client_id'))
  $$;

-- ---------------------------------------------------------------------------------------------
-- Authorization requests and the owner's decision
-- ---------------------------------------------------------------------------------------------

CREATE FUNCTION keywarden.oauth_request_json(r keywarden.oauth_requests, c keywarden.oauth_clients)
RETURNS jsonb
  LANGUAGE sql STABLE
  SET search_path = pg_catalog, pg_temp
  AS $$
    SELECT pg_catalog.jsonb_build_object('request_id', r.id, 'client_id', c.client_id,
      'client_name', c.client_name, 'door', c.door, 'redirect_uri', r.redirect_uri,
      'scopes', pg_catalog.to_jsonb(r.scopes), 'resource', r.resource, 'status', r.status,
      'owner_code_issued', r.owner_code_hash IS NOT NULL,
      'created_at', r.created_at, 'expires_at', r.expires_at)
  $$;

-- {client_id, redirect_uri, response_type, scopes, resource, expected_resource, code_challenge,
-- code_challenge_method, state, csrf_hash} → the pending request. The redirect URI must be one
-- the client registered, exactly (checked first: the other refusals may then be sent there); the
-- response type `code`, PKCE `S256`, and the resource this server's (RFC 8707). A request lives
-- 15 minutes; a client has at most 20 pending at once.
CREATE FUNCTION keywarden.oauth_begin_authorization(arguments jsonb) RETURNS jsonb
  LANGUAGE plpgsql
  SET search_path = pg_catalog, pg_temp
  AS $$
  DECLARE
    client keywarden.oauth_clients;
    scopes text[] := keywarden.oauth_text_array(arguments -> 'scopes');
    created keywarden.oauth_requests;
  BEGIN
    SELECT * INTO client FROM keywarden.oauth_clients c WHERE c.client_id = arguments ->> 'client_id';
    IF client.client_id IS NULL THEN
      RETURN keywarden.oauth_refuse('oauth:unregistered', 'invalid_client', 'unknown client_id');
    END IF;
    IF NOT (arguments ->> 'redirect_uri') = ANY (client.redirect_uris) OR arguments ->> 'redirect_uri' IS NULL THEN
      RETURN keywarden.oauth_refuse(client.door, 'invalid_redirect_uri',
        'redirect_uri is not one the client registered');
    END IF;
    IF arguments ->> 'response_type' IS DISTINCT FROM 'code' THEN
      RETURN keywarden.oauth_refuse(client.door, 'unsupported_response_type',
        'only the authorization code flow (response_type=code) is offered');
    END IF;
    IF arguments ->> 'code_challenge_method' IS DISTINCT FROM 'S256' THEN
      RETURN keywarden.oauth_refuse(client.door, 'invalid_request',
        'PKCE with code_challenge_method=S256 is required');
    END IF;
    IF scopes IS NULL OR pg_catalog.cardinality(scopes) = 0
       OR NOT scopes <@ keywarden.oauth_scopes() THEN
      RETURN keywarden.oauth_refuse(client.door, 'invalid_scope',
        'scope must name some of secrets:metadata, secrets:use, secrets:write');
    END IF;
    IF coalesce(arguments ->> 'code_challenge', '') !~ '^[A-Za-z0-9_-]{43}$' THEN
      RETURN keywarden.oauth_refuse(client.door, 'invalid_request',
        'code_challenge must be an S256 PKCE challenge');
    END IF;
    IF coalesce(arguments ->> 'resource', '') = ''
       OR arguments ->> 'resource' IS DISTINCT FROM arguments ->> 'expected_resource' THEN
      RETURN keywarden.oauth_refuse(client.door, 'invalid_target',
        'resource must be this server''s MCP endpoint');
    END IF;
    DELETE FROM keywarden.oauth_requests r
     WHERE r.expires_at < pg_catalog.now() - interval '1 day';
    IF (SELECT pg_catalog.count(*) FROM keywarden.oauth_requests r
         WHERE r.client_id = client.client_id AND r.status = 'pending'
           AND r.expires_at > pg_catalog.now()) >= 20 THEN
      RETURN keywarden.oauth_refuse(client.door, 'temporarily_unavailable',
        'too many pending authorization requests for this client');
    END IF;
    INSERT INTO keywarden.oauth_requests
      (id, client_id, redirect_uri, scopes, resource, code_challenge, state, csrf_hash, expires_at)
    VALUES (
      -- 8 characters of an alphabet without look-alikes (0/O, 1/I): typed at the CLI.
      (SELECT pg_catalog.string_agg(pg_catalog.substr('ABCDEFGHJKLMNPQRSTUVWXYZ23456789',
                (pg_catalog.get_byte(b.bytes, i) % 32) + 1, 1), '' ORDER BY i)
         FROM (SELECT pg_catalog.decode(pg_catalog.replace(pg_catalog.gen_random_uuid()::text, '-', ''), 'hex') AS bytes) b,
              pg_catalog.unnest(ARRAY[0, 1, 2, 3, 4, 5, 10, 11]) AS i),
      client.client_id, arguments ->> 'redirect_uri',
      ARRAY(SELECT DISTINCT s FROM pg_catalog.unnest(scopes) s ORDER BY s),
      arguments ->> 'resource', arguments ->> 'code_challenge',
      pg_catalog.left(arguments ->> 'state', 500), keywarden.oauth_hash(arguments, 'csrf_hash'),
      pg_catalog.now() + interval '15 minutes')
    RETURNING * INTO created;
    PERFORM keywarden.oauth_audit(client.door, 'oauth_request', true,
      'authorization request ' || created.id || ' for ' || pg_catalog.array_to_string(created.scopes, ' '));
    RETURN keywarden.oauth_request_json(created, client);
  END
  $$;

-- The pending requests (for `keywarden connect approve`), newest first.
CREATE FUNCTION keywarden.oauth_pending_requests(arguments jsonb) RETURNS jsonb
  LANGUAGE sql STABLE
  SET search_path = pg_catalog, pg_temp
  AS $$
    SELECT coalesce(pg_catalog.jsonb_agg(keywarden.oauth_request_json(r, c) ORDER BY r.created_at DESC), '[]')
      FROM keywarden.oauth_requests r JOIN keywarden.oauth_clients c USING (client_id)
     WHERE r.status = 'pending' AND r.expires_at > pg_catalog.now()
  $$;

-- {request_id, owner_code_hash, accessed_by} → the request, its one-time owner code set (10
-- minutes, replacing an earlier one and its failed attempts). Called by the CLI, which printed
-- the code and keeps nothing.
CREATE FUNCTION keywarden.oauth_issue_owner_code(arguments jsonb) RETURNS jsonb
  LANGUAGE plpgsql
  SET search_path = pg_catalog, pg_temp
  AS $$
  DECLARE
    who text := keywarden.accessor(arguments ->> 'accessed_by');
    updated keywarden.oauth_requests;
    client keywarden.oauth_clients;
  BEGIN
    UPDATE keywarden.oauth_requests r
       SET owner_code_hash = keywarden.oauth_hash(arguments, 'owner_code_hash'),
           owner_code_expires_at = least(r.expires_at, pg_catalog.now() + interval '10 minutes'),
           failed_attempts = 0
     WHERE r.id = pg_catalog.upper(arguments ->> 'request_id') AND r.status = 'pending'
       AND r.expires_at > pg_catalog.now()
    RETURNING * INTO updated;
    IF updated.id IS NULL THEN
      RETURN pg_catalog.jsonb_build_object('error', 'not_found',
        'error_description', 'no pending authorization request has this id');
    END IF;
    SELECT * INTO client FROM keywarden.oauth_clients c WHERE c.client_id = updated.client_id;
    PERFORM keywarden.oauth_audit(who, 'oauth_owner_code', true,
      'owner code issued for request ' || updated.id || ' of ' || client.door);
    RETURN keywarden.oauth_request_json(updated, client);
  END
  $$;

-- {request_id, csrf_hash, approve, owner_code_hash, scopes, code_hash} → the decision.
-- Denial: {"denied": true, redirect_uri, state}. Approval needs the owner code the CLI issued
-- (5 wrong codes end the request); it makes the grant and a 60-second authorization code for
-- the scopes the owner kept (a subset of those requested): {redirect_uri, state, grant_id}.
CREATE FUNCTION keywarden.oauth_decide(arguments jsonb) RETURNS jsonb
  LANGUAGE plpgsql
  SET search_path = pg_catalog, pg_temp
  AS $$
  DECLARE
    request keywarden.oauth_requests;
    client keywarden.oauth_clients;
    kept text[] := keywarden.oauth_text_array(arguments -> 'scopes');
    new_grant uuid;
  BEGIN
    SELECT * INTO request FROM keywarden.oauth_requests r
     WHERE r.id = arguments ->> 'request_id' FOR UPDATE;
    IF request.id IS NULL OR request.status <> 'pending' OR request.expires_at <= pg_catalog.now() THEN
      RETURN keywarden.oauth_refuse('oauth:unregistered', 'invalid_request',
        'the authorization request is unknown, expired or already decided');
    END IF;
    SELECT * INTO client FROM keywarden.oauth_clients c WHERE c.client_id = request.client_id;
    IF request.csrf_hash <> keywarden.oauth_hash(arguments, 'csrf_hash') THEN
      RETURN keywarden.oauth_refuse(client.door, 'invalid_request',
        'the consent form''s CSRF token does not match request ' || request.id);
    END IF;
    IF NOT coalesce((arguments ->> 'approve')::boolean, false) THEN
      UPDATE keywarden.oauth_requests r SET status = 'denied' WHERE r.id = request.id;
      PERFORM keywarden.oauth_audit(client.door, 'oauth_deny', true,
        'the owner denied request ' || request.id);
      RETURN pg_catalog.jsonb_build_object('denied', true, 'redirect_uri', request.redirect_uri,
        'state', request.state);
    END IF;
    IF request.owner_code_hash IS NULL OR request.owner_code_expires_at <= pg_catalog.now()
       OR request.owner_code_hash <> keywarden.oauth_hash(arguments, 'owner_code_hash') THEN
      UPDATE keywarden.oauth_requests r
         SET failed_attempts = r.failed_attempts + 1,
             status = CASE WHEN r.failed_attempts + 1 >= 5 THEN 'failed' ELSE r.status END
       WHERE r.id = request.id;
      PERFORM keywarden.oauth_audit(client.door, 'oauth_refused', false,
        'approval of request ' || request.id || ' without the owner''s code (' ||
        CASE WHEN request.owner_code_hash IS NULL THEN 'none issued'
             WHEN request.owner_code_expires_at <= pg_catalog.now() THEN 'expired'
             ELSE 'wrong' END || ')');
      RETURN keywarden.oauth_request_json(request, client) || pg_catalog.jsonb_build_object(
        'error', 'wrong_owner_code',
        'error_description', CASE WHEN request.owner_code_hash IS NULL
          THEN 'no owner code was issued for this request: run keywarden connect approve ' || request.id
          ELSE 'that is not the code keywarden connect approve printed (or it expired)' END,
        'attempts_left', greatest(0, 4 - request.failed_attempts));
    END IF;
    IF kept IS NULL OR pg_catalog.cardinality(kept) = 0 OR NOT kept <@ request.scopes THEN
      RETURN keywarden.oauth_refuse(client.door, 'invalid_scope',
        'the approved scopes must be some of those requested');
    END IF;
    UPDATE keywarden.oauth_requests r SET status = 'approved' WHERE r.id = request.id;
    INSERT INTO keywarden.oauth_grants (client_id, scopes, resource)
    VALUES (client.client_id, ARRAY(SELECT DISTINCT s FROM pg_catalog.unnest(kept) s ORDER BY s),
            request.resource)
    RETURNING id INTO new_grant;
    INSERT INTO keywarden.oauth_codes (code_hash, grant_id, redirect_uri, code_challenge, resource, expires_at)
    VALUES (keywarden.oauth_hash(arguments, 'code_hash'), new_grant, request.redirect_uri,
            request.code_challenge, request.resource, pg_catalog.now() + interval '60 seconds');
    PERFORM keywarden.oauth_audit(client.door, 'oauth_approve', true,
      'the owner approved request ' || request.id || ' as connection ' || new_grant || ' for ' ||
      (SELECT pg_catalog.string_agg(s, ' ' ORDER BY s) FROM pg_catalog.unnest(kept) s));
    RETURN pg_catalog.jsonb_build_object('redirect_uri', request.redirect_uri,
      'state', request.state, 'grant_id', new_grant);
  END
  $$;

-- ---------------------------------------------------------------------------------------------
-- Tokens
-- ---------------------------------------------------------------------------------------------

-- Stores a new access and refresh token for a grant; the answer a token endpoint gives.
CREATE FUNCTION keywarden.oauth_issue_tokens(g keywarden.oauth_grants, arguments jsonb) RETURNS jsonb
  LANGUAGE plpgsql
  SET search_path = pg_catalog, pg_temp
  AS $$
  DECLARE
    access_ttl integer := coalesce((arguments ->> 'access_ttl_seconds')::integer, 3600);
    refresh_ttl integer := coalesce((arguments ->> 'refresh_ttl_seconds')::integer, 30 * 86400);
  BEGIN
    IF access_ttl NOT BETWEEN 1 AND 86400 OR refresh_ttl NOT BETWEEN 60 AND 366 * 86400 THEN
      RAISE EXCEPTION 'invalid token lifetimes' USING ERRCODE = 'KW012';
    END IF;
    INSERT INTO keywarden.oauth_tokens (token_hash, grant_id, kind, expires_at) VALUES
      (keywarden.oauth_hash(arguments, 'access_hash'), g.id, 'access',
       pg_catalog.now() + pg_catalog.make_interval(secs => access_ttl)),
      (keywarden.oauth_hash(arguments, 'refresh_hash'), g.id, 'refresh',
       pg_catalog.now() + pg_catalog.make_interval(secs => refresh_ttl));
    UPDATE keywarden.oauth_grants x SET last_used_at = pg_catalog.now() WHERE x.id = g.id;
    RETURN pg_catalog.jsonb_build_object('token_type', 'Bearer', 'expires_in', access_ttl,
      'scope', pg_catalog.array_to_string(g.scopes, ' '), 'grant_id', g.id);
  END
  $$;

-- {client_id, code_hash, pkce_challenge (S256 of the verifier), redirect_uri, resource,
--  access_hash, refresh_hash, access_ttl_seconds, refresh_ttl_seconds} → tokens, or an error.
-- A code is spent by its first presentation, right or wrong; presenting a spent code again
-- revokes the connection it made (RFC 6749 §4.1.2: the code may have been stolen).
CREATE FUNCTION keywarden.oauth_exchange_code(arguments jsonb) RETURNS jsonb
  LANGUAGE plpgsql
  SET search_path = pg_catalog, pg_temp
  AS $$
  DECLARE
    code keywarden.oauth_codes;
    g keywarden.oauth_grants;
    client keywarden.oauth_clients;
    problem text;
  BEGIN
    SELECT * INTO code FROM keywarden.oauth_codes x
     WHERE x.code_hash = keywarden.oauth_hash(arguments, 'code_hash') FOR UPDATE;
    IF code.code_hash IS NULL THEN
      RETURN keywarden.oauth_refuse('oauth:unregistered', 'invalid_grant', 'unknown authorization code');
    END IF;
    SELECT * INTO g FROM keywarden.oauth_grants x WHERE x.id = code.grant_id;
    SELECT * INTO client FROM keywarden.oauth_clients c WHERE c.client_id = g.client_id;
    IF client.client_id <> coalesce(arguments ->> 'client_id', '') THEN
      RETURN keywarden.oauth_refuse(client.door, 'invalid_grant',
        'the authorization code was issued to another client');
    END IF;
    IF code.used_at IS NOT NULL THEN
      PERFORM keywarden.oauth_revoke_grant(g.id, client.door, 'oauth_code_reuse',
        'authorization code presented twice');
      RETURN keywarden.oauth_refuse(client.door, 'invalid_grant',
        'the authorization code was already used; the connection it made is revoked');
    END IF;
    UPDATE keywarden.oauth_codes x SET used_at = pg_catalog.now() WHERE x.code_hash = code.code_hash;
    problem := CASE
      WHEN code.expires_at <= pg_catalog.now() THEN 'the authorization code expired'
      WHEN g.revoked_at IS NOT NULL THEN 'the connection was revoked'
      WHEN code.redirect_uri IS DISTINCT FROM arguments ->> 'redirect_uri'
        THEN 'redirect_uri differs from the authorization request''s'
      WHEN code.code_challenge IS DISTINCT FROM arguments ->> 'pkce_challenge'
        THEN 'the PKCE code_verifier does not match the code_challenge'
    END;
    IF problem IS NOT NULL THEN
      RETURN keywarden.oauth_refuse(client.door, 'invalid_grant', problem);
    END IF;
    IF coalesce(arguments ->> 'resource', code.resource) <> code.resource THEN
      RETURN keywarden.oauth_refuse(client.door, 'invalid_target',
        'resource differs from the one the owner approved');
    END IF;
    PERFORM keywarden.oauth_audit(client.door, 'oauth_token', true,
      'tokens issued for connection ' || g.id);
    RETURN keywarden.oauth_issue_tokens(g, arguments);
  END
  $$;

-- {client_id, refresh_hash, resource, access_hash, new refresh_hash as next_refresh_hash, …}
-- → new tokens (the presented refresh token is spent), or an error. A spent refresh token
-- presented again revokes the whole connection: one of its two holders is not the client.
CREATE FUNCTION keywarden.oauth_refresh(arguments jsonb) RETURNS jsonb
  LANGUAGE plpgsql
  SET search_path = pg_catalog, pg_temp
  AS $$
  DECLARE
    token keywarden.oauth_tokens;
    g keywarden.oauth_grants;
    client keywarden.oauth_clients;
  BEGIN
    SELECT * INTO token FROM keywarden.oauth_tokens t
     WHERE t.token_hash = keywarden.oauth_hash(arguments, 'refresh_hash') AND t.kind = 'refresh'
       FOR UPDATE;
    IF token.token_hash IS NULL THEN
      RETURN keywarden.oauth_refuse('oauth:unregistered', 'invalid_grant', 'unknown refresh token');
    END IF;
    SELECT * INTO g FROM keywarden.oauth_grants x WHERE x.id = token.grant_id FOR UPDATE;
    SELECT * INTO client FROM keywarden.oauth_clients c WHERE c.client_id = g.client_id;
    IF client.client_id <> coalesce(arguments ->> 'client_id', '') THEN
      RETURN keywarden.oauth_refuse(client.door, 'invalid_grant',
        'the refresh token was issued to another client');
    END IF;
    IF g.revoked_at IS NOT NULL OR token.revoked_at IS NOT NULL THEN
      RETURN keywarden.oauth_refuse(client.door, 'invalid_grant', 'the connection was revoked');
    END IF;
    IF token.used_at IS NOT NULL THEN
      PERFORM keywarden.oauth_revoke_grant(g.id, client.door, 'oauth_refresh_reuse',
        'a rotated refresh token was presented again');
      RETURN keywarden.oauth_refuse(client.door, 'invalid_grant',
        'the refresh token was already used; the connection is revoked');
    END IF;
    IF token.expires_at <= pg_catalog.now() THEN
      RETURN keywarden.oauth_refuse(client.door, 'invalid_grant', 'the refresh token expired');
    END IF;
    IF coalesce(arguments ->> 'resource', g.resource) <> g.resource THEN
      RETURN keywarden.oauth_refuse(client.door, 'invalid_target',
        'resource differs from the one the owner approved');
    END IF;
    UPDATE keywarden.oauth_tokens t SET used_at = pg_catalog.now() WHERE t.token_hash = token.token_hash;
    PERFORM keywarden.oauth_audit(client.door, 'oauth_refresh', true,
      'tokens refreshed for connection ' || g.id);
    RETURN keywarden.oauth_issue_tokens(g,
      arguments || pg_catalog.jsonb_build_object('refresh_hash', arguments ->> 'next_refresh_hash'));
  END
  $$;

-- {access_hash, resource} → {grant_id, client_id, client_name, door, scopes} for a live access
-- token issued for that resource, or an error (audited). last_used_at moves at most once a
-- minute, so a busy connection does not write on every call.
CREATE FUNCTION keywarden.oauth_verify_access_token(arguments jsonb) RETURNS jsonb
  LANGUAGE plpgsql
  SET search_path = pg_catalog, pg_temp
  AS $$
  DECLARE
    token keywarden.oauth_tokens;
    g keywarden.oauth_grants;
    client keywarden.oauth_clients;
    problem text;
  BEGIN
    SELECT * INTO token FROM keywarden.oauth_tokens t
     WHERE t.token_hash = keywarden.oauth_hash(arguments, 'access_hash') AND t.kind = 'access';
    IF token.token_hash IS NULL THEN
      RETURN keywarden.oauth_refuse('oauth:unregistered', 'invalid_token', 'unknown access token');
    END IF;
    SELECT * INTO g FROM keywarden.oauth_grants x WHERE x.id = token.grant_id;
    SELECT * INTO client FROM keywarden.oauth_clients c WHERE c.client_id = g.client_id;
    problem := CASE
      WHEN g.revoked_at IS NOT NULL OR token.revoked_at IS NOT NULL THEN 'the connection was revoked'
      WHEN token.expires_at <= pg_catalog.now() THEN 'the access token expired'
      WHEN g.resource IS DISTINCT FROM arguments ->> 'resource'
        THEN 'the access token was issued for another resource'
    END;
    IF problem IS NOT NULL THEN
      RETURN keywarden.oauth_refuse(client.door, 'invalid_token', problem);
    END IF;
    UPDATE keywarden.oauth_grants x SET last_used_at = pg_catalog.now()
     WHERE x.id = g.id AND (x.last_used_at IS NULL OR x.last_used_at < pg_catalog.now() - interval '1 minute');
    RETURN pg_catalog.jsonb_build_object('grant_id', g.id, 'client_id', client.client_id,
      'client_name', client.client_name, 'door', client.door, 'scopes', pg_catalog.to_jsonb(g.scopes));
  END
  $$;

-- {token_hash, client_id} (RFC 7009) → {"revoked": boolean}. A refresh token takes its whole
-- connection with it; an access token only itself. Tokens of other clients are left alone.
CREATE FUNCTION keywarden.oauth_revoke_token(arguments jsonb) RETURNS jsonb
  LANGUAGE plpgsql
  SET search_path = pg_catalog, pg_temp
  AS $$
  DECLARE
    token keywarden.oauth_tokens;
    client keywarden.oauth_clients;
  BEGIN
    SELECT t.* INTO token FROM keywarden.oauth_tokens t
      JOIN keywarden.oauth_grants g ON g.id = t.grant_id
     WHERE t.token_hash = keywarden.oauth_hash(arguments, 'token_hash')
       AND g.client_id = arguments ->> 'client_id';
    IF token.token_hash IS NULL THEN
      RETURN pg_catalog.jsonb_build_object('revoked', false);
    END IF;
    SELECT c.* INTO client FROM keywarden.oauth_clients c
      JOIN keywarden.oauth_grants g ON g.client_id = c.client_id WHERE g.id = token.grant_id;
    IF token.kind = 'refresh' THEN
      RETURN pg_catalog.jsonb_build_object('revoked',
        keywarden.oauth_revoke_grant(token.grant_id, client.door, 'oauth_revoke',
          'the client revoked its refresh token'));
    END IF;
    UPDATE keywarden.oauth_tokens t SET revoked_at = pg_catalog.now()
     WHERE t.token_hash = token.token_hash AND t.revoked_at IS NULL;
    IF FOUND THEN
      PERFORM keywarden.oauth_audit(client.door, 'oauth_revoke', true,
        'the client revoked an access token of connection ' || token.grant_id);
    END IF;
    RETURN pg_catalog.jsonb_build_object('revoked', FOUND);
  END
  $$;

-- ---------------------------------------------------------------------------------------------
-- Connections (keywarden connections)
-- ---------------------------------------------------------------------------------------------

-- Every connection, newest first: live ones and revoked ones (with when and why).
CREATE FUNCTION keywarden.oauth_list_connections(arguments jsonb) RETURNS jsonb
  LANGUAGE sql STABLE
  SET search_path = pg_catalog, pg_temp
  AS $$
    SELECT coalesce(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
             'id', g.id, 'client_id', c.client_id, 'client_name', c.client_name, 'door', c.door,
             'scopes', pg_catalog.to_jsonb(g.scopes), 'resource', g.resource,
             'created_at', g.created_at, 'last_used_at', g.last_used_at,
             'revoked_at', g.revoked_at, 'revoked_reason', g.revoked_reason)
           ORDER BY g.created_at DESC), '[]')
      FROM keywarden.oauth_grants g JOIN keywarden.oauth_clients c USING (client_id)
  $$;

-- {connection_id, accessed_by} → {"revoked": boolean}.
CREATE FUNCTION keywarden.oauth_revoke_connection(arguments jsonb) RETURNS jsonb
  LANGUAGE plpgsql
  SET search_path = pg_catalog, pg_temp
  AS $$
  DECLARE
    id uuid;
  BEGIN
    BEGIN
      id := (arguments ->> 'connection_id')::uuid;
    EXCEPTION WHEN invalid_text_representation THEN
      RAISE EXCEPTION 'invalid connection id: use the id keywarden connections lists' USING ERRCODE = 'KW012';
    END;
    RETURN pg_catalog.jsonb_build_object('revoked', keywarden.oauth_revoke_grant(id,
      keywarden.accessor(arguments ->> 'accessed_by'), 'oauth_revoke', 'revoked by the owner'));
  END
  $$;

-- ---------------------------------------------------------------------------------------------
-- The one entry point
-- ---------------------------------------------------------------------------------------------

-- Runs one OAuth operation (the keywarden.oauth_* function of that name) with its arguments.
CREATE FUNCTION public.oauth_call(operation text, arguments jsonb DEFAULT '{}') RETURNS jsonb
  LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
  AS $$
  DECLARE
    args jsonb := coalesce(oauth_call.arguments, '{}');
  BEGIN
    IF pg_catalog.jsonb_typeof(args) <> 'object' THEN
      RAISE EXCEPTION 'invalid arguments: a JSON object is expected' USING ERRCODE = 'KW012';
    END IF;
    RETURN CASE oauth_call.operation
      WHEN 'register_client' THEN keywarden.oauth_register_client(args)
      WHEN 'get_client' THEN keywarden.oauth_get_client(args)
      WHEN 'begin_authorization' THEN keywarden.oauth_begin_authorization(args)
      WHEN 'pending_requests' THEN keywarden.oauth_pending_requests(args)
      WHEN 'issue_owner_code' THEN keywarden.oauth_issue_owner_code(args)
      WHEN 'decide' THEN keywarden.oauth_decide(args)
      WHEN 'exchange_code' THEN keywarden.oauth_exchange_code(args)
      WHEN 'refresh' THEN keywarden.oauth_refresh(args)
      WHEN 'verify_access_token' THEN keywarden.oauth_verify_access_token(args)
      WHEN 'revoke_token' THEN keywarden.oauth_revoke_token(args)
      WHEN 'list_connections' THEN keywarden.oauth_list_connections(args)
      WHEN 'revoke_connection' THEN keywarden.oauth_revoke_connection(args)
      ELSE keywarden.oauth_unknown_operation(oauth_call.operation)
    END;
  END
  $$;

CREATE FUNCTION keywarden.oauth_unknown_operation(operation text) RETURNS jsonb
  LANGUAGE plpgsql IMMUTABLE
  SET search_path = pg_catalog, pg_temp
  AS $$
  BEGIN
    RAISE EXCEPTION 'unknown OAuth operation (% characters)', coalesce(pg_catalog.length(operation), 0)
      USING ERRCODE = 'KW012';
  END
  $$;

-- ---------------------------------------------------------------------------------------------
-- Grants: the entry point for service_role only; the helpers for nobody.
-- ---------------------------------------------------------------------------------------------

DO $$
DECLARE
  f regprocedure;
BEGIN
  FOR f IN SELECT p.oid::regprocedure FROM pg_catalog.pg_proc p
            WHERE p.pronamespace = 'keywarden'::regnamespace AND p.proname LIKE 'oauth\_%' LOOP
    EXECUTE pg_catalog.format('REVOKE ALL ON FUNCTION %s FROM PUBLIC, anon, authenticated, service_role', f);
  END LOOP;
END
$$;

REVOKE ALL ON FUNCTION public.oauth_call(text, jsonb) FROM PUBLIC, anon, authenticated;
GRANT EXECUTE ON FUNCTION public.oauth_call(text, jsonb) TO service_role;
