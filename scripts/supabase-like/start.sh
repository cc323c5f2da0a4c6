#!/usr/bin/env bash
# Starts a Supabase-like PostgreSQL 15 cluster on port 54322 with the real `supabase_vault`
# extension (and pg_cron), for the test suites: `npm run db:supabase-like`, and `.ci/run`.
#
# Nothing here touches the system's PostgreSQL: the extension is built from
# ../shared/vendor/supabase_vault-0.3.1.tar.gz and installed into a PRIVATE copy of
# PostgreSQL 15's bin/lib/share trees, and the cluster runs from that copy's binaries
# (PostgreSQL finds share/ and lib/ relative to its own executable). So the cluster on 5432
# keeps not seeing `supabase_vault` or `pg_cron` in pg_available_extensions; this script checks.
#
# The cluster is set up as docs/supabase.md and ../shared/supabase-like.md describe a Supabase
# database: `supabase_admin` is the bootstrap superuser and owns the vault extension, `postgres`
# is not a superuser, the API roles have their timeouts, Supabase's grants on `vault`. Every
# per-database part lives in the template database `supabase_template`; tests create their
# databases FROM it.
#
# A second, small cluster on port+1 (54323) runs from the same tree WITHOUT the preload: there
# supabase_vault is merely available, as it would be on a server with the package installed, and
# the tests check that Keywarden then takes its compatible path (or names the missing key).
#
# Idempotent: when the clusters already answer and are set up, it returns at once.
#
# Environment (all optional):
#   KEYWARDEN_SUPABASE_LIKE_DIR   private tree and data directory (default: <repo>/.supabase-like,
#                                 or /var/tmp/keywarden-supabase-like where the postgres OS user
#                                 cannot enter the checkout)
#   KEYWARDEN_SUPABASE_LIKE_PORT  port (default 54322)
#   KEYWARDEN_SUPABASE_VAULT_TARBALL  the extension's source (default ../shared/vendor/…)
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
BASE="${KEYWARDEN_SUPABASE_LIKE_DIR:-$ROOT/.supabase-like}"
# As root the cluster runs as the `postgres` OS user, which must reach the private tree: a
# checkout it cannot enter (e.g. under /root) gets the tree outside it.
if [ -z "${KEYWARDEN_SUPABASE_LIKE_DIR:-}" ] && [ "$(id -u)" = 0 ] \
    && ! runuser -u postgres -- test -x "$ROOT"; then
  BASE=/var/tmp/keywarden-supabase-like
fi
PORT="${KEYWARDEN_SUPABASE_LIKE_PORT:-54322}"
TARBALL="${KEYWARDEN_SUPABASE_VAULT_TARBALL:-$ROOT/../shared/vendor/supabase_vault-0.3.1.tar.gz}"
PG_MAJOR=15
SYS_BIN="/usr/lib/postgresql/$PG_MAJOR/bin"
TREE="$BASE/pg"                                   # mirrors / : usr/lib/postgresql/15, usr/share/postgresql/15
BIN="$TREE/usr/lib/postgresql/$PG_MAJOR/bin"
DATA="$BASE/data"
NOPRELOAD_DATA="$BASE/data-nopreload"
NOPRELOAD_PORT=$((PORT + 1))
SOCKET_DIR="$BASE/run"
LOG="$BASE/postgres.log"
KEY_FILE="$BASE/vault.key"
GETKEY="$BASE/pgsodium_getkey"
CRON_DATABASE=kw_cron

log() { echo "supabase-like: $*"; }
die() { echo "supabase-like: $*" >&2; exit 1; }

# PostgreSQL refuses to run as root: as root, the cluster runs as the `postgres` OS user.
if [ "$(id -u)" = 0 ]; then
  RUN_AS=(runuser -u postgres --)
  OWNER=postgres
else
  RUN_AS=()
  OWNER="$(id -un)"
fi

admin_psql() { PGOPTIONS="-c client_min_messages=warning" psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PORT" -U supabase_admin "$@"; }

cluster_ready() {
  [ "$(admin_psql -d postgres -Atc "SELECT count(*) FROM pg_database WHERE datname = 'supabase_template'" 2>/dev/null)" = 1 ] &&
    psql -X -q -h 127.0.0.1 -p "$NOPRELOAD_PORT" -U supabase_admin -d postgres -Atc 'SELECT 1' >/dev/null 2>&1
}

if cluster_ready; then
  log "already running on ports $PORT and $NOPRELOAD_PORT"
  exit 0
fi

install_build_deps() {
  local missing=()
  for pkg in "postgresql-server-dev-$PG_MAJOR" libsodium-dev; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
  done
  [ ${#missing[@]} = 0 ] && return
  [ "$(id -u)" = 0 ] || die "missing Debian packages: ${missing[*]} (apt-get install them, as root)"
  log "installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# The private tree: a copy of PostgreSQL 15 plus the vault extension and pg_cron.
build_tree() {
  [ -f "$TREE/.complete" ] && return
  [ -f "$TARBALL" ] || die "extension source not found: $TARBALL"
  install_build_deps
  rm -rf "$TREE" "$BASE/build"
  mkdir -p "$TREE/usr/lib/postgresql" "$TREE/usr/share/postgresql" "$BASE/build"
  cp -a "/usr/lib/postgresql/$PG_MAJOR" "$TREE/usr/lib/postgresql/"
  cp -a "/usr/share/postgresql/$PG_MAJOR" "$TREE/usr/share/postgresql/"

  log "building supabase_vault from $(basename "$TARBALL")"
  tar -xzf "$TARBALL" -C "$BASE/build" --strip-components=1
  make -s -C "$BASE/build" PG_CONFIG="$SYS_BIN/pg_config" >/dev/null
  make -s -C "$BASE/build" PG_CONFIG="$SYS_BIN/pg_config" DESTDIR="$TREE" install >/dev/null

  log "unpacking postgresql-$PG_MAJOR-cron into the private tree"
  (cd "$BASE/build" && apt-get download -qq "postgresql-$PG_MAJOR-cron" 2>/dev/null) \
    || { apt-get update -qq && (cd "$BASE/build" && apt-get download -qq "postgresql-$PG_MAJOR-cron"); }
  dpkg -x "$BASE"/build/postgresql-"$PG_MAJOR"-cron_*.deb "$TREE"
  [ -f "$TREE/usr/lib/postgresql/$PG_MAJOR/lib/supabase_vault.so" ] || die "supabase_vault.so was not installed"
  [ -f "$TREE/usr/lib/postgresql/$PG_MAJOR/lib/pg_cron.so" ] || die "pg_cron.so was not unpacked"
  touch "$TREE/.complete"
}

# initdb as the cluster's OS user, bootstrap superuser supabase_admin, trust auth (local only).
run_initdb() {
  mkdir -p "$1" "$SOCKET_DIR"
  chown "$OWNER" "$1" "$SOCKET_DIR"
  chmod 700 "$1"
  "${RUN_AS[@]}" "$BIN/initdb" -D "$1" -U supabase_admin --auth=trust -E UTF8 --locale=C.UTF-8 \
    --no-sync --no-instructions >/dev/null
}

init_nopreload_cluster() {
  [ -f "$NOPRELOAD_DATA/PG_VERSION" ] && return
  log "initdb $NOPRELOAD_DATA (supabase_vault available, not preloaded)"
  run_initdb "$NOPRELOAD_DATA"
  cat >>"$NOPRELOAD_DATA/postgresql.conf" <<EOF

# supabase_vault installed but NOT in shared_preload_libraries (scripts/supabase-like/start.sh)
port = $NOPRELOAD_PORT
listen_addresses = '127.0.0.1'
unix_socket_directories = '$SOCKET_DIR'
shared_buffers = 16MB
max_connections = 30
fsync = off
full_page_writes = off
synchronous_commit = off
EOF
}

init_cluster() {
  [ -f "$DATA/PG_VERSION" ] && return
  log "initdb $DATA (bootstrap superuser supabase_admin)"
  # The server's root key, generated once per cluster, printed by the getkey script as
  # Supabase's pgsodium_getkey does. Readable by the cluster's OS user only.
  if [ ! -f "$KEY_FILE" ]; then
    (umask 077 && od -An -tx1 -N32 /dev/urandom | tr -d ' \n' >"$KEY_FILE")
    chown "$OWNER" "$KEY_FILE"
  fi
  printf '#!/bin/sh\nexec cat %q\n' "$KEY_FILE" >"$GETKEY"
  chmod 755 "$GETKEY"
  run_initdb "$DATA"
  cat >>"$DATA/postgresql.conf" <<EOF

# Supabase-like settings (scripts/supabase-like/start.sh)
port = $PORT
listen_addresses = '127.0.0.1'
unix_socket_directories = '$SOCKET_DIR'
max_connections = 200
shared_preload_libraries = 'supabase_vault, pg_cron'
vault.getkey_script = '$GETKEY'
cron.database_name = '$CRON_DATABASE'
cron.use_background_workers = on
max_worker_processes = 16
wal_level = logical
# A throwaway test cluster: durability is not what it tests.
fsync = off
full_page_writes = off
synchronous_commit = off
EOF
}

# start_cluster DATA_DIR LOG_FILE
start_cluster() {
  if "${RUN_AS[@]}" "$BIN/pg_ctl" -D "$1" status >/dev/null 2>&1; then
    return
  fi
  log "starting $1"
  touch "$2" && chown "$OWNER" "$2"
  "${RUN_AS[@]}" "$BIN/pg_ctl" -D "$1" -l "$2" -w -t 30 start >/dev/null \
    || { tail -20 "$2" >&2; die "the cluster did not start (log: $2)"; }
}

# Cluster-wide roles, then the template database every test database is created from.
setup_cluster() {
  log "setting up roles and the supabase_template database"
  admin_psql -d postgres <<'SQL'
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'postgres') THEN CREATE ROLE postgres; END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'anon') THEN CREATE ROLE anon; END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'authenticated') THEN CREATE ROLE authenticated; END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'service_role') THEN CREATE ROLE service_role; END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'authenticator') THEN CREATE ROLE authenticator; END IF;
END
$$;
ALTER ROLE postgres NOSUPERUSER CREATEDB CREATEROLE LOGIN REPLICATION BYPASSRLS;
ALTER ROLE anon NOLOGIN NOINHERIT;
ALTER ROLE authenticated NOLOGIN NOINHERIT;
ALTER ROLE service_role NOLOGIN NOINHERIT BYPASSRLS;
ALTER ROLE authenticator LOGIN NOINHERIT;
GRANT anon, authenticated, service_role TO authenticator;
GRANT anon, authenticated, service_role TO postgres;
ALTER ROLE anon SET statement_timeout = '3s';
ALTER ROLE authenticated SET statement_timeout = '8s';
ALTER ROLE authenticator SET statement_timeout = '8s';
ALTER ROLE authenticator SET lock_timeout = '8s';
DROP DATABASE IF EXISTS supabase_template;
CREATE DATABASE supabase_template OWNER postgres;
SQL
  admin_psql -d supabase_template <<'SQL'
CREATE SCHEMA extensions;
GRANT USAGE ON SCHEMA extensions TO postgres, anon, authenticated, service_role;
CREATE EXTENSION pgcrypto WITH SCHEMA extensions;
CREATE EXTENSION "uuid-ossp" WITH SCHEMA extensions;
GRANT USAGE ON SCHEMA public TO postgres, anon, authenticated, service_role;
ALTER DEFAULT PRIVILEGES FOR ROLE postgres IN SCHEMA public
  GRANT ALL ON TABLES TO anon, authenticated, service_role;
ALTER DEFAULT PRIVILEGES FOR ROLE postgres IN SCHEMA public
  GRANT ALL ON FUNCTIONS TO anon, authenticated, service_role;
ALTER DEFAULT PRIVILEGES FOR ROLE postgres IN SCHEMA public
  GRANT ALL ON SEQUENCES TO anon, authenticated, service_role;
CREATE PUBLICATION supabase_realtime;
-- supabase_admin creates the extension (so it owns vault.*), then Supabase's after-create grants.
CREATE EXTENSION supabase_vault;
GRANT USAGE ON SCHEMA vault TO postgres WITH GRANT OPTION;
GRANT SELECT, DELETE ON vault.secrets, vault.decrypted_secrets TO postgres WITH GRANT OPTION;
GRANT EXECUTE ON FUNCTION vault.create_secret, vault.update_secret, vault._crypto_aead_det_decrypt
  TO postgres WITH GRANT OPTION;
GRANT USAGE ON SCHEMA vault TO service_role;
GRANT SELECT, DELETE ON vault.secrets, vault.decrypted_secrets TO service_role;
GRANT EXECUTE ON FUNCTION vault.create_secret, vault.update_secret, vault._crypto_aead_det_decrypt
  TO service_role;
SQL
  admin_psql -d postgres -c "ALTER DATABASE supabase_template IS_TEMPLATE true"
  # pg_cron's launcher waits in cron.database_name; tests that need pg_cron recreate it.
  admin_psql -d postgres -c "DROP DATABASE IF EXISTS $CRON_DATABASE WITH (FORCE)" \
    -c "CREATE DATABASE $CRON_DATABASE OWNER postgres TEMPLATE supabase_template"
}

# The cluster on 5432 must not see what this script built.
check_system_cluster() {
  local seen
  if ! seen="$(psql -X -h 127.0.0.1 -p 5432 -U postgres -d postgres -Atc \
      "SELECT string_agg(name, ',') FROM pg_available_extensions WHERE name IN ('supabase_vault', 'pg_cron')" 2>/dev/null)"; then
    log "5432 is not reachable; skipped checking that it does not see supabase_vault"
    return
  fi
  [ -z "$seen" ] || die "the cluster on 5432 sees $seen: it must not (install only into $TREE)"
}

build_tree
init_cluster
init_nopreload_cluster
start_cluster "$DATA" "$LOG"
start_cluster "$NOPRELOAD_DATA" "$BASE/postgres-nopreload.log"
cluster_ready || setup_cluster
check_system_cluster
log "ready: postgres://postgres@127.0.0.1:$PORT/postgres (databases for tests: CREATE DATABASE … TEMPLATE supabase_template); supabase_vault not preloaded: postgres://supabase_admin@127.0.0.1:$NOPRELOAD_PORT/postgres"
