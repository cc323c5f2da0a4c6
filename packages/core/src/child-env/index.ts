/**
 * What a child process of a front door inherits: its parent's environment without Keywarden's
 * own configuration and the credentials that open the vault. A command run with secrets
 * (`keywarden run`, the MCP server's `run_command`) gets the secrets it asked for, not the keys
 * to all of them.
 *
 * Runtime-neutral: it works on a plain record.
 * @module
 */

/** An environment as a plain record (`process.env`, a door's configured environment). */
export type ChildEnvironment = Readonly<Record<string, string | undefined>>

// Variables that are the store's credentials whoever set them: a child needs none of them to
// use the secrets it was given.
const STORE_CREDENTIALS = new Set(['SUPABASE_SERVICE_ROLE_KEY', 'SUPABASE_DB_URL', 'POSTGRES_URL'])

// Where the vault's connection strings and keys come from (config/index.ts).
const CREDENTIAL_SOURCES = [
  'KEYWARDEN_ROOT_KEY',
  'KEYWARDEN_DATABASE_URL',
  'SUPABASE_DB_URL',
  'POSTGRES_URL',
  'SUPABASE_SERVICE_ROLE_KEY',
] as const

// Shorter strings would remove unrelated variables by coincidence.
const MIN_CREDENTIAL_LENGTH = 8

/** The credential strings `env` configures the vault with: keys, URLs and their passwords. */
function credentialsIn(env: ChildEnvironment): string[] {
  const credentials: string[] = []
  for (const name of CREDENTIAL_SOURCES) {
    const value = env[name]
    if (value === undefined || value === '') continue
    credentials.push(value)
    if (name.endsWith('_URL')) {
      try {
        const password = decodeURIComponent(new URL(value).password)
        if (password !== '') credentials.push(password)
      } catch {
        // Not a URL: the whole value is already listed.
      }
    }
  }
  return credentials.filter((credential) => credential.length >= MIN_CREDENTIAL_LENGTH)
}

/**
 * Why variable `name` of `env` reaches the vault, or `undefined` when it does not:
 * - every `KEYWARDEN_*` variable (the store, home, root key, agent and door settings);
 * - `SUPABASE_SERVICE_ROLE_KEY`, `SUPABASE_DB_URL`, `POSTGRES_URL`;
 * - `PGPASSWORD` and `PGPASSFILE` when a PostgreSQL vault is configured (the driver falls back
 *   on them for a URL without a password), and `PGOPTIONS` when it carries
 *   `keywarden.root_key`;
 * - any other variable whose value holds one of those credentials (a `DATABASE_URL` that is
 *   the vault's, a copy of the root key under another name).
 */
export function vaultAccessReason(name: string, env: ChildEnvironment): string | undefined {
  const value = env[name]
  if (value === undefined) return undefined
  if (name.startsWith('KEYWARDEN_')) return "Keywarden's own configuration"
  if (STORE_CREDENTIALS.has(name)) return "the store's credentials"
  const postgres = ['KEYWARDEN_DATABASE_URL', 'SUPABASE_DB_URL', 'POSTGRES_URL'].some(
    (source) => (env[source] ?? '') !== '',
  )
  if (postgres && (name === 'PGPASSWORD' || name === 'PGPASSFILE')) {
    return "the vault's database password"
  }
  if (name === 'PGOPTIONS' && value.includes('keywarden.root_key')) return 'the root key'
  if (credentialsIn(env).some((credential) => value.includes(credential))) {
    return "a copy of the vault's credentials"
  }
  return undefined
}

/**
 * `env` without every variable that reaches the vault (see {@link vaultAccessReason}), as a
 * new record with the unset entries dropped. Add the injected secrets after this.
 */
export function withoutVaultAccess(env: ChildEnvironment): Record<string, string> {
  const kept: Record<string, string> = {}
  for (const [name, value] of Object.entries(env)) {
    if (value !== undefined && vaultAccessReason(name, env) === undefined) kept[name] = value
  }
  return kept
}
