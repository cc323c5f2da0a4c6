import { readFile } from 'node:fs/promises'
import { describe, expect, it } from 'vitest'

// Packages that need Node (sockets, the filesystem, WebAssembly files on disk). The root may
// reach them only through dynamic imports, taken when configuration picks that store.
const NODE_ONLY_PACKAGES = ['pg', '@electric-sql/pglite']

const STATIC_IMPORT =
  /(?:^|\n)\s*(?:import|export)\s[^'"]*?from\s*['"]([^'"]+)['"]|(?:^|\n)\s*import\s*['"]([^'"]+)['"]/g

/** Every module the built file reaches through static imports, and the bare specifiers. */
async function staticGraph(entry: URL) {
  const files = new Set<string>()
  const bare = new Set<string>()
  const queue = [entry]
  for (let file = queue.pop(); file; file = queue.pop()) {
    if (files.has(file.href)) continue
    files.add(file.href)
    const source = await readFile(file, 'utf8')
    for (const match of source.matchAll(STATIC_IMPORT)) {
      const specifier = match[1] ?? match[2]
      if (!specifier) continue
      if (specifier.startsWith('.')) queue.push(new URL(specifier, file))
      else bare.add(specifier)
    }
  }
  return { files, bare }
}

describe('the built package root', () => {
  const root = new URL('../dist/index.js', import.meta.url)

  it('reaches no node: built-in and no Node-only package through static imports', async () => {
    const { files, bare } = await staticGraph(root)
    expect(files.size).toBeGreaterThan(5)
    const offending = [...bare].filter(
      (specifier) =>
        specifier.startsWith('node:') ||
        NODE_ONLY_PACKAGES.some((name) => specifier === name || specifier.startsWith(`${name}/`)),
    )
    expect(offending).toEqual([])
  })

  it('is checked for real: the Node-only subpath does reach them', async () => {
    const { bare } = await staticGraph(new URL('../dist/node/index.js', import.meta.url))
    expect([...bare]).toEqual(expect.arrayContaining(['node:fs/promises', 'pg']))
  })
})
