-- The `vault` schema every Keywarden function is written against.
--
-- On Supabase the `supabase_vault` extension provides it and this migration only makes sure the
-- extension is installed and usable, and gives service_role Supabase's grants on it. Elsewhere
-- (plain PostgreSQL, the embedded PGlite) it creates a compatible vault: the same table, view,
-- functions and grants, with pgcrypto doing the encryption.
--
-- Which one: the extension only when it is really usable. `supabase_vault` reads its server key
-- at start-up, and only when it is in shared_preload_libraries; `vault.getkey_script` exists
-- only then. Merely *available* (its files installed, not preloaded) it would create fine and
-- then fail every store with `22000 pgsodium_derive: no server secret key defined`, so:
-- * extension already created: used; its key is probed, and a missing key is a clear error
--   (KW001), since the compatible vault cannot take over a schema the extension owns;
-- * not created, preloaded and available: created, then probed the same way;
-- * otherwise (not preloaded, or not available): the compatible vault.
--
-- Compatible encryption: OpenPGP symmetric encryption (AES-256, with its modification detection
-- code, so a tampered or foreign ciphertext fails instead of decrypting to garbage) under a key
-- derived per row as HMAC-SHA256(root key, row id || nonce). The 256-bit root key is never stored
-- in the database: each session brings it in the setting `keywarden.root_key` (64 hex
-- characters). Binding the key to the row id means one row's ciphertext copied into another
-- row fails to decrypt. s2k-mode=0 skips password stretching, which a random 256-bit key does
-- not need (it would cost ~40x per access).
DO $vault$
DECLARE
  crypto_schema text;
  probe_message text;
BEGIN
  IF EXISTS (SELECT 1 FROM pg_catalog.pg_extension e WHERE e.extname = 'supabase_vault')
     OR (pg_catalog.current_setting('vault.getkey_script', true) IS NOT NULL
         AND EXISTS (SELECT 1 FROM pg_catalog.pg_available_extensions a WHERE a.name = 'supabase_vault')) THEN
    CREATE EXTENSION IF NOT EXISTS supabase_vault;
    -- Decrypting 64 zero bytes derives the key first: with a key it fails as an invalid
    -- ciphertext, without one as "no server secret key defined".
    BEGIN
      PERFORM vault._crypto_aead_det_decrypt(pg_catalog.decode(pg_catalog.repeat('00', 64), 'hex'),
                                             NULL::bytea, 0::bigint);
    EXCEPTION WHEN data_exception THEN
      GET STACKED DIAGNOSTICS probe_message = MESSAGE_TEXT;
      IF probe_message LIKE '%no server secret key%' THEN
        RAISE EXCEPTION 'supabase_vault is installed but has no server key: it is not in shared_preload_libraries, or its vault.getkey_script printed no key'
          USING ERRCODE = 'KW001',
                HINT = 'Add supabase_vault to shared_preload_libraries (with a vault.getkey_script that prints 64 hex characters) and restart, or drop the extension to use Keywarden''s compatible vault.';
      END IF;
    END;
    -- Supabase's grants (its after-create script gives them on a hosted project; on a cluster
    -- where someone else created the extension, the public functions' callers need them too).
    GRANT USAGE ON SCHEMA vault TO service_role;
    GRANT SELECT, DELETE ON vault.secrets, vault.decrypted_secrets TO service_role;
    GRANT EXECUTE ON FUNCTION vault.create_secret(text, text, text, uuid),
                              vault.update_secret(uuid, text, text, text, uuid),
                              vault._crypto_aead_det_decrypt(bytea, bytea, bigint, bytea, bytea)
      TO service_role;
    RETURN;
  END IF;

  SELECT e.extnamespace::regnamespace::text INTO STRICT crypto_schema
    FROM pg_catalog.pg_extension e WHERE e.extname = 'pgcrypto';

  CREATE SCHEMA vault;
  COMMENT ON SCHEMA vault IS 'Keywarden''s Supabase-Vault-compatible secret store (pgcrypto).';

  EXECUTE pg_catalog.format(
    $f$CREATE FUNCTION vault._nonce() RETURNS bytea LANGUAGE sql VOLATILE SET search_path = ''
       AS 'SELECT %1$s.gen_random_bytes(16)'$f$,
    crypto_schema);

  CREATE TABLE vault.secrets (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name text,
    description text NOT NULL DEFAULT '',
    secret text NOT NULL,
    key_id uuid,
    nonce bytea DEFAULT vault._nonce(),
    created_at timestamptz NOT NULL DEFAULT CURRENT_TIMESTAMP,
    updated_at timestamptz NOT NULL DEFAULT CURRENT_TIMESTAMP
  );
  COMMENT ON TABLE vault.secrets IS 'Table with encrypted `secret` column for storing sensitive information on disk.';
  CREATE UNIQUE INDEX secrets_name_idx ON vault.secrets (name) WHERE name IS NOT NULL;

  -- The session's root key, checked: a missing or malformed key is an error, never plaintext.
  -- Only the crypto functions below call it, inside their empty search_path.
  CREATE FUNCTION vault._root_key() RETURNS bytea
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
      IF setting !~ '^[0-9a-fA-F]{64}$' THEN
        RAISE EXCEPTION 'keywarden.root_key must be 64 hex characters (a 256-bit key)'
          USING ERRCODE = 'KW002';
      END IF;
      RETURN pg_catalog.decode(setting, 'hex');
    END
    $f$;

  -- The crypto functions call pgcrypto in the schema it was installed in, pinned here once, so
  -- they keep an empty search_path. They are plpgsql that calls pgcrypto directly: each access
  -- reads and checks the root key once, with no helper-function hops on the hot path.
  EXECUTE pg_catalog.format($crypto$
    -- A fingerprint of the root key, stored with each row, so a wrong key is named as such.
    CREATE FUNCTION vault._root_key_id() RETURNS uuid
      LANGUAGE plpgsql STABLE SET search_path = ''
      AS $f$
      BEGIN
        RETURN pg_catalog.left(pg_catalog.encode(%1$s.hmac(
          pg_catalog.convert_to('keywarden-root-key-id', 'UTF8'), vault._root_key(), 'sha256'), 'hex'), 32)::uuid;
      END
      $f$;

    CREATE FUNCTION vault._encrypt(secret_id uuid, nonce bytea, plaintext text) RETURNS text
      LANGUAGE plpgsql VOLATILE SET search_path = ''
      AS $f$
      DECLARE
        root bytea := vault._root_key();
      BEGIN
        RETURN pg_catalog.encode(%1$s.pgp_sym_encrypt_bytea(
          pg_catalog.convert_to(plaintext, 'UTF8'),
          pg_catalog.encode(%1$s.hmac(
            pg_catalog.convert_to('keywarden-vault-v1:' || secret_id::text, 'UTF8') || nonce, root, 'sha256'), 'hex'),
          'cipher-algo=aes256, s2k-mode=0, s2k-digest-algo=sha256'), 'base64');
      END
      $f$;

    -- SECURITY DEFINER: the view calls it with the reader's privileges, and readers need no
    -- access to pgcrypto's schema.
    CREATE FUNCTION vault._decrypt(secret_id uuid, nonce bytea, key_id uuid, ciphertext text) RETURNS text
      LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = ''
      AS $f$
      DECLARE
        root bytea := vault._root_key();
        session_key_id uuid := pg_catalog.left(pg_catalog.encode(%1$s.hmac(
          pg_catalog.convert_to('keywarden-root-key-id', 'UTF8'), root, 'sha256'), 'hex'), 32)::uuid;
      BEGIN
        IF key_id IS DISTINCT FROM session_key_id THEN
          RAISE EXCEPTION 'vault secret %% was encrypted under another root key (key id %%); this session''s keywarden.root_key has key id %%',
            secret_id, key_id, session_key_id
            USING ERRCODE = 'KW003';
        END IF;
        BEGIN
          RETURN pg_catalog.convert_from(%1$s.pgp_sym_decrypt_bytea(
            pg_catalog.decode(ciphertext, 'base64'),
            pg_catalog.encode(%1$s.hmac(
              pg_catalog.convert_to('keywarden-vault-v1:' || secret_id::text, 'UTF8') || nonce, root, 'sha256'), 'hex')),
            'UTF8');
        EXCEPTION WHEN external_routine_invocation_exception OR invalid_parameter_value
                    OR character_not_in_repertoire THEN
          RAISE EXCEPTION 'vault secret %% failed to decrypt: its ciphertext was altered or belongs to another row', secret_id
            USING ERRCODE = 'KW003';
        END;
      END
      $f$;
  $crypto$, crypto_schema);

  CREATE VIEW vault.decrypted_secrets AS
    SELECT s.id,
           s.name,
           s.description,
           s.secret,
           vault._decrypt(s.id, s.nonce, s.key_id, s.secret) AS decrypted_secret,
           s.key_id,
           s.nonce,
           s.created_at,
           s.updated_at
      FROM vault.secrets s;

  CREATE FUNCTION vault.create_secret(
    new_secret text,
    new_name text = NULL,
    new_description text = '',
    new_key_id uuid = NULL -- accepted for Supabase compatibility; the session's root key is used
  ) RETURNS uuid
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = ''
    AS $f$
    DECLARE
      new_id uuid := gen_random_uuid();
      new_nonce bytea := vault._nonce();
    BEGIN
      INSERT INTO vault.secrets (id, name, description, secret, key_id, nonce)
      VALUES (new_id, new_name, coalesce(new_description, ''),
              vault._encrypt(new_id, new_nonce, new_secret), vault._root_key_id(), new_nonce);
      RETURN new_id;
    END
    $f$;

  CREATE FUNCTION vault.update_secret(
    secret_id uuid,
    new_secret text = NULL,
    new_name text = NULL,
    new_description text = NULL,
    new_key_id uuid = NULL -- accepted for Supabase compatibility; the session's root key is used
  ) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = ''
    AS $f$
    DECLARE
      new_nonce bytea := vault._nonce();
    BEGIN
      UPDATE vault.secrets s
         SET secret = CASE WHEN new_secret IS NULL THEN s.secret
                           ELSE vault._encrypt(s.id, new_nonce, new_secret) END,
             nonce = CASE WHEN new_secret IS NULL THEN s.nonce ELSE new_nonce END,
             key_id = CASE WHEN new_secret IS NULL THEN s.key_id ELSE vault._root_key_id() END,
             name = coalesce(new_name, s.name),
             description = coalesce(new_description, s.description),
             updated_at = now()
       WHERE s.id = update_secret.secret_id;
    END
    $f$;

  -- Supabase's grants: service_role may read and delete, and write through the functions.
  REVOKE ALL ON SCHEMA vault FROM PUBLIC;
  GRANT USAGE ON SCHEMA vault TO service_role;
  REVOKE ALL ON vault.secrets, vault.decrypted_secrets FROM PUBLIC, anon, authenticated;
  GRANT SELECT, DELETE ON vault.secrets, vault.decrypted_secrets TO service_role;
  REVOKE ALL ON ALL FUNCTIONS IN SCHEMA vault FROM PUBLIC, anon, authenticated;
  -- A view's functions are called with the privileges of whoever selects from it.
  GRANT EXECUTE ON FUNCTION vault.create_secret(text, text, text, uuid),
                            vault.update_secret(uuid, text, text, text, uuid),
                            vault._decrypt(uuid, bytea, uuid, text)
    TO service_role;
END
$vault$;
