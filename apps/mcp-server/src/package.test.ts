/**
 * The package's entry points as built: the root stays runtime-neutral, because the edge
 * plugin loads it under Deno; process spawning sits behind `@keywarden/mcp-server/node`.
 */
import { readFile } from 'node:fs/promises'
import { describe, expect, it } from 'vitest'
import { staticImportGraph } from '../../../packages/core/src/testing/imports.ts'

const packageJson = JSON.parse(
  await readFile(new URL('../package.json', import.meta.url), 'utf8'),
) as { exports: Record<string, { default: string }> }

const entry = (subpath: string) =>
  new URL(`../${packageJson.exports[subpath]?.default}`, import.meta.url)

// Node-only modules the root must not reach without a dynamic import.
const NODE_ONLY = ['@keywarden/core/node', '@modelcontextprotocol/sdk/server/stdio.js', 'pg']

describe('the built package', () => {
  it('root reaches no node: built-in and no Node-only module through static imports', async () => {
    const { files, bare } = await staticImportGraph(entry('.'))
    expect(files.size).toBeGreaterThan(4)
    expect([...bare]).toContain('@modelcontextprotocol/sdk/server/mcp.js')
    const offending = [...bare].filter(
      (specifier) => specifier.startsWith('node:') || NODE_ONLY.includes(specifier),
    )
    expect(offending).toEqual([])
  })

  it('is checked for real: the ./node subpath does reach node:child_process', async () => {
    const { bare } = await staticImportGraph(entry('./node'))
    expect([...bare]).toContain('node:child_process')
  })
})
