import { readdir, readFile } from 'node:fs/promises'
import { type Migration, parseMigration } from '../migrate/index.ts'

/**
 * The migrations shipped inside this package: a copy of `supabase/migrations` made at build
 * time. Both `src/node/` and `dist/node/` sit two levels below the package root.
 */
export const bundledMigrationsDirectory: URL = new URL('../../migrations/', import.meta.url)

/**
 * Reads every `YYYYMMDDHHMMSS_name.sql` file of a directory, in version order.
 * @param directory defaults to the migrations bundled with `@keywarden/core`.
 */
export async function loadMigrations(
  directory: string | URL = bundledMigrationsDirectory,
): Promise<Migration[]> {
  const base = typeof directory === 'string' ? directory : directory.pathname
  let files: string[]
  try {
    files = await readdir(base)
  } catch (error) {
    throw new Error(
      `cannot read the migrations directory ${base} (a source checkout needs \`npm run build\` first)`,
      { cause: error },
    )
  }
  const sqlFiles = files.filter((file) => file.endsWith('.sql')).sort()
  return Promise.all(
    sqlFiles.map(async (file) => parseMigration(file, await readFile(`${base}/${file}`, 'utf8'))),
  )
}
