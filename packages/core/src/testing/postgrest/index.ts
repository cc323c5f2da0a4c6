/**
 * Test-only: a PostgREST RPC **test double** over a real PostgreSQL database. It is NOT a
 * PostgREST replacement and NOT a server for production use: it exists because supabase-js
 * speaks to PostgREST, which cannot be installed on the machines here, and the supabase store's
 * tests need something real to talk to over a real socket.
 *
 * It serves only what Keywarden's supabase store uses, `POST /rest/v1/rpc/<fn>` (plus `GET` and
 * `HEAD` with query-string arguments), and copies what a supabase-js caller can observe of
 * PostgREST (v12–v14):
 * - the JWT from `Authorization: Bearer …` is verified (HS256/384/512 with the JWT secret;
 *   `exp`, `nbf` and `iat` with PostgREST's 30-second clock skew); failures are 401 PGRST301,
 *   PGRST302 or PGRST303;
 * - it logs in as the connection string's user: on the Supabase-like cluster the test helpers
 *   give it `authenticator` (LOGIN NOINHERIT, 8 s statement and lock timeouts, granted the API
 *   roles), as Supabase's PostgREST logs in, so requests run under those timeouts;
 * - each call runs in its own transaction: READ ONLY for GET/HEAD and for STABLE or IMMUTABLE
 *   functions (so a function that writes but is not VOLATILE fails here as it does there),
 *   `SET LOCAL ROLE` to the JWT's `role` (anon, authenticated or service_role only) and
 *   `request.jwt.claims` set for the transaction;
 * - the function is looked up in `pg_proc` and called with named arguments, the JSON body being
 *   converted by `json_to_recordset` with the catalog's argument types, exactly as PostgREST does
 *   (so JSON arrays become `text[]`, objects `jsonb`, strings `interval`/`timestamptz`, …);
 * - results are shaped as PostgREST shapes them: a scalar as a JSON scalar, a set or table as
 *   an array of row objects, `Accept: application/vnd.pgrst.object+json` (supabase-js's
 *   `.single()`) as one object or 406 PGRST116, `nulls=stripped`, `Content-Range`;
 * - errors are `{ code, details, hint, message }` with PostgREST's SQLSTATE → HTTP status table;
 * - with `maxRows` (PostgREST's `db-max-rows`; Supabase sets 1000), a set-returning call yields
 *   at most that many rows, silently (200, `Content-Range: 0-999/*`), as Supabase's Data API
 *   does. A function returning one value (a jsonb array, say) is not cut.
 *
 * Not served: tables and views, filters and other query modifiers, embedding, CSV, `RAISE
 * SQLSTATE 'PGRST'` and the `response.*` GUCs, OpenAPI, CORS, schemas other than `public`,
 * anonymous requests (refused as PostgREST refuses them with no `db-anon-role`), and the Supabase
 * API gateway's `apikey` check. Such requests get a PostgREST-shaped error, never a guess.
 *
 * Outage tests: `pause()` closes the listening socket and destroys open connections, so clients
 * see connection-refused errors; `resume()` listens again on the same port.
 */
import { createHmac, timingSafeEqual } from 'node:crypto'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import pg from 'pg'

/** Options of {@link startPostgrestDouble}. */
export interface PostgrestDoubleOptions {
  /** Connection string of the database to serve (e.g. `PostgresTestDatabase.url`). */
  databaseUrl: string
  /**
   * Vault root key given to every pooled session as `keywarden.root_key`, the way
   * `createPostgresTestDatabase().connect()` does. `null` gives sessions no key, for tests of
   * the ROOT_KEY_MISSING path.
   */
  rootKey: string | null
  /** The secret JWTs are signed with; PostgREST requires at least 32 characters. */
  jwtSecret: string
  /** Port to listen on at 127.0.0.1; 0 (the default) picks a free one. */
  port?: number
  /**
   * PostgREST's `db-max-rows`: the most rows a set-returning call yields, the rest dropped
   * without an error. Supabase's Data API sets 1000 ({@link SUPABASE_MAX_ROWS}). Default: no cap,
   * PostgREST's own default.
   */
  maxRows?: number
}

/** The Data API's row cap on Supabase (`db-max-rows`, "Max rows" in the dashboard). */
export const SUPABASE_MAX_ROWS = 1000

/** One request the double answered, for tests that count round trips to the vault. */
export interface PostgrestDoubleCall {
  method: string
  /** The function named in the path, `''` when the path named none. */
  fn: string
  /** The verified JWT's role, `null` when the request was refused before that. */
  role: string | null
  status: number
}

/** A running test double. */
export interface PostgrestDouble {
  /** Base URL to give supabase-js's `createClient(url, key)`: `http://127.0.0.1:<port>`. */
  readonly url: string
  readonly port: number
  /** True between `pause()` and `resume()`. */
  readonly paused: boolean
  /** The requests answered so far, oldest first. */
  readonly calls: readonly PostgrestDoubleCall[]
  clearCalls(): void
  /**
   * Simulates an unreachable vault: stops listening and destroys every open connection, so new
   * requests fail with ECONNREFUSED and in-flight ones with a reset. Idempotent.
   */
  pause(): Promise<void>
  /** Listens again on the same port. Idempotent. */
  resume(): Promise<void>
  /** Stops the server and ends the database pool. Idempotent. */
  close(): Promise<void>
}

/** Claims for {@link signTestJwt}; `exp`, `nbf` and `iat` are in seconds since the epoch. */
export interface TestJwtClaims {
  role: string
  exp?: number
  [claim: string]: unknown
}

/** The roles a JWT may name, as on Supabase, where the authenticator role can switch to no other. */
const API_ROLES: ReadonlySet<string> = new Set(['anon', 'authenticated', 'service_role'])
/** The only schema the double exposes (Supabase's default `db-schemas`). */
const EXPOSED_SCHEMA = 'public'
/** PostgREST accepts `exp`/`nbf`/`iat` up to 30 seconds off, for clock skew between hosts. */
const JWT_SKEW_SECONDS = 30
const HMAC_ALGORITHMS: Readonly<Record<string, string>> = {
  HS256: 'sha256',
  HS384: 'sha384',
  HS512: 'sha512',
}
/** Query-string parameters that PostgREST reads as modifiers, never as function arguments. */
const RESERVED_QUERY_PARAMS: ReadonlySet<string> = new Set([
  'select',
  'order',
  'limit',
  'offset',
  'columns',
  'on_conflict',
  'and',
  'or',
  'not',
])
const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_$]*$/

/**
 * Mints an HS256 JWT the way Supabase mints its anon and service-role keys, for tests.
 * `iat` defaults to now; no `exp` unless given (Supabase's API keys carry one years ahead).
 */
export function signTestJwt(claims: TestJwtClaims, secret: string): string {
  const header = base64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }))
  const payload = base64url(JSON.stringify({ iat: nowSeconds(), ...claims }))
  const signature = createHmac('sha256', secret).update(`${header}.${payload}`).digest('base64url')
  return `${header}.${payload}.${signature}`
}

/**
 * Starts the double on 127.0.0.1 over `databaseUrl`. The database must already be migrated.
 * Fails if the JWT secret is shorter than PostgREST allows or the root key cannot be passed as
 * a session option.
 */
export async function startPostgrestDouble(
  options: PostgrestDoubleOptions,
): Promise<PostgrestDouble> {
  if (
    options.maxRows !== undefined &&
    !(Number.isInteger(options.maxRows) && options.maxRows > 0)
  ) {
    throw new Error('maxRows must be a positive integer')
  }
  if (options.jwtSecret.length < 32) {
    throw new Error('jwtSecret must be at least 32 characters long, as PostgREST requires')
  }
  // The key travels inside libpq's `options` string, where whitespace and backslashes separate
  // or escape settings; any other value (even a malformed key, for KW002 tests) passes through.
  if (options.rootKey !== null && !/^[^\s\\]*$/.test(options.rootKey)) {
    throw new Error('rootKey must not contain whitespace or backslashes')
  }

  const pool = new pg.Pool({
    connectionString: options.databaseUrl,
    ...(options.rootKey === null ? {} : { options: `-c keywarden.root_key=${options.rootKey}` }),
    max: 10,
    // An unreachable database must become a prompt 503, not a request that hangs.
    connectionTimeoutMillis: 5_000,
    idleTimeoutMillis: 10_000,
    allowExitOnIdle: true,
  })
  // An idle pooled connection that dies (a dropped test database, a restarted server) emits
  // 'error' on the pool; unhandled, that event would crash the whole test process. The next
  // request simply gets a fresh connection, or a 503 if there is none to be had.
  pool.on('error', () => {})

  const calls: PostgrestDoubleCall[] = []
  const sockets = new Set<Socket>()
  const context: Context = {
    pool,
    jwtSecret: options.jwtSecret,
    maxRows: options.maxRows ?? null,
    record: (call) => calls.push(call),
  }
  const server = createServer((req, res) => {
    // handleRequest answers every failure itself; this only guards against a bug in it, which
    // must cost the one request rather than the test process (an unhandled rejection).
    handleRequest(req, res, context).catch(() => res.destroy())
  })
  // The double serves no Realtime: a WebSocket upgrade (a supabase-js channel) is refused
  // without being answered or recorded, as an unreachable Realtime server would be.
  server.on('upgrade', (_req, socket) => socket.destroy())
  server.on('connection', (socket) => {
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
  })

  const listen = (port: number) =>
    new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(port, '127.0.0.1', () => {
        server.off('error', reject)
        resolve()
      })
    })
  await listen(options.port ?? 0)
  const port = (server.address() as AddressInfo).port

  let paused = false
  let closing: Promise<void> | undefined
  const pause = async () => {
    if (paused) return
    paused = true
    const closed = new Promise<void>((resolve) => server.close(() => resolve()))
    for (const socket of sockets) socket.destroy()
    await closed
    // Give clients in this process an event-loop turn to see their keep-alive sockets close;
    // otherwise the next request may go out on a dead socket ("other side closed") instead of
    // meeting the closed port (ECONNREFUSED), and outage tests would see either at random.
    await new Promise((resolve) => setTimeout(resolve, 5))
  }

  return {
    url: `http://127.0.0.1:${port}`,
    port,
    get paused() {
      return paused
    },
    get calls() {
      return calls
    },
    clearCalls() {
      calls.length = 0
    },
    pause,
    async resume() {
      if (!paused || closing) return
      await listen(port)
      paused = false
    },
    close() {
      closing ??= (async () => {
        await pause()
        await pool.end()
      })()
      return closing
    },
  }
}

// ------------------------------------------------------------------------------------------
// Requests
// ------------------------------------------------------------------------------------------

interface Context {
  pool: pg.Pool
  jwtSecret: string
  maxRows: number | null
  record(call: PostgrestDoubleCall): void
}

/** An error answered in PostgREST's shape. */
class PostgrestError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: string | null = null,
    readonly hint: string | null = null,
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super(message)
    this.name = 'PostgrestError'
  }
}

/** The database could not be reached, or the connection broke mid-request. */
class DatabaseUnavailable extends Error {
  constructor(
    readonly stage: 'connect' | 'query',
    cause: unknown,
  ) {
    super(cause instanceof Error ? cause.message : String(cause), { cause })
    this.name = 'DatabaseUnavailable'
  }
}

interface Media {
  singular: boolean
  stripNulls: boolean
}

interface Answer {
  status: number
  headers: Record<string, string>
  body: string
}

/** Answers one request, whatever the request or the database does. */
async function handleRequest(
  req: IncomingMessage,
  res: ServerResponse,
  context: Context,
): Promise<void> {
  const method = req.method ?? 'GET'
  const url = URL.canParse(req.url ?? '/', 'http://127.0.0.1')
    ? new URL(req.url ?? '/', 'http://127.0.0.1')
    : new URL('http://127.0.0.1/')
  let role: string | null = null
  let answer: Answer
  try {
    // The JWT is checked first, as PostgREST's auth middleware does, before the path or body.
    const auth = verifyAuthorization(req.headers.authorization, context.jwtSecret)
    role = auth.role
    answer = await answerRpc(req, url, method, auth.role, auth.claims, context)
  } catch (error) {
    answer = errorAnswer(error, role !== null && role !== 'anon')
  }
  // Recorded before the answer leaves, so a test that awaited the answer sees its call.
  context.record({ method, fn: functionFromPath(url.pathname) ?? '', role, status: answer.status })
  send(res, answer)
}

async function answerRpc(
  req: IncomingMessage,
  url: URL,
  method: string,
  role: string,
  claims: Record<string, unknown>,
  context: Context,
): Promise<Answer> {
  const fn = functionFromPath(url.pathname)
  if (fn === undefined) {
    if (/^(\/rest\/v1)?\/[^/]+\/?$/.test(url.pathname)) {
      throw new PostgrestError(
        400,
        'PGRST127',
        'Feature not implemented',
        'The PostgREST test double serves only /rpc/<function>; tables and views are not served',
      )
    }
    throw new PostgrestError(404, 'PGRST125', 'Invalid path specified in request URL')
  }
  if (method !== 'GET' && method !== 'HEAD' && method !== 'POST') {
    throw new PostgrestError(405, 'PGRST101', `Cannot use the ${method} method on RPC`)
  }
  const readMethod = method !== 'POST'
  checkSchema(readMethod ? req.headers['accept-profile'] : req.headers['content-profile'])
  const media = negotiateMedia(req.headers.accept)
  const countRequested = /\bcount=(exact|planned|estimated)\b/.test(headerText(req.headers.prefer))
  const args = readMethod
    ? argumentsFromQuery(url.searchParams)
    : argumentsFromBody(await readBody(req), req.headers['content-type'], url.searchParams)

  let client: pg.PoolClient
  try {
    client = await context.pool.connect()
  } catch (error) {
    throw new DatabaseUnavailable('connect', error)
  }
  let broken = false
  try {
    const routine = resolveRoutine(await loadRoutines(client, fn), fn, args.keys)
    const readOnly = readMethod || routine.volatility !== 'v'
    await run(
      client,
      `BEGIN ISOLATION LEVEL READ COMMITTED ${readOnly ? 'READ ONLY' : 'READ WRITE'}`,
    )
    try {
      await run(client, `SET LOCAL ROLE ${quoteIdent(role)}`)
      await run(
        client,
        `SELECT pg_catalog.set_config('request.jwt.claims', $1, true),
                pg_catalog.set_config('request.method', $2, true),
                pg_catalog.set_config('request.path', $3, true),
                pg_catalog.set_config('request.headers', $4, true),
                pg_catalog.set_config('request.cookies', '{}', true)`,
        [JSON.stringify(claims), method, `/rpc/${fn}`, JSON.stringify(requestHeaders(req))],
      )
      const answer = await callRoutine(client, routine, args, media, {
        countRequested,
        maxRows: context.maxRows,
      })
      if (media.singular && answer.rows !== 1) {
        throw new PostgrestError(
          406,
          'PGRST116',
          'Cannot coerce the result to a single JSON object',
          `The result contains ${answer.rows} rows`,
        )
      }
      await run(client, 'COMMIT')
      return answer.answer
    } catch (error) {
      // A failed ROLLBACK means the connection itself is gone; it must not go back to the pool.
      await run(client, 'ROLLBACK').catch(() => {
        broken = true
      })
      throw error
    }
  } catch (error) {
    if (error instanceof DatabaseUnavailable) broken = true
    throw error
  } finally {
    client.release(broken)
  }
}

/** `/rest/v1/rpc/<fn>` (as supabase-js calls it) or `/rpc/<fn>` (PostgREST's own path). */
function functionFromPath(pathname: string): string | undefined {
  const match = /^(?:\/rest\/v1)?\/rpc\/([^/]+)\/?$/.exec(pathname)
  if (!match?.[1]) return undefined
  try {
    return decodeURIComponent(match[1])
  } catch {
    return undefined
  }
}

function checkSchema(profile: string | string[] | undefined): void {
  const schema = headerText(profile)
  if (schema !== '' && schema !== EXPOSED_SCHEMA) {
    throw new PostgrestError(
      406,
      'PGRST106',
      `Invalid schema: ${schema}`,
      null,
      `Only the following schemas are exposed: ${EXPOSED_SCHEMA}`,
    )
  }
}

/** PostgREST's content negotiation, for the media types an RPC answer can take here. */
function negotiateMedia(accept: string | undefined): Media {
  if (accept === undefined || accept.trim() === '') return { singular: false, stripNulls: false }
  const offered: string[] = []
  for (const entry of accept.split(',')) {
    const [type = '', ...parameters] = entry.split(';').map((part) => part.trim())
    const stripNulls = parameters.some((p) => p.replace(/\s+/g, '') === 'nulls=stripped')
    switch (type.toLowerCase()) {
      case '*/*':
      case 'application/*':
      case 'application/json':
        return { singular: false, stripNulls: false }
      case 'application/vnd.pgrst.object+json':
      case 'application/vnd.pgrst.object':
        return { singular: true, stripNulls }
      case 'application/vnd.pgrst.array+json':
      case 'application/vnd.pgrst.array':
        return { singular: false, stripNulls }
      default:
        offered.push(type)
    }
  }
  throw new PostgrestError(
    406,
    'PGRST107',
    `None of these media types are available: ${offered.join(', ')}`,
  )
}

// ------------------------------------------------------------------------------------------
// JWT
// ------------------------------------------------------------------------------------------

function verifyAuthorization(
  authorization: string | undefined,
  secret: string,
): { role: string; claims: Record<string, unknown> } {
  const bearer = /^bearer(?:\s+(.*))?$/i.exec(authorization?.trim() ?? '')
  // No bearer token is an anonymous request, which PostgREST refuses when no anon role is set.
  if (!bearer) {
    throw new PostgrestError(401, 'PGRST302', 'Anonymous access is disabled', null, null, {
      'WWW-Authenticate': 'Bearer',
    })
  }
  const token = bearer[1]?.trim() ?? ''
  if (token === '') throw jwtError('PGRST301', 'Empty JWT is sent in Authorization header')
  const parts = token.split('.')
  if (parts.length !== 3) {
    throw jwtError('PGRST301', `Expected 3 parts in JWT; got ${parts.length}`)
  }
  const [encodedHeader = '', encodedPayload = '', encodedSignature = ''] = parts

  const header = decodeJsonPart(encodedHeader)
  if (header === undefined) throw jwtError('PGRST301', "JWT couldn't be decoded")
  const digest = typeof header.alg === 'string' ? HMAC_ALGORITHMS[header.alg] : undefined
  if (digest === undefined) throw jwtError('PGRST301', 'Wrong or unsupported encoding algorithm')
  const expected = createHmac(digest, secret).update(`${encodedHeader}.${encodedPayload}`).digest()
  const given = Buffer.from(encodedSignature, 'base64url')
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    throw jwtError('PGRST301', 'JWT cryptographic operation failed')
  }

  const claims = decodeJsonPart(encodedPayload)
  if (claims === undefined) throw jwtError('PGRST303', 'Parsing claims failed')
  const now = nowSeconds()
  for (const claim of ['exp', 'nbf', 'iat'] as const) {
    if (claim in claims && typeof claims[claim] !== 'number') {
      throw jwtError('PGRST303', `The JWT '${claim}' claim must be a number`)
    }
  }
  if (typeof claims.exp === 'number' && now > claims.exp + JWT_SKEW_SECONDS) {
    throw jwtError('PGRST303', 'JWT expired')
  }
  if (typeof claims.nbf === 'number' && now + JWT_SKEW_SECONDS < claims.nbf) {
    throw jwtError('PGRST303', 'JWT not yet valid')
  }
  if (typeof claims.iat === 'number' && now + JWT_SKEW_SECONDS < claims.iat) {
    throw jwtError('PGRST303', 'JWT issued at future')
  }

  const role = claims.role
  if (typeof role !== 'string' || role === '') {
    throw new PostgrestError(401, 'PGRST302', 'Anonymous access is disabled', null, null, {
      'WWW-Authenticate': 'Bearer',
    })
  }
  // On Supabase the authenticator may only become these roles; any other is refused by
  // PostgreSQL as SET ROLE's 42501, which this double must not try as a superuser.
  if (!API_ROLES.has(role)) {
    throw new PostgrestError(403, '42501', `permission denied to set role "${role}"`)
  }
  return { role, claims }
}

function jwtError(code: string, message: string): PostgrestError {
  return new PostgrestError(401, code, message, null, null, {
    'WWW-Authenticate': `Bearer error="invalid_token", error_description=${JSON.stringify(message)}`,
  })
}

function decodeJsonPart(part: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(Buffer.from(part, 'base64url').toString('utf8'))
    return isObject(value) ? value : undefined
  } catch {
    return undefined
  }
}

// ------------------------------------------------------------------------------------------
// Arguments
// ------------------------------------------------------------------------------------------

interface CallArguments {
  /** Argument names, in the order given. */
  keys: string[]
  /** JSON array of argument objects for `json_to_recordset`; the first one is used. */
  json: string
}

/** A POST body as PostgREST reads it for an RPC: an object, or an array of like objects. */
function argumentsFromBody(
  raw: string,
  contentType: string | undefined,
  query: URLSearchParams,
): CallArguments {
  // A POST's query string could only hold modifiers: its arguments are in the body.
  rejectQueryModifiers(query, () => true)
  const mediaType = (contentType ?? '').split(';')[0]?.trim().toLowerCase() || 'application/json'
  if (mediaType !== 'application/json') {
    throw new PostgrestError(400, 'PGRST102', `Content-Type not acceptable: ${mediaType}`)
  }
  let body: unknown = {}
  if (raw !== '') {
    try {
      body = JSON.parse(raw)
    } catch {
      throw new PostgrestError(400, 'PGRST102', 'Empty or invalid json')
    }
  }
  if (isObject(body)) return { keys: Object.keys(body), json: JSON.stringify([body]) }
  if (Array.isArray(body) && body.length > 0) {
    const [first] = body
    const keys = isObject(first) ? Object.keys(first) : undefined
    const uniform =
      keys !== undefined &&
      body.every(
        (item) =>
          isObject(item) &&
          Object.keys(item).length === keys.length &&
          keys.every((key) => key in item),
      )
    if (!uniform) throw new PostgrestError(400, 'PGRST102', 'All object keys must match')
    return { keys, json: JSON.stringify(body) }
  }
  // PostgREST reads any other JSON value (an empty array, a scalar, null) as no arguments.
  return { keys: [], json: '[]' }
}

/** GET/HEAD arguments: every query parameter, as text that PostgreSQL casts to the type. */
function argumentsFromQuery(query: URLSearchParams): CallArguments {
  const args: Record<string, string> = {}
  rejectQueryModifiers(query, (key) => RESERVED_QUERY_PARAMS.has(key))
  for (const [key, value] of query) {
    if (!RESERVED_QUERY_PARAMS.has(key)) args[key] = value
  }
  return { keys: Object.keys(args), json: JSON.stringify([args]) }
}

/**
 * Query modifiers filter or reshape PostgREST's answer; the double answers only plain calls, so
 * it refuses them rather than ignore them. `select=*` changes nothing and is allowed.
 */
function rejectQueryModifiers(query: URLSearchParams, isModifier: (key: string) => boolean): void {
  for (const [key, value] of query) {
    if (isModifier(key) && !(key === 'select' && value === '*')) {
      throw new PostgrestError(
        400,
        'PGRST127',
        'Feature not implemented',
        `The PostgREST test double does not apply the query parameter "${key}"`,
      )
    }
  }
}

// ------------------------------------------------------------------------------------------
// Routines
// ------------------------------------------------------------------------------------------

interface RoutineParameter {
  name: string | null
  type: string
  /** pg_proc.proargmodes: i(n), o(ut), b (inout), v(ariadic), t(able). */
  mode: string
}

interface Routine {
  name: string
  returnsSet: boolean
  returnsVoid: boolean
  /** Rows (a table, SETOF a composite, a composite) rather than scalars. */
  returnsRows: boolean
  /** pg_proc.provolatile: i, s or v. */
  volatility: string
  /** Input parameters, in declaration order. */
  inputs: RoutineParameter[]
  /** How many trailing inputs have defaults. */
  defaults: number
}

interface RoutineRow {
  name: string
  returns_set: boolean
  returns_void: boolean
  returns_rows: boolean
  volatility: string
  defaults: number
  parameters: RoutineParameter[]
}

/** Every overload of `public.<fn>`, read from the catalog on each call (no schema cache). */
async function loadRoutines(client: pg.PoolClient, fn: string): Promise<Routine[]> {
  if (!IDENTIFIER.test(fn)) return []
  const { rows } = await run<RoutineRow>(
    client,
    `SELECT p.proname AS name,
            p.proretset AS returns_set,
            p.prorettype = 'pg_catalog.void'::pg_catalog.regtype AS returns_void,
            (t.typtype = 'c' OR p.prorettype = 'pg_catalog.record'::pg_catalog.regtype) AS returns_rows,
            p.provolatile::text AS volatility,
            p.pronargdefaults::int AS defaults,
            coalesce((
              SELECT pg_catalog.json_agg(pg_catalog.json_build_object(
                       'name', nullif(a.name, ''),
                       'type', pg_catalog.format_type(a.type, NULL),
                       'mode', coalesce(a.mode::text, 'i')) ORDER BY a.ord)
                FROM ROWS FROM (
                       pg_catalog.unnest(coalesce(p.proallargtypes, p.proargtypes::pg_catalog.oid[])),
                       pg_catalog.unnest(p.proargnames),
                       pg_catalog.unnest(p.proargmodes)
                     ) WITH ORDINALITY AS a (type, name, mode, ord)
               WHERE a.type IS NOT NULL
            ), '[]') AS parameters
       FROM pg_catalog.pg_proc p
       JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
       JOIN pg_catalog.pg_type t ON t.oid = p.prorettype
      WHERE n.nspname = $1 AND p.proname = $2 AND p.prokind = 'f'`,
    [EXPOSED_SCHEMA, fn],
  )
  return rows.map((row) => ({
    name: row.name,
    returnsSet: row.returns_set,
    returnsVoid: row.returns_void,
    returnsRows: row.returns_rows,
    volatility: row.volatility,
    defaults: row.defaults,
    inputs: row.parameters.filter((p) => p.mode === 'i' || p.mode === 'b' || p.mode === 'v'),
  }))
}

/**
 * PostgREST's overload resolution: a function matches when every given key names one of its
 * inputs and every input without a default is given. None is 404 PGRST202, several 300 PGRST203.
 */
function resolveRoutine(routines: Routine[], fn: string, keys: string[]): Routine {
  const matches = routines.filter((routine) => {
    const names = new Set(routine.inputs.map((input) => input.name))
    const required = routine.inputs.slice(0, routine.inputs.length - routine.defaults)
    return (
      keys.every((key) => IDENTIFIER.test(key) && names.has(key)) &&
      required.every((input) => input.name !== null && keys.includes(input.name))
    )
  })
  const [match, ...others] = matches
  if (match && others.length === 0) return match
  const qualified = `${EXPOSED_SCHEMA}.${fn}`
  if (match) {
    throw new PostgrestError(
      300,
      'PGRST203',
      `Could not choose the best candidate function between: ${matches
        .map((r) => `${qualified}(${r.inputs.map((i) => `${i.name} => ${i.type}`).join(', ')})`)
        .join(', ')}`,
      null,
      'Try renaming the parameters or the function itself in the database so function overloading can be resolved',
    )
  }
  const sorted = [...keys].sort()
  const [candidate] = routines
  throw new PostgrestError(
    404,
    'PGRST202',
    `Could not find the function ${qualified}${
      sorted.length === 0 ? ' without parameters' : `(${sorted.join(', ')})`
    } in the schema cache`,
    `Searched for the function ${qualified}${
      sorted.length === 0
        ? ' without parameters'
        : ` with parameter${sorted.length > 1 ? 's' : ''} ${sorted.join(', ')}`
    } or with a single unnamed json/jsonb parameter, but no matches were found in the schema cache.`,
    candidate
      ? `Perhaps you meant to call the function ${qualified}(${candidate.inputs
          .map((input) => input.name ?? '')
          .sort()
          .join(', ')})`
      : null,
  )
}

/**
 * Calls the routine the way PostgREST's query builder does: arguments come out of
 * `json_to_recordset` typed by the catalog, and the body is aggregated by PostgreSQL's own JSON
 * functions, so values are formatted exactly as PostgREST would send them.
 */
async function callRoutine(
  client: pg.PoolClient,
  routine: Routine,
  args: CallArguments,
  media: Media,
  limits: { countRequested: boolean; maxRows: number | null },
): Promise<{ answer: Answer; rows: number }> {
  const given = routine.inputs.filter(
    (input): input is RoutineParameter & { name: string } =>
      input.name !== null && args.keys.includes(input.name),
  )
  const call = `public.${quoteIdent(routine.name)}(${given
    .map(
      (input) =>
        `${input.mode === 'v' ? 'VARIADIC ' : ''}${quoteIdent(input.name)} => pgrst_args.${quoteIdent(input.name)}`,
    )
    .join(', ')})`
  // Types come from pg_catalog.format_type, never from the request; names are quoted.
  const source =
    given.length === 0
      ? undefined
      : `(SELECT * FROM pg_catalog.json_to_recordset($1::json) AS _ (${given
          .map((input) => `${quoteIdent(input.name)} ${input.type}`)
          .join(', ')}) LIMIT 1) pgrst_args`
  const values = given.length === 0 ? [] : [args.json]

  if (routine.returnsVoid && !routine.returnsSet) {
    await run(client, `SELECT ${call}${source ? ` FROM ${source}` : ''}`, values)
    return { answer: { status: 204, headers: { 'Content-Range': '*/*' }, body: '' }, rows: 1 }
  }

  const inner = routine.returnsRows
    ? `SELECT pgrst_lat.* FROM ${source ? `${source}, LATERAL ` : ''}${call} pgrst_lat`
    : `SELECT ${call} AS pgrst_scalar${source ? ` FROM ${source}` : ''}`
  const aggregate = routine.returnsRows
    ? 'pg_catalog.json_agg(pgrst_call)'
    : 'pg_catalog.json_agg(pgrst_call.pgrst_scalar)'
  const strip = (sql: string) => (media.stripNulls ? `pg_catalog.json_strip_nulls(${sql})` : sql)
  const body =
    media.singular || !routine.returnsSet
      ? `coalesce(${strip(`${aggregate} -> 0`)}, 'null')`
      : `coalesce(${strip(aggregate)}, '[]')`
  // PostgREST applies db-max-rows as a LIMIT on the call's rows, and counts (count=exact) the
  // rows before it. The source is materialized once, so a VOLATILE function still runs once.
  const capped = routine.returnsSet && limits.maxRows !== null
  const { rows } = await run<{ body: string; page_total: number; total: number }>(
    client,
    capped
      ? `WITH pgrst_source AS MATERIALIZED (${inner})
         SELECT (${body})::text AS body, pg_catalog.count(*)::int AS page_total,
                (SELECT pg_catalog.count(*)::int FROM pgrst_source) AS total
           FROM (SELECT * FROM pgrst_source LIMIT ${limits.maxRows}) pgrst_call`
      : `SELECT (${body})::text AS body, pg_catalog.count(*)::int AS page_total,
                pg_catalog.count(*)::int AS total
           FROM (${inner}) pgrst_call`,
    values,
  )
  const [row] = rows
  if (!row) throw new Error('the aggregate query returned no row')
  const pageTotal = row.page_total
  const range = pageTotal > 0 ? `0-${pageTotal - 1}` : '*'
  const suffix = media.stripNulls ? ';nulls=stripped' : ''
  return {
    answer: {
      status: 200,
      headers: {
        'Content-Type': `${media.singular ? 'application/vnd.pgrst.object+json' : 'application/json'}${suffix}; charset=utf-8`,
        'Content-Range': `${range}/${limits.countRequested ? row.total : '*'}`,
      },
      body: row.body,
    },
    rows: pageTotal,
  }
}

// ------------------------------------------------------------------------------------------
// Errors and responses
// ------------------------------------------------------------------------------------------

/** PostgREST's SQLSTATE → HTTP status table (Error.hs `mapSQLtoHTTP`), in its order. */
function statusForSqlState(code: string, message: string, authenticated: boolean): number {
  const starts = (prefix: string) => code.startsWith(prefix)
  if (starts('08')) return 503
  if (starts('09')) return 500
  if (starts('0L') || starts('0P')) return 403
  if (code === '23503' || code === '23505') return 409
  if (code === '25006') return 405
  if (code === '21000') return message.endsWith('requires a WHERE clause') ? 400 : 500
  if (code === '22023') return /^role .* does not exist$/.test(message) ? 401 : 400
  if (starts('25') || starts('2D') || starts('38') || starts('39') || starts('3B')) return 500
  if (starts('28')) return 403
  if (starts('40') || code === '53400') return 500
  if (starts('53')) return 503
  if (starts('54') || starts('55')) return 500
  if (code === '57P01') return 503
  if (starts('57') || starts('58') || starts('F0') || starts('HV')) return 500
  if (code === 'P0001') return 400
  if (starts('P0') || starts('XX')) return 500
  if (code === '42883') return message.startsWith('function xmlagg(') ? 406 : 404
  if (code === '42P01') return 404
  if (code === '42P17') return 500
  if (code === '42501') return authenticated ? 403 : 401
  if (starts('PT')) {
    const status = Number(code.slice(2))
    return Number.isInteger(status) && status >= 100 && status <= 599 ? status : 500
  }
  // Everything else, Keywarden's KW… SQLSTATEs included, is the client's fault to PostgREST.
  return 400
}

function errorAnswer(error: unknown, authenticated: boolean): Answer {
  let failure: PostgrestError
  if (error instanceof PostgrestError) {
    failure = error
  } else if (error instanceof pg.DatabaseError) {
    const code = error.code ?? 'XX000'
    const status = statusForSqlState(code, error.message, authenticated)
    failure = new PostgrestError(
      status,
      code,
      error.message,
      error.detail ?? null,
      error.hint ?? null,
      status === 401 ? { 'WWW-Authenticate': 'Bearer' } : {},
    )
  } else if (error instanceof DatabaseUnavailable) {
    failure =
      error.stage === 'connect'
        ? new PostgrestError(
            503,
            'PGRST000',
            'Database connection error. Retrying the connection.',
            error.message,
          )
        : new PostgrestError(
            503,
            'PGRST001',
            'Database client error. Retrying the connection.',
            error.message,
          )
  } else {
    failure = new PostgrestError(
      500,
      'PGRSTX00',
      error instanceof Error ? error.message : String(error),
    )
  }
  // Keys in PostgREST's (aeson's) order.
  const body = JSON.stringify({
    code: failure.code,
    details: failure.details,
    hint: failure.hint,
    message: failure.message,
  })
  return {
    status: failure.status,
    headers: {
      'Content-Type': 'application/json; charset=utf-8',
      'Proxy-Status': `PostgREST; error=${failure.code}`,
      ...failure.headers,
    },
    body,
  }
}

function send(res: ServerResponse, answer: Answer): void {
  // The client may be gone (a paused double destroys its sockets); writing would only raise.
  if (res.destroyed || res.socket?.destroyed) return
  res.on('error', () => {})
  res.writeHead(answer.status, {
    ...answer.headers,
    'Content-Length': String(Buffer.byteLength(answer.body)),
  })
  res.end(answer.body)
}

// ------------------------------------------------------------------------------------------
// Helpers
// ------------------------------------------------------------------------------------------

/** Runs a query; a failure that is not PostgreSQL's own error means the connection is gone. */
async function run<Row extends pg.QueryResultRow = pg.QueryResultRow>(
  client: pg.PoolClient,
  text: string,
  values: unknown[] = [],
): Promise<pg.QueryResult<Row>> {
  try {
    return await client.query<Row>(text, values)
  } catch (error) {
    if (error instanceof pg.DatabaseError) throw error
    throw new DatabaseUnavailable('query', error)
  }
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    req.on('data', (chunk: Buffer) => chunks.push(chunk))
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')))
    req.on('error', reject)
  })
}

/** The request's headers as PostgREST exposes them in `request.headers` (lower-case names). */
function requestHeaders(req: IncomingMessage): Record<string, string> {
  const headers: Record<string, string> = {}
  for (const [name, value] of Object.entries(req.headers)) {
    if (name !== 'cookie' && value !== undefined) headers[name] = headerText(value)
  }
  return headers
}

function headerText(value: string | string[] | undefined): string {
  return (Array.isArray(value) ? value.join(', ') : (value ?? '')).trim()
}

function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function base64url(text: string): string {
  return Buffer.from(text, 'utf8').toString('base64url')
}

function nowSeconds(): number {
  return Math.floor(Date.now() / 1000)
}
