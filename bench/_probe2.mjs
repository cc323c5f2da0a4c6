import pg from 'pg'
import { benchDatabase, formatNs, median, sample, sampleInterleaved } from './lib.js'
import { cryptoSchema, lowerBoundStatement } from './cold-read.js'
const db = await benchDatabase()
const raw = new pg.Client({ connectionString: db.url, options: `-c keywarden.root_key=${db.rootKey}` })
await raw.connect()
await raw.query("SELECT public.store_secret('github_token', 'ghp_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx')")
const def = (await raw.query("SELECT pg_get_functiondef('public.get_secret_row'::regproc) AS d")).rows[0].d
const variant = (name, f) => raw.query(f(def).replace('public.get_secret_row(', `public.${name}(`).replace(/get_secret_row\./g, `${name}.`))
await variant('v_noexc', (d) => d.replace(/EXCEPTION WHEN[\s\S]*?RAISE;/, ''))
await variant('v_nopath', (d) => d.replace(/EXCEPTION WHEN[\s\S]*?RAISE;/, '').replace(/ SET search_path TO 'pg_catalog', 'pg_temp'/, ''))
await variant('v_nodef', (d) => d.replace(/EXCEPTION WHEN[\s\S]*?RAISE;/, '').replace(/ SET search_path TO 'pg_catalog', 'pg_temp'/, '').replace('SECURITY DEFINER', ''))
await variant('v_generic', (d) => d.replace(/ SET search_path TO 'pg_catalog', 'pg_temp'/, " SET search_path TO 'pg_catalog', 'pg_temp' SET plan_cache_mode = force_generic_plan"))
await variant('v_custom', (d) => d.replace(/ SET search_path TO 'pg_catalog', 'pg_temp'/, " SET search_path TO 'pg_catalog', 'pg_temp' SET plan_cache_mode = force_custom_plan"))
await raw.query(`CREATE FUNCTION public.v_empty(a text, b text, c text) RETURNS TABLE (x text, y int) LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$ BEGIN x := a; y := 1; RETURN NEXT; END $$`)
await raw.query(`CREATE FUNCTION public.v_empty2(a text, b text, c text) RETURNS TABLE (x text, y int) LANGUAGE plpgsql AS $$ BEGIN x := a; y := 1; RETURN NEXT; END $$`)
const bound = lowerBoundStatement(await cryptoSchema(raw))
const q = (name, text, values) => () => raw.query({ name, text, values })
const reads = {
  bound: () => raw.query({ ...bound, values: [['github_token'], 'bench'] }),
  fn: q('a', 'SELECT * FROM public.get_secret_row($1, $2, $3)', ['github_token', 'bench', 'current']),
  noexc: q('b', 'SELECT * FROM public.v_noexc($1, $2, $3)', ['github_token', 'bench', 'current']),
  nopath: q('c', 'SELECT * FROM public.v_nopath($1, $2, $3)', ['github_token', 'bench', 'current']),
  nodef: q('d', 'SELECT * FROM public.v_nodef($1, $2, $3)', ['github_token', 'bench', 'current']),
  generic: q('i', 'SELECT * FROM public.v_generic($1, $2, $3)', ['github_token', 'bench', 'current']),
  custom: q('j', 'SELECT * FROM public.v_custom($1, $2, $3)', ['github_token', 'bench', 'current']),
  empty: q('e', 'SELECT * FROM public.v_empty($1, $2, $3)', ['github_token', 'bench', 'current']),
  empty2: q('f', 'SELECT * FROM public.v_empty2($1, $2, $3)', ['github_token', 'bench', 'current']),
  select: q('g', 'SELECT $1::text', ['x']),
  accessor: q('h', 'SELECT keywarden.accessor($1)', ['bench']),
}

const s = await sampleInterleaved(reads, { iterations: 1500 })
const b = median(s.bound)
for (const k of Object.keys(s)) console.log(k.padEnd(10), formatNs(median(s[k])), (median(s[k]) / b).toFixed(2))
await raw.end(); await db.drop()
