/**
 * Test-only: the static import graph of a built module, for the checks that a package root
 * stays runtime-neutral (no `node:` built-in, no Node-only package, reachable without a
 * dynamic import). Nothing here is part of the package build.
 */
import { readFile } from 'node:fs/promises'

const STATIC_IMPORT =
  /(?:^|\n)\s*(?:import|export)\s[^'"]*?from\s*['"]([^'"]+)['"]|(?:^|\n)\s*import\s*['"]([^'"]+)['"]/g

/** Every module the built file reaches through static imports, and the bare specifiers. */
export async function staticGraph(entry: URL): Promise<{ files: Set<string>; bare: Set<string> }> {
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
