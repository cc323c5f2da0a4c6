// Part of `npm test`: every changeset must parse as changesets reads it (frontmatter naming
// known packages), so `changeset version` cannot fail at release time.
import { readdirSync, readFileSync } from 'node:fs'
import parse from '@changesets/parse'

const packages = new Set(
  ['packages/core', 'apps/cli', 'apps/mcp-server', 'apps/edge-plugin'].map(
    (dir) =>
      JSON.parse(readFileSync(new URL(`../${dir}/package.json`, import.meta.url), 'utf8')).name,
  ),
)
const folder = new URL('../.changeset/', import.meta.url)
let problems = 0
for (const file of readdirSync(folder).filter(
  (name) => name.endsWith('.md') && name !== 'README.md',
)) {
  try {
    const { releases } = parse(readFileSync(new URL(file, folder), 'utf8'))
    if (releases.length === 0) throw new Error('names no package')
    for (const { name } of releases)
      if (!packages.has(name)) throw new Error(`names unknown package ${name}`)
  } catch (error) {
    problems++
    process.stderr.write(`.changeset/${file}: ${String(error.message).split('\n')[0]}\n`)
  }
}
if (problems > 0) process.exit(1)
