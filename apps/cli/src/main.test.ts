import { readFile } from 'node:fs/promises'
import { describe, expect, it } from 'vitest'
import { COMMANDS } from './registry.ts'
import { runCli } from './testing/run-cli.ts'

const { version } = JSON.parse(
  await readFile(new URL('../package.json', import.meta.url), 'utf8'),
) as { version: string }

describe('keywarden', () => {
  it('prints its version', async () => {
    for (const flag of ['--version', '-v']) {
      const result = await runCli([flag])
      expect(result).toMatchObject({ code: 0, stdout: `${version}\n`, stderr: '' })
    }
  })

  it('lists every command with its summary in --help, and exit codes', async () => {
    const result = await runCli(['--help'])
    expect(result.code).toBe(0)
    for (const [name, entry] of Object.entries(COMMANDS)) {
      expect(result.stdout).toContain(`${name}`)
      expect(result.stdout).toContain(entry.summary)
    }
    expect(result.stdout).toContain(
      '0 success, 1 failure, 2 usage error, 3 secret not found, 4 vault unreachable',
    )
    expect((await runCli([])).stdout).toBe(result.stdout)
  })

  it('has --help with an example for every command, without opening the vault', async () => {
    for (const name of Object.keys(COMMANDS)) {
      const viaFlag = await runCli([name, '--help'], { env: { KEYWARDEN_HOME: '/nonexistent/kw' } })
      expect(viaFlag.code, name).toBe(0)
      expect(viaFlag.stdout, name).toMatch(/^Usage: keywarden /)
      expect(viaFlag.stdout, name).toContain('Example')
      expect(viaFlag.stderr, name).toBe('')
      expect((await runCli(['help', name])).stdout, name).toBe(viaFlag.stdout)
    }
  })

  it('refuses unknown commands and options with one line and exit 2', async () => {
    const cases = [['frobnicate'], ['--frobnicate'], ['get', '--frobnicate', 'x'], ['help', 'frob']]
    for (const args of cases) {
      const result = await runCli(args)
      expect(result.code, args.join(' ')).toBe(2)
      expect(result.stdout, args.join(' ')).toBe('')
      expect(result.stderr.trimEnd().split('\n'), args.join(' ')).toHaveLength(1)
      expect(result.stderr, args.join(' ')).toMatch(/^keywarden: .*--help\n$/)
    }
  })

  it('shows a stack trace only with KEYWARDEN_DEBUG=1', async () => {
    const env = { KEYWARDEN_DATABASE_URL: 'mysql://nowhere/db' }
    const quiet = await runCli(['get', 'github_token'], { env })
    expect(quiet.code).toBe(1)
    expect(quiet.stderr).toBe(
      'keywarden: KEYWARDEN_DATABASE_URL must be a postgres:// or postgresql:// URL\n',
    )
    const debug = await runCli(['get', 'github_token'], { env: { ...env, KEYWARDEN_DEBUG: '1' } })
    expect(debug.stderr.split('\n').length).toBeGreaterThan(3)
    expect(debug.stderr).toContain('    at ')
  })
})
