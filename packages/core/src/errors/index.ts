/**
 * Keywarden's typed errors: one class, a stable `code` per failure, and the mapping from the
 * errors of the three database drivers (`pg`, PGlite, supabase-js/PostgREST) onto those codes.
 *
 * The one rule every message here follows: it never contains a secret value. An invalid
 * *name* is not echoed either, because a "name" that fails validation is often a value pasted
 * into the wrong argument; messages give its length instead.
 *
 * Runtime-neutral: no `node:` imports.
 * @module
 */

/** The stable codes. Front doors switch on these, never on message text. */
export type KeywardenErrorCode =
  | 'SECRET_NOT_FOUND'
  | 'ACCESS_DENIED'
  | 'VAULT_UNAVAILABLE'
  | 'INVALID_NAME'
  | 'INVALID_VALUE'
  | 'INVALID_ARGUMENT'
  | 'ROOT_KEY_MISSING'
  | 'ROOT_KEY_INVALID'
  | 'DECRYPTION_FAILED'
  | 'CONFIGURATION_ERROR'
  | 'SCHEMA_MISSING'
  | 'SCHEMA_TOO_NEW'
  | 'VERIFICATION_FAILED'
  | 'INTERNAL'

/**
 * The process exit status a CLI uses for each code.
 *
 * | exit | codes                                                                    |
 * | ---- | ------------------------------------------------------------------------ |
 * | 1    | failure: `INTERNAL`, `DECRYPTION_FAILED`, `ACCESS_DENIED`, configuration |
 * |      | and root-key problems, `SCHEMA_MISSING` (run `keywarden db migrate`),    |
 * |      | `SCHEMA_TOO_NEW` (upgrade Keywarden),                                    |
 * |      | `VERIFICATION_FAILED` (a staged value's check)                           |
 * | 2    | usage: `INVALID_NAME`, `INVALID_VALUE`, `INVALID_ARGUMENT`               |
 * | 3    | `SECRET_NOT_FOUND`                                                       |
 * | 4    | `VAULT_UNAVAILABLE` (worth retrying later)                               |
 *
 * These are the `keywarden` CLI's documented exit codes. A script can tell "not there" (3)
 * from "could not ask" (4); everything that needs a person to look goes to 1.
 */
export const EXIT_CODES: Readonly<Record<KeywardenErrorCode, number>> = Object.freeze({
  INTERNAL: 1,
  DECRYPTION_FAILED: 1,
  INVALID_NAME: 2,
  INVALID_VALUE: 2,
  INVALID_ARGUMENT: 2,
  CONFIGURATION_ERROR: 1,
  SCHEMA_MISSING: 1,
  SCHEMA_TOO_NEW: 1,
  VERIFICATION_FAILED: 1,
  ROOT_KEY_MISSING: 1,
  ROOT_KEY_INVALID: 1,
  ACCESS_DENIED: 1,
  SECRET_NOT_FOUND: 3,
  VAULT_UNAVAILABLE: 4,
})

/** Options for {@link KeywardenError}. */
export interface KeywardenErrorOptions {
  /**
   * The secret the operation was about. Kept only when it is a valid name: an invalid one may
   * be a misplaced value, and error objects end up in logs.
   */
  secretName?: string
  /** The underlying error (driver error, network error), for debugging. */
  cause?: unknown
  /** The PostgreSQL SQLSTATE (or PostgREST `PGRST…` code) this error was mapped from. */
  sqlState?: string
}

/**
 * Every error the core throws on purpose. `code` is stable; `message` is for people.
 *
 * `cause` keeps the original driver error untouched for debugging. Driver errors carry fields
 * such as PostgreSQL's `detail` that can echo input rows, so front doors should show `message`
 * (or {@link KeywardenError.toJSON}) to users and models, never `cause`.
 */
export class KeywardenError extends Error {
  /** The stable code; see {@link KeywardenErrorCode}. */
  readonly code: KeywardenErrorCode
  /** The secret concerned, when known and a valid name. */
  readonly secretName: string | undefined
  /** The exit status a CLI should use; see {@link EXIT_CODES}. */
  readonly exitCode: number
  /** The SQLSTATE or PostgREST code this was mapped from, if any. */
  readonly sqlState: string | undefined

  /**
   * @param code the stable code
   * @param message a human-readable message; it must not contain a secret value
   */
  constructor(code: KeywardenErrorCode, message: string, options: KeywardenErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause })
    this.name = 'KeywardenError'
    this.code = code
    this.exitCode = EXIT_CODES[code]
    this.secretName = isValidSecretName(options.secretName) ? options.secretName : undefined
    this.sqlState = options.sqlState
  }

  /**
   * A plain object safe to print or send to a model: no `cause`, no stack.
   * `JSON.stringify(error)` uses it.
   */
  toJSON(): { name: string; code: KeywardenErrorCode; message: string; secretName?: string } {
    return {
      name: this.name,
      code: this.code,
      message: this.message,
      ...(this.secretName === undefined ? {} : { secretName: this.secretName }),
    }
  }
}

/**
 * Whether `x` is a {@link KeywardenError}, optionally with one of the given codes.
 *
 * Checks the shape rather than only `instanceof`, so errors from a second copy of this package
 * (two versions in one `node_modules`, or Deno and npm copies side by side) still count.
 */
export function isKeywardenError(
  x: unknown,
  ...codes: readonly KeywardenErrorCode[]
): x is KeywardenError {
  if (!(x instanceof Error) || x.name !== 'KeywardenError') return false
  const code: unknown = (x as Error & { code?: unknown }).code
  if (typeof code !== 'string' || !Object.hasOwn(EXIT_CODES, code)) return false
  return codes.length === 0 || codes.includes(code as KeywardenErrorCode)
}

// ---------------------------------------------------------------------------------------------
// Names and values
// ---------------------------------------------------------------------------------------------

/** The name rule, identical to `keywarden.is_valid_name` in the SQL API. */
export const SECRET_NAME_PATTERN: RegExp = /^[a-z0-9][a-z0-9_.-]{0,127}$/

/** The largest value the vault accepts, in UTF-8 bytes (the SQL API's limit). */
export const MAX_SECRET_VALUE_BYTES = 65_536

function isValidSecretName(name: unknown): name is string {
  return typeof name === 'string' && SECRET_NAME_PATTERN.test(name)
}

/**
 * Checks a secret name and returns it.
 *
 * The message gives the offending name's length, never the name itself: a string that fails
 * the rule is often a value pasted into the name argument.
 * @throws {KeywardenError} `INVALID_NAME`
 */
export function validateSecretName(name: unknown): string {
  if (typeof name !== 'string') {
    throw new KeywardenError(
      'INVALID_NAME',
      `invalid secret name: expected a string, got ${name === null ? 'null' : typeof name}`,
    )
  }
  if (!SECRET_NAME_PATTERN.test(name)) {
    throw new KeywardenError(
      'INVALID_NAME',
      `invalid secret name (${name.length} characters): a name is ${SECRET_NAME_RULE}`,
    )
  }
  return name
}

/** What {@link SECRET_NAME_PATTERN} means, in words, for every door's help and schema. */
export const SECRET_NAME_RULE =
  'lower-case letters a-z, digits 0-9, "_", "." and "-", starting with a letter or digit, at most 128 characters'

/**
 * Limits on a secret's metadata, one definition for every door (the CLI, the MCP tools, the
 * edge routes); the SQL API enforces the list sizes too.
 */
export const SECRET_LIMITS = {
  /** Characters of a description. */
  descriptionLength: 1000,
  /** Entries of `allowedHosts`. */
  allowedHosts: 32,
  /** Entries of `allowedCommands`. */
  allowedCommands: 32,
  /** Days of a rotation interval. */
  rotationIntervalDays: 3650,
} as const

/**
 * Checks metadata given to store or update a secret: the description's length, the list
 * sizes, a positive whole rotation interval, and an expiry in the future (a past one would
 * be accepted silently and the secret reported expired at once).
 * @throws {KeywardenError} `INVALID_ARGUMENT`
 */
export function validateSecretMetadata(
  input: {
    description?: string
    expiresAt?: Date
    rotationIntervalDays?: number
    allowedHosts?: readonly string[]
    allowedCommands?: readonly string[]
  },
  now: number = Date.now(),
): void {
  const invalid = (message: string) => new KeywardenError('INVALID_ARGUMENT', message)
  if (
    input.description !== undefined &&
    input.description.length > SECRET_LIMITS.descriptionLength
  ) {
    throw invalid(`a description is at most ${SECRET_LIMITS.descriptionLength} characters`)
  }
  if (input.expiresAt !== undefined) {
    if (Number.isNaN(input.expiresAt.getTime())) throw invalid('expires_at is not a date')
    if (input.expiresAt.getTime() <= now) throw invalid('expires_at must be in the future')
  }
  const days = input.rotationIntervalDays
  if (
    days !== undefined &&
    !(Number.isInteger(days) && days > 0 && days <= SECRET_LIMITS.rotationIntervalDays)
  ) {
    throw invalid(
      `rotation_interval_days must be a whole number from 1 to ${SECRET_LIMITS.rotationIntervalDays}`,
    )
  }
  if ((input.allowedHosts?.length ?? 0) > SECRET_LIMITS.allowedHosts) {
    throw invalid(`at most ${SECRET_LIMITS.allowedHosts} allowed hosts`)
  }
  if ((input.allowedCommands?.length ?? 0) > SECRET_LIMITS.allowedCommands) {
    throw invalid(`at most ${SECRET_LIMITS.allowedCommands} allowed commands`)
  }
}

// One encoder for the module: TextEncoder is stateless and present in every target runtime.
const utf8 = new TextEncoder()

// With the `u` flag a well-formed pair is one code point, so only unpaired surrogates match.
const UNPAIRED_SURROGATE = /\p{Cs}/u

/**
 * Checks a secret value (a non-empty, well-formed string of at most 65536 UTF-8 bytes, with no
 * NUL character) and returns it.
 * Messages describe the value's size, never its content.
 * @param secretName included in the error when it is a valid name
 * @throws {KeywardenError} `INVALID_VALUE`
 */
export function validateSecretValue(value: unknown, secretName?: string): string {
  const options = { secretName }
  if (typeof value !== 'string') {
    throw new KeywardenError(
      'INVALID_VALUE',
      `invalid secret value: expected a string, got ${value === null ? 'null' : typeof value}`,
      options,
    )
  }
  if (value === '') {
    throw new KeywardenError('INVALID_VALUE', 'invalid secret value: it is empty', options)
  }
  // Cheap pre-check: UTF-8 needs at most 3 bytes per UTF-16 unit, so short strings need no
  // encoding at all (the common case: tokens of a few dozen characters).
  if (value.length * 3 > MAX_SECRET_VALUE_BYTES) {
    const bytes = utf8.encode(value).length
    if (bytes > MAX_SECRET_VALUE_BYTES) {
      throw new KeywardenError(
        'INVALID_VALUE',
        `invalid secret value: ${bytes} bytes is over the ${MAX_SECRET_VALUE_BYTES}-byte limit`,
        options,
      )
    }
  }
  // Checked after the size, so an oversize input is not scanned. PostgreSQL text cannot hold
  // U+0000 (the server refuses it, which surfaced as INTERNAL), and an unpaired surrogate has
  // no UTF-8 form (drivers silently turn it into U+FFFD): neither would come back as stored.
  if (value.includes('\u0000')) {
    throw new KeywardenError(
      'INVALID_VALUE',
      'invalid secret value: it contains a NUL character (U+0000), which PostgreSQL text cannot hold',
      options,
    )
  }
  if (UNPAIRED_SURROGATE.test(value)) {
    throw new KeywardenError(
      'INVALID_VALUE',
      'invalid secret value: it is not well-formed Unicode (an unpaired UTF-16 surrogate)',
      options,
    )
  }
  return value
}

// ---------------------------------------------------------------------------------------------
// Mapping driver errors
// ---------------------------------------------------------------------------------------------

/** Context for {@link errorFromDatabase}. */
export interface DatabaseErrorContext {
  /** The secret the failed call was about; attached to the error when it is a valid name. */
  secretName?: string
  /**
   * The HTTP status supabase-js reported next to its error object, if any. Needed because
   * transport failures and gateway pages come back with an empty `code`: status 0 means the
   * request never got an answer, 5xx a gateway with no database behind it.
   */
  httpStatus?: number
}

// Keywarden's own SQLSTATEs, raised by the SQL API (supabase/migrations/*_secret_api.sql).
// Their messages are written to be safe to show, so they are passed through.
const KEYWARDEN_SQLSTATES: Readonly<Record<string, KeywardenErrorCode>> = {
  KW001: 'ROOT_KEY_MISSING',
  KW002: 'ROOT_KEY_INVALID',
  KW003: 'DECRYPTION_FAILED',
  KW010: 'INVALID_NAME',
  KW011: 'INVALID_VALUE',
  KW012: 'INVALID_ARGUMENT',
  KW404: 'SECRET_NOT_FOUND',
}

// Supabase's real vault (the supabase_vault extension) raises plain `22000 data_exception`s,
// told apart by their fixed messages (`<C function>: invalid ciphertext`, `…: pgsodium_derive: no
// server secret key defined.`), which name no data. Other 22000s stay INTERNAL.
const SUPABASE_VAULT_FAILURES: readonly {
  pattern: RegExp
  code: KeywardenErrorCode
  message: string
}[] = [
  {
    pattern: /: invalid (ciphertext|message)$/,
    code: 'DECRYPTION_FAILED',
    message:
      'decryption failed: the vault secret was altered or belongs to another row (supabase_vault: invalid ciphertext)',
  },
  {
    pattern: /no server secret key defined/,
    code: 'ROOT_KEY_MISSING',
    message:
      'the vault has no server key: supabase_vault is not in shared_preload_libraries, or its getkey script printed no key',
  },
]

function supabaseVaultFailure(
  sqlState: string | undefined,
  message: string | undefined,
): (typeof SUPABASE_VAULT_FAILURES)[number] | undefined {
  if (sqlState !== '22000' || message === undefined) return undefined
  return SUPABASE_VAULT_FAILURES.find((failure) => failure.pattern.test(message))
}

// Socket-level failures from Node (`pg` surfaces them as-is) and undici (fetch's `cause`).
const NETWORK_ERROR_CODES: ReadonlySet<string> = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
])

// How each runtime words a fetch that got no response: undici "fetch failed", Chrome
// "Failed to fetch", Firefox "NetworkError when attempting…", Safari "Load failed", Deno
// "error sending request", Cloudflare "Network connection lost". A TypeError that does not
// match is a programming error, not an outage.
const FETCH_FAILURE_MESSAGE =
  /fetch failed|failed to fetch|networkerror|load failed|error sending request|network connection lost/i

// `pg` reports a dropped socket with messages but no code; PGlite says it is closed.
const CONNECTION_LOST_MESSAGE =
  /^(Connection terminated|Client has encountered a connection error|PGlite is closed)/

// supabase-js's message for a fetch that rejected: `${error.name}: ${error.message}`. An abort
// there is its request timeout (or a caller's cancellation, which is rare for a vault read).
const SUPABASE_TRANSPORT_MESSAGE = /^(TypeError|AbortError|TimeoutError|FetchError): /

// The "(ECONNREFUSED)" that supabase-js appends to `details` after the fetch error's cause.
function networkCodeIn(details: string | undefined): string | undefined {
  const named = details === undefined ? undefined : /\(([A-Z_]+)\)/.exec(details)?.[1]
  return named !== undefined && NETWORK_ERROR_CODES.has(named) ? named : undefined
}

interface ErrorFields {
  code: string | undefined
  message: string | undefined
  name: string | undefined
  details: string | undefined
  cause: unknown
  errors: unknown
}

function fieldsOf(error: unknown): ErrorFields {
  const record: Record<string, unknown> =
    typeof error === 'object' && error !== null ? (error as Record<string, unknown>) : {}
  const text = (key: string): string | undefined =>
    typeof record[key] === 'string' ? (record[key] as string) : undefined
  return {
    code: text('code'),
    message: text('message'),
    name: text('name'),
    details: text('details'),
    cause: record.cause,
    errors: record.errors,
  }
}

// Walks `cause` chains and AggregateError members (Node reports a refused dual-stack connect
// as an AggregateError of two ECONNREFUSED errors), bounded in case of a cycle.
function isNetworkFailure(error: unknown, depth = 0): boolean {
  if (depth > 5 || typeof error !== 'object' || error === null) return false
  const { code, message, name, details, cause, errors } = fieldsOf(error)
  if (code !== undefined && NETWORK_ERROR_CODES.has(code)) return true
  if (message !== undefined && CONNECTION_LOST_MESSAGE.test(message)) return true
  if (name === 'TimeoutError') return true
  if (error instanceof TypeError && message !== undefined && FETCH_FAILURE_MESSAGE.test(message)) {
    return true
  }
  // supabase-js turns a rejected fetch into `{ code: '', message: 'TypeError: fetch failed',
  // details: '… (ECONNREFUSED)' }` instead of throwing, so read its strings too.
  if (code === '' || code === undefined) {
    if (message !== undefined && SUPABASE_TRANSPORT_MESSAGE.test(message)) {
      if (!message.startsWith('TypeError') || FETCH_FAILURE_MESSAGE.test(message)) return true
    }
    if (networkCodeIn(details) !== undefined) return true
  }
  if (Array.isArray(errors) && errors.some((member) => isNetworkFailure(member, depth + 1))) {
    return true
  }
  return isNetworkFailure(cause, depth + 1)
}

function isUnavailableSqlState(code: string): boolean {
  return (
    code.startsWith('08') || // connection exception
    code === '57P01' || // admin_shutdown
    code === '57P02' || // crash_shutdown
    code === '57P03' || // cannot_connect_now (starting up, recovery)
    code === '53300' || // too_many_connections
    code === '57014' || // query_canceled: a statement timeout on an overloaded server
    /^PGRST00[0-3]$/.test(code) // PostgREST cannot reach its database or pool
  )
}

function classify(code: string): KeywardenErrorCode {
  const own = KEYWARDEN_SQLSTATES[code]
  if (own) return own
  if (code === '42501' || code.startsWith('28') || /^PGRST30[1-3]$/.test(code)) {
    return 'ACCESS_DENIED'
  }
  if (isUnavailableSqlState(code)) return 'VAULT_UNAVAILABLE'
  // The SQL API is not there (migrations not applied, wrong database): a setup problem that
  // the user can fix, so it should not read as an internal bug.
  if (['42883', '42P01', '3F000', '3D000', 'PGRST202', 'PGRST300'].includes(code)) {
    return 'CONFIGURATION_ERROR'
  }
  return 'INTERNAL'
}

/**
 * An unmigrated (or older) database: a function of the SQL API, or one of its tables, is not
 * there. Every call Keywarden makes is to its own functions and tables, so these name them.
 */
function isSchemaMissing(code: string, message: string | undefined): boolean {
  if (code === '42883') return message?.startsWith('function ') === true
  return code === '42P01' || code === 'PGRST202' || code === 'PGRST205'
}

// A five-character SQLSTATE or a PostgREST code.
const DATABASE_CODE = /^([0-9A-Z]{5}|PGRST\d{3})$/

const GENERIC_MESSAGES: Readonly<Record<KeywardenErrorCode, string>> = {
  SECRET_NOT_FOUND: 'secret not found',
  ACCESS_DENIED: 'access denied by the database',
  VAULT_UNAVAILABLE: 'the vault is unavailable',
  INVALID_NAME: 'invalid secret name',
  INVALID_VALUE: 'invalid secret value',
  INVALID_ARGUMENT: 'invalid argument',
  ROOT_KEY_MISSING: 'the root key is missing',
  ROOT_KEY_INVALID: 'the root key is invalid',
  DECRYPTION_FAILED: 'decryption failed',
  CONFIGURATION_ERROR: 'configuration error',
  SCHEMA_MISSING: "the vault's schema is missing or old: run `keywarden db migrate`",
  SCHEMA_TOO_NEW: "the vault's schema is newer than this Keywarden: upgrade Keywarden",
  VERIFICATION_FAILED: 'verification failed',
  INTERNAL: 'unexpected error',
}

/**
 * Maps an error thrown or returned by a database driver to a {@link KeywardenError}.
 *
 * Accepts `pg` and PGlite errors (an `Error` with a SQLSTATE `code`), the PostgREST JSON shape
 * supabase-js returns (`{ code, message, details, hint }`), Node socket errors, and fetch
 * `TypeError`s. A `KeywardenError` is returned as it is.
 *
 * | source                                                              | code                  |
 * | ------------------------------------------------------------------- | --------------------- |
 * | KW001 / KW002 / KW003                                               | ROOT_KEY_MISSING / ROOT_KEY_INVALID / DECRYPTION_FAILED |
 * | 22000 from supabase_vault: `invalid ciphertext` / `no server secret key` | DECRYPTION_FAILED / ROOT_KEY_MISSING |
 * | KW010 / KW011 / KW012 / KW404                                       | INVALID_NAME / INVALID_VALUE / INVALID_ARGUMENT / SECRET_NOT_FOUND |
 * | 42501, 28xxx, PGRST301–303, HTTP 401/403 without a code             | ACCESS_DENIED         |
 * | 08xxx, 57P01–57P03, 53300, 57014, PGRST000–003, socket errors, fetch failures, HTTP 0/502/503/504 | VAULT_UNAVAILABLE |
 * | 42883 `function … does not exist`, 42P01, PGRST202, PGRST205 (the SQL API or its tables are missing: an unmigrated or older database) | SCHEMA_MISSING |
 * | other 42883, 3F000, 3D000, PGRST300 (wrong database or schema)      | CONFIGURATION_ERROR   |
 * | anything else                                                       | INTERNAL              |
 *
 * Messages: Keywarden's own SQLSTATEs and the access/connection classes pass the server's
 * message through (they name objects, never data). For everything else the message only
 * names the SQLSTATE or error class, because PostgreSQL messages such as `invalid input
 * syntax for type …: "<input>"` and runtime messages such as `JSON.parse`'s quote their input.
 * `detail` and `hint` are never used in messages: they echo rows. The original is in `cause`.
 */
export function errorFromDatabase(
  error: unknown,
  context: DatabaseErrorContext = {},
): KeywardenError {
  if (isKeywardenError(error)) return error
  const { secretName, httpStatus } = context
  const { code, message } = fieldsOf(error)
  // Only database codes count: Node's `code` (ECONNREFUSED…) is not a SQLSTATE, even when it
  // has the shape of one (EPIPE).
  const sqlState =
    code !== undefined && DATABASE_CODE.test(code) && !NETWORK_ERROR_CODES.has(code)
      ? code
      : undefined

  const make = (kind: KeywardenErrorCode, text: string): KeywardenError =>
    new KeywardenError(kind, text, { secretName, cause: error, sqlState })

  const vaultFailure = supabaseVaultFailure(sqlState, message)
  if (vaultFailure) return make(vaultFailure.code, vaultFailure.message)
  if (sqlState !== undefined && isSchemaMissing(sqlState, message)) {
    // The server's message names the missing function or table, never data.
    return make(
      'SCHEMA_MISSING',
      `the vault's schema is missing or old (${message || sqlState}): run \`keywarden db migrate\``,
    )
  }
  if (sqlState !== undefined) {
    const kind = classify(sqlState)
    if (kind !== 'INTERNAL') {
      // Known classes name objects, never data, so the server message is safe to keep.
      return make(kind, message || GENERIC_MESSAGES[kind])
    }
  }
  if (isNetworkFailure(error)) {
    return make('VAULT_UNAVAILABLE', `the vault is unavailable (${describeNetworkFailure(error)})`)
  }
  if (sqlState === undefined && httpStatus !== undefined) {
    if (httpStatus === 401 || httpStatus === 403) {
      return make('ACCESS_DENIED', `access denied (HTTP ${httpStatus})`)
    }
    if (httpStatus === 0 || httpStatus === 502 || httpStatus === 503 || httpStatus === 504) {
      return make('VAULT_UNAVAILABLE', `the vault is unavailable (HTTP ${httpStatus})`)
    }
  }
  if (sqlState !== undefined) {
    return make(
      'INTERNAL',
      `unexpected database error (${sqlState.startsWith('PGRST') ? '' : 'SQLSTATE '}${sqlState})`,
    )
  }
  const kind = error instanceof Error ? error.name : typeof error
  return make('INTERNAL', `unexpected error (${kind})`)
}

// A short, data-free reason for an outage: the error code or class, never a message that could
// contain a connection string with a password.
function describeNetworkFailure(error: unknown, depth = 0): string {
  if (depth > 5 || typeof error !== 'object' || error === null) return 'network error'
  const { code, message, name, details, cause, errors } = fieldsOf(error)
  if (code !== undefined && NETWORK_ERROR_CODES.has(code)) return code
  const fromDetails = networkCodeIn(details)
  if (fromDetails !== undefined) return fromDetails
  if (message !== undefined && CONNECTION_LOST_MESSAGE.test(message)) return 'connection lost'
  if (
    name === 'TimeoutError' ||
    message?.startsWith('TimeoutError') ||
    message?.startsWith('AbortError')
  ) {
    return 'timeout'
  }
  if (cause !== undefined) {
    const inner = describeNetworkFailure(cause, depth + 1)
    if (inner !== 'network error') return inner
  }
  if (Array.isArray(errors) && errors[0] !== undefined) {
    return describeNetworkFailure(errors[0], depth + 1)
  }
  return 'network error'
}
