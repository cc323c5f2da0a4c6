/**
 * The CLI on a real terminal: `script` gives it a pseudo-terminal, and the test types only
 * once the prompt is shown. Checks the hidden prompt, the newline `get` adds for people, the
 * confirmation of `rm` and `scan --fix`, the warning of `export`, and colour (never with NO_COLOR).
 */
import { randomBytes } from 'node:crypto'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  createPostgresTestDatabase,
  type PostgresTestDatabase,
} from '../../../../packages/core/src/testing/databases.ts'
import { runCli } from '../testing/run-cli.ts'
import { runInTerminal } from '../testing/terminal.ts'

describe.skipIf(process.platform !== 'linux')('keywarden on a terminal', () => {
  let database: PostgresTestDatabase
  let env: Record<string, string> = {}

  beforeAll(async () => {
    database = await createPostgresTestDatabase()
    env = { KEYWARDEN_DATABASE_URL: database.url, KEYWARDEN_ROOT_KEY: database.rootKey }
  })
  afterAll(async () => {
    await database?.drop()
  })

  it('set reads the value at a prompt that echoes nothing; get adds a newline', async () => {
    const typed = `typed${randomBytes(16).toString('hex')}`
    const set = await runInTerminal(['set', 'typed_secret'], env, [
      { waitFor: '(input hidden): ', type: `${typed}\r` },
    ])
    expect(set.code).toBe(0)
    expect(set.screen).toContain('Value for typed_secret (input hidden): ')
    expect(set.screen).toMatch(/Created .*typed_secret/)
    expect(set.screen).not.toContain(typed)

    const piped = await runCli(['get', 'typed_secret'], { env })
    expect(piped.stdout).toBe(typed)
    const shown = await runInTerminal(['get', 'typed_secret'], env)
    expect(shown).toEqual({ code: 0, screen: `${typed}\r\n` })
  })

  it('rm asks first: no keeps the secret (exit 1), Ctrl-D is no, yes deletes', async () => {
    const question = '[y/N] '
    const declined = await runInTerminal(['rm', 'typed_secret'], env, [
      { waitFor: question, type: 'n\r' },
    ])
    expect(declined.code).toBe(1)
    expect(declined.screen).toContain('Delete typed_secret and any previous value?')
    expect(declined.screen).toContain('keywarden: nothing deleted')
    const endOfInput = await runInTerminal(['rm', 'typed_secret'], env, [
      { waitFor: question, type: '\u0004' },
    ])
    expect(endOfInput.code).toBe(1)
    expect((await runCli(['get', 'typed_secret'], { env })).code).toBe(0)

    const accepted = await runInTerminal(['rm', 'typed_secret'], env, [
      { waitFor: question, type: 'y\r' },
    ])
    expect(accepted.code).toBe(0)
    expect(accepted.screen).toMatch(/Deleted .*typed_secret/)
    expect((await runCli(['get', 'typed_secret'], { env })).code).toBe(3)

    // Nothing to ask about: exit 3 at once.
    const missing = await runInTerminal(['rm', 'typed_secret'], env)
    expect(missing.code).toBe(3)
    expect(missing.screen).not.toContain(question)
  })

  it('scan --fix shows the plan and asks: no changes nothing (exit 1), yes moves', async () => {
    const home = await mkdtemp(join(tmpdir(), 'kw-terminal-scan-'))
    try {
      const token = ['sb', '_secret_'].join('') + randomBytes(24).toString('hex')
      const zshrc = `export EDITOR=vim\nexport SUPABASE_SECRET_KEY=${token}\n`
      await writeFile(join(home, '.zshrc'), zshrc)
      const scanEnv = { ...env, HOME: home }
      const args = ['scan', '--fix', '--dir', home]
      const declined = await runInTerminal(args, scanEnv, [{ waitFor: '[y/N] ', type: 'n\r' }])
      expect(declined.code).toBe(1)
      expect(declined.screen).toContain('move supabase_secret_key (line 2) into the vault')
      expect(declined.screen).toContain('nothing was changed')
      expect(await readFile(join(home, '.zshrc'), 'utf8')).toBe(zshrc)
      const accepted = await runInTerminal(args, scanEnv, [{ waitFor: '[y/N] ', type: 'y\r' }])
      expect(accepted.code).toBe(0)
      expect(await readFile(join(home, '.zshrc'), 'utf8')).toBe('export EDITOR=vim\n')
      for (const screen of [declined.screen, accepted.screen]) expect(screen).not.toContain(token)
    } finally {
      await rm(home, { recursive: true, force: true })
    }
  })

  it('export warns on a terminal before printing values', async () => {
    await runCli(['set', 'shown_token'], { env, input: 'visible-value' })
    const exported = await runInTerminal(['export'], env)
    expect(exported.code).toBe(0)
    const warning = exported.screen.indexOf('warning: printing secret values to the terminal')
    expect(warning).toBeGreaterThanOrEqual(0)
    expect(exported.screen.indexOf('SHOWN_TOKEN=visible-value')).toBeGreaterThan(warning)
  })

  it('colours tables on a terminal, never with NO_COLOR', async () => {
    const coloured = await runInTerminal(['list'], env)
    expect(coloured.screen).toContain('\u001b[1mNAME')
    const plain = await runInTerminal(['list'], { ...env, NO_COLOR: '1' })
    expect(plain.code).toBe(0)
    expect(plain.screen).toMatch(/^NAME\s+TYPE/)
    expect(plain.screen).not.toContain('\u001b[')
  })
})
