// Ships supabase/migrations inside the package so an installed CLI can create its embedded
// vault without this repository. The SQL is copied, never edited here: supabase/migrations
// stays the single source of the schema.
import { cpSync, mkdirSync, readdirSync, rmSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

const source = fileURLToPath(new URL('../../../supabase/migrations/', import.meta.url))
const target = fileURLToPath(new URL('../migrations/', import.meta.url))

rmSync(target, { recursive: true, force: true })
mkdirSync(target, { recursive: true })
for (const file of readdirSync(source).filter((name) => name.endsWith('.sql'))) {
  cpSync(source + file, target + file)
}
