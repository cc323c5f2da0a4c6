import { describe, expect, it } from 'vitest'
import { staticGraph } from './testing/imports.ts'

// Packages that need Node (sockets, the filesystem, WebAssembly files on disk). The root may
// reach them only through dynamic imports, taken when configuration picks that store.
const NODE_ONLY_PACKAGES = ['pg', '@electric-sql/pglite']

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
