#!/usr/bin/env node
/**
 * `keywarden-mcp`: the MCP server for Claude Desktop. Only `--version` and `--help` exist so far; every other
 * invocation says so and exits 1 rather than pretending to work.
 */
import { readFile } from 'node:fs/promises'

const { name, version } = JSON.parse(
  await readFile(new URL('../package.json', import.meta.url), 'utf8'),
) as { name: string; version: string }

const argument = process.argv[2]
if (argument === '--version' || argument === '-v') {
  process.stdout.write(`${version}\n`)
} else if (argument === '--help' || argument === '-h') {
  process.stdout.write(
    `keywarden-mcp (${name} ${version}): the MCP server for Claude Desktop.\nNot implemented yet: only --version and --help.\n`,
  )
} else {
  process.stderr.write('keywarden-mcp: not implemented yet (only --version and --help)\n')
  process.exitCode = 1
}
