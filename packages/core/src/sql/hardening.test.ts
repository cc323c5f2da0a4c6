/**
 * The attack of issue 11 on every SECURITY DEFINER function, generated from the catalog: a
 * caller that may create temporary objects (service_role; TEMP is granted to PUBLIC) plants
 * `pg_temp` objects shadowing every type, relation and function name a function's body,
 * arguments and results mention — domains whose CHECK calls the caller's own code, views that
 * call it when read, functions that call it — then calls the function with valid arguments.
 * Any planted code that runs would run with the function owner's rights, so the test fails if
 * any ran (as anyone) or if the call failed.
 *
 * On PostgreSQL each attack is a fresh session; PGlite is one session whose compiled PL/pgSQL
 * functions outlive transactions, so each attack first rewrites the functions' catalog rows
 * (`freshCompile`) and they are compiled again with the planted objects in sight.
 *
 * The list of functions comes from `pg_proc`, not from this file: a function added by a later
 * migration is attacked automatically, and the test fails when it has an argument this file
 * cannot give a valid value for (add an entry to ARGUMENTS or CALLS).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { rolledBack } from '../testing/rolled-back.ts'
import { type SqlBackend, sqlBackends } from '../testing/sql-backends.ts'

/** A secret every call may name; created (and a rotation staged for it) before the attacks. */
const FIXTURE = 'kw_hardening_fixture'
const VALUE = 'kw-hardening-value'

/** Schemas whose functions the migrations create (the real supabase_vault's are skipped). */
const SCHEMAS = ['public', 'keywarden', 'vault']

interface CatalogFunction {
  schema: string
  name: string
  signature: string
  source: string
  /** Input arguments in order, with whether each has a default. */
  inputs: Array<{ name: string; type: string; typname: string; hasDefault: boolean }>
  /** Names of every type in the arguments and results (array types as their element). */
  typeNames: string[]
}

const literal = (text: string) => `'${text.replaceAll("'", "''")}'`

/** Valid values by argument name (SQL expressions, every type qualified). */
const ARGUMENTS: Record<string, string> = {
  // A range's start must come before its end (`p_to` is `now()`, by type).
  p_from: `pg_catalog.now() - '1 day'::pg_catalog.interval`,
  secret_name: `${literal(FIXTURE)}::pg_catalog.text`,
  secret_names: `ARRAY[${literal(FIXTURE)}]::pg_catalog.text[]`,
  secret_value: `${literal(VALUE)}::pg_catalog.text`,
  new_value: `${literal(VALUE)}::pg_catalog.text`,
  new_secret: `${literal(VALUE)}::pg_catalog.text`,
  accessed_by: `'cli'::pg_catalog.text`,
  events: `${literal(
    JSON.stringify([
      {
        secret_name: FIXTURE,
        accessed_by: 'cli',
        access_type: 'cache_hit',
        success: true,
        created_at: new Date().toISOString(),
        event_count: 2,
      },
    ]),
  )}::pg_catalog.jsonb`,
  claims: `${literal(
    JSON.stringify([{ kind: 'reminder', secret_name: FIXTURE, window_key: 'w:1' }]),
  )}::pg_catalog.jsonb`,
  secret_id: `(SELECT s.id FROM vault.secrets s WHERE s.name = ${literal(FIXTURE)})`,
}

/** Sensible values by type, for arguments not named above. */
const TYPES: Record<string, string> = {
  'pg_catalog.text': `${literal(FIXTURE)}::pg_catalog.text`,
  'pg_catalog._text': `ARRAY[${literal(FIXTURE)}]::pg_catalog.text[]`,
  'pg_catalog.int4': '1::pg_catalog.int4',
  'pg_catalog.int8': '1::pg_catalog.int8',
  'pg_catalog.bool': 'false',
  'pg_catalog.timestamptz': 'pg_catalog.now()',
  'pg_catalog.interval': `'1 hour'::pg_catalog.interval`,
  'pg_catalog.jsonb': `'[]'::pg_catalog.jsonb`,
}

/** Whole calls, for functions whose arguments only make sense together. */
const CALLS: Record<string, string> = {
  'vault._decrypt': `SELECT vault._decrypt(s.id, s.nonce, s.key_id, s.secret) FROM vault.secrets s WHERE s.name = ${literal(FIXTURE)}`,
  // An operation that walks most of the OAuth helpers (validation, slug, audit).
  'public.oauth_call': `SELECT public.oauth_call('register_client', ${literal(
    JSON.stringify({ client_name: 'Planted', redirect_uris: ['https://x.example/cb'] }),
  )}::pg_catalog.jsonb)`,
}

/** The call of `fn` with valid arguments, or why there is none. */
function callFor(fn: CatalogFunction): { sql: string } | { missing: string[] } {
  const whole = CALLS[`${fn.schema}.${fn.name}`]
  if (whole) return { sql: whole }
  const required = fn.inputs.filter((input) => !input.hasDefault)
  const missing: string[] = []
  const args = required.map((input) => {
    const value = ARGUMENTS[input.name] ?? TYPES[input.type]
    if (value === undefined || input.name === '') missing.push(`${input.name || '?'} ${input.type}`)
    return `${input.name} => ${value}`
  })
  if (missing.length > 0) return { missing }
  return { sql: `SELECT * FROM ${fn.schema}.${fn.name}(${args.join(', ')})` }
}

const ident = (name: string) => `"${name.replaceAll('"', '""')}"`

/** Every identifier-like token of a body, lower-cased: a generous over-approximation. */
function tokens(source: string): Set<string> {
  return new Set((source.match(/[A-Za-z_][A-Za-z0-9_$]*/g) ?? []).map((t) => t.toLowerCase()))
}

/** Tokens written as unqualified calls: `name(` not preceded by `.`. */
function calledNames(source: string): Set<string> {
  const names = new Set<string>()
  for (const match of source.matchAll(/(?<![.\w$])([A-Za-z_][A-Za-z0-9_$]*)\s*\(/g)) {
    names.add((match[1] as string).toLowerCase())
  }
  return names
}

/**
 * Rewrites each function's catalog row in place (same cost), so the next call compiles it
 * afresh with the planted objects in sight, exactly as a new session would. Rolled back with
 * the transaction.
 */
const freshCompile = `DO $$
DECLARE f record;
BEGIN
  FOR f IN SELECT p.oid::pg_catalog.regprocedure AS sig, p.procost FROM pg_catalog.pg_proc p
            WHERE p.pronamespace::pg_catalog.regnamespace::pg_catalog.text IN (${SCHEMAS.map(literal).join(', ')})
              AND p.prokind = 'f'
              AND p.proowner = (SELECT r.oid FROM pg_catalog.pg_roles r WHERE r.rolname = current_user) LOOP
    EXECUTE pg_catalog.format('ALTER FUNCTION %s COST %s', f.sig, f.procost);
  END LOOP;
END $$`

// The caller's side channel: a temporary table and a NOTICE, both saying who ran the code.
const marker = `
CREATE TEMP TABLE kw_planted_log (tag pg_catalog.text, ran_as pg_catalog.text);
CREATE FUNCTION pg_temp.kw_mark(tag pg_catalog.text) RETURNS pg_catalog.bool
  LANGUAGE plpgsql AS $$
  BEGIN
    INSERT INTO pg_temp.kw_planted_log VALUES (tag, current_user::pg_catalog.text);
    RAISE NOTICE 'kw planted code ran: % as %', tag, current_user;
    RETURN true;
  END $$`

describe.each(await sqlBackends())(
  'pg_temp shadowing against every SECURITY DEFINER function on $kind',
  ({ create }) => {
    let db: SqlBackend
    let functions: CatalogFunction[]
    let catalogTypes: Set<string>
    let relations: Set<string>
    let catalogFunctions: Map<string, Array<{ args: string[]; returns: string }>>
    let helperSources: string

    beforeAll(async () => {
      db = await create()
      const owner = { role: 'owner' }
      await db.query(`SELECT public.store_secret($1, $2)`, [FIXTURE, 'fixture-initial'], owner)
      await db.query(`SELECT public.stage_rotation($1, $2)`, [FIXTURE, 'fixture-staged'], owner)
      // Supabase grants TEMP to PUBLIC by default; made sure of here so the attack never depends
      // on how the test database was created.
      await db.query(
        `DO $$ BEGIN
         IF NOT pg_catalog.has_database_privilege('service_role', pg_catalog.current_database(), 'TEMP') THEN
           EXECUTE pg_catalog.format('GRANT TEMP ON DATABASE %I TO service_role', pg_catalog.current_database());
         END IF;
       END $$`,
        [],
        owner,
      )

      functions = await db.query<CatalogFunction>(
        `SELECT n.nspname AS schema, p.proname AS name, p.oid::regprocedure::text AS signature,
              p.prosrc AS source,
              (SELECT coalesce(pg_catalog.json_agg(pg_catalog.json_build_object(
                        'name', a.name, 'type', tn.nspname || '.' || t.typname, 'typname', t.typname,
                        'hasDefault', a.ord > p.pronargs - p.pronargdefaults) ORDER BY a.ord), '[]')
                 FROM unnest(p.proargtypes::oid[],
                        (coalesce(p.proargnames, '{}'::text[]))[1:p.pronargs])
                        WITH ORDINALITY AS a (type_oid, name, ord)
                 JOIN pg_catalog.pg_type t ON t.oid = a.type_oid
                 JOIN pg_catalog.pg_namespace tn ON tn.oid = t.typnamespace) AS inputs,
              (SELECT coalesce(pg_catalog.array_agg(DISTINCT coalesce(e.typname, t.typname)), '{}')
                 FROM pg_catalog.unnest(coalesce(p.proallargtypes, p.proargtypes::oid[]) || p.prorettype) AS u (type_oid)
                 JOIN pg_catalog.pg_type t ON t.oid = u.type_oid
                 LEFT JOIN pg_catalog.pg_type e ON e.oid = t.typelem AND t.typcategory = 'A') AS "typeNames"
         FROM pg_catalog.pg_proc p
         JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
        WHERE p.prosecdef AND n.nspname = ANY ($1)
          AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d
                           WHERE d.classid = 'pg_catalog.pg_proc'::regclass AND d.objid = p.oid
                             AND d.deptype = 'e')
        ORDER BY 1, 2, 3`,
        [SCHEMAS],
        owner,
      )
      // The helpers a function calls run inside it: every body in the schemas counts as used.
      helperSources = (
        await db.query<{ source: string }>(
          `SELECT p.prosrc AS source FROM pg_catalog.pg_proc p
          WHERE p.pronamespace::regnamespace::text = ANY ($1)
            AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d
                             WHERE d.classid = 'pg_catalog.pg_proc'::regclass AND d.objid = p.oid
                               AND d.deptype = 'e')`,
          [SCHEMAS],
          owner,
        )
      )
        .map((row) => row.source)
        .join('\n')
      // Types a domain can shadow: pg_catalog's base, enum, range and multirange types.
      catalogTypes = new Set(
        (
          await db.query<{ typname: string }>(
            `SELECT t.typname FROM pg_catalog.pg_type t
            WHERE t.typnamespace = 'pg_catalog'::regnamespace AND t.typtype IN ('b', 'e', 'r', 'm')
              AND t.typcategory <> 'A' AND t.typisdefined AND t.typname NOT IN ('unknown')`,
            [],
            owner,
          )
        ).map((row) => row.typname),
      )
      relations = new Set(
        (
          await db.query<{ relname: string }>(
            `SELECT DISTINCT c.relname FROM pg_catalog.pg_class c
            WHERE c.relnamespace::regnamespace::text NOT LIKE 'pg\\_toast%'
              AND c.relnamespace::regnamespace::text NOT LIKE 'pg\\_temp%'
              AND c.relkind IN ('r', 'v', 'm', 'p', 'f', 'S')`,
            [],
            owner,
          )
        ).map((row) => row.relname),
      )
      catalogFunctions = new Map()
      // Signatures a PL/pgSQL function can copy: no pseudo-types, not set-returning.
      const rows = await db.query<{ proname: string; args: string[]; returns: string }>(
        `SELECT p.proname,
              ARRAY(SELECT tn.nspname || '.' || pg_catalog.quote_ident(t.typname)
                                 FROM pg_catalog.unnest(p.proargtypes::oid[]) WITH ORDINALITY AS a (o, i)
                                 JOIN pg_catalog.pg_type t ON t.oid = a.o
                                 JOIN pg_catalog.pg_namespace tn ON tn.oid = t.typnamespace
                                ORDER BY a.i) AS args,
              rn.nspname || '.' || pg_catalog.quote_ident(r.typname) AS returns
         FROM pg_catalog.pg_proc p
         JOIN pg_catalog.pg_type r ON r.oid = p.prorettype
         JOIN pg_catalog.pg_namespace rn ON rn.oid = r.typnamespace
        WHERE p.prokind = 'f' AND NOT p.proretset AND r.typtype <> 'p'
          AND p.pronamespace::regnamespace::text = ANY ($1 || '{pg_catalog}'::text[])
          AND NOT EXISTS (SELECT 1 FROM pg_catalog.unnest(p.proargtypes::oid[]) AS a (o)
                            JOIN pg_catalog.pg_type t ON t.oid = a.o WHERE t.typtype = 'p')`,
        [SCHEMAS],
        owner,
      )
      for (const row of rows) {
        const list = catalogFunctions.get(row.proname) ?? []
        list.push({ args: row.args, returns: row.returns })
        catalogFunctions.set(row.proname, list)
      }
    }, 60_000)

    afterAll(async () => {
      await db?.close()
    })

    /** The statements that plant a shadow of every name `fn` uses. */
    function plants(fn: CatalogFunction): string[] {
      const source = `${fn.source}\n${helperSources}`
      const words = tokens(source)
      const statements: string[] = []
      const relationNames = [...words].filter((word) => relations.has(word)).sort()
      for (const name of relationNames) {
        // A view's row type shadows the type of the same name too.
        statements.push(
          `CREATE TEMP VIEW ${ident(name)} AS SELECT pg_temp.kw_mark(${literal(`relation ${name}`)}) AS kw_planted`,
        )
      }
      const typeNames = new Set(
        [...words, ...fn.typeNames].filter((word) => catalogTypes.has(word)),
      )
      for (const name of [...typeNames].sort()) {
        if (relationNames.includes(name)) continue
        statements.push(
          `CREATE DOMAIN pg_temp.${ident(name)} AS pg_catalog.${ident(name)} CHECK (pg_temp.kw_mark(${literal(`type ${name}`)}))`,
        )
      }
      for (const name of [...calledNames(source)].sort()) {
        const seen = new Set<string>()
        for (const signature of catalogFunctions.get(name) ?? []) {
          const args = signature.args.join(', ')
          if (seen.has(args)) continue
          seen.add(args)
          const result = signature.returns === 'pg_catalog.void' ? 'RETURN;' : 'RETURN NULL;'
          statements.push(
            `CREATE FUNCTION pg_temp.${ident(name)}(${args}) RETURNS ${signature.returns} LANGUAGE plpgsql AS $kw$ BEGIN PERFORM pg_temp.kw_mark(${literal(`function ${name}`)}); ${result} END $kw$`,
          )
        }
      }
      return statements
    }

    it('finds the functions in the catalog, and a valid call for each', () => {
      const names = functions.map((fn) => `${fn.schema}.${fn.name}`)
      // A sanity floor: the catalog query sees the API, so an empty list cannot pass.
      expect(names).toEqual(
        expect.arrayContaining([
          'public.get_secret',
          'public.store_secret',
          'public.log_secret_access_batch',
          'public.verify_secret_access_log',
        ]),
      )
      const uncallable = functions.flatMap((fn) => {
        const call = callFor(fn)
        return 'missing' in call ? [`${fn.signature}: no value for ${call.missing.join(', ')}`] : []
      })
      expect(uncallable).toEqual([])
    })

    it('pins search_path = pg_catalog, pg_temp on every SECURITY DEFINER function', async () => {
      const unpinned = await db.query<{ signature: string; config: string[] | null }>(
        `SELECT p.oid::regprocedure::text AS signature, p.proconfig AS config
         FROM pg_catalog.pg_proc p
        WHERE p.prosecdef AND p.pronamespace::regnamespace::text = ANY ($1)
          AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d
                           WHERE d.classid = 'pg_catalog.pg_proc'::regclass AND d.objid = p.oid
                             AND d.deptype = 'e')
          AND NOT ('search_path=pg_catalog, pg_temp' = ANY (coalesce(p.proconfig, '{}')))`,
        [SCHEMAS],
        { role: 'owner' },
      )
      expect(unpinned).toEqual([])
    })

    it('lets writers run beside harmless temporary objects, and refuses a session shadowing a built-in', async () => {
      await rolledBack(db, async (session) => {
        await session.run('SET LOCAL ROLE service_role')
        await session.run('CREATE TEMP TABLE kw_scratch (x int)')
        await session.run("SELECT public.store_secret('kw_shadow_ok', 'a value that is fine')")
        await session.run('CREATE DOMAIN pg_temp.bytea AS pg_catalog.bytea')
        await session.run('SAVEPOINT shadowed')
        const refusal = await session
          .run("SELECT public.store_secret('kw_shadow_refused', 'another value')")
          .then(
            () => undefined,
            (error: unknown) => error,
          )
        expect(isShadowRefusal(refusal)).toBe(true)
      })
    })

    it('runs none of the planted code, as anyone', async () => {
      const failures: string[] = []
      for (const fn of functions) {
        const call = callFor(fn)
        if (!('sql' in call)) continue
        const statements = plants(fn)
        await rolledBack(db, async (session) => {
          await session.run(freshCompile)
          await session.run('SET LOCAL ROLE service_role')
          for (const statement of marker.split(/;\n(?=CREATE)/)) await session.run(statement)
          for (const statement of statements) {
            try {
              await session.run(statement)
            } catch (error) {
              throw new Error(`could not plant for ${fn.signature}: ${statement}`, { cause: error })
            }
          }
          await session.run('SAVEPOINT attack')
          try {
            await session.run(call.sql)
            const ran = await session.run('SELECT tag, ran_as FROM pg_temp.kw_planted_log')
            for (const row of ran) failures.push(`${fn.signature}: ${row.tag} ran as ${row.ran_as}`)
          } catch (error) {
            await session.run('ROLLBACK TO SAVEPOINT attack')
            // The writers refuse a session that shadows built-in names before they call the
            // vault (keywarden.lock_name): that refusal is the defence, not a failure.
            if (!isShadowRefusal(error)) {
              failures.push(`${fn.signature}: the call failed: ${(error as Error).message}`)
            }
          }
          for (const notice of session.notices) {
            if (notice.startsWith('kw planted code ran'))
              failures.push(`${fn.signature}: ${notice}`)
          }
        })
      }
      expect([...new Set(failures)]).toEqual([])
    }, 120_000)
  },
)

/** keywarden.lock_name's refusal of a session whose pg_temp shadows built-in names. */
function isShadowRefusal(error: unknown): boolean {
  const { code, message } = error as { code?: string; message?: string }
  return code === '42501' && /temporary objects shadow built-in names/.test(message ?? '')
}
