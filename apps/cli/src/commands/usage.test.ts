/**
 * Bad input to the commands: each is refused with exit 2 and one line on stderr, before the
 * vault is opened — so a fresh KEYWARDEN_HOME stays empty (no vault created, no agent
 * started) — and a value-like token typed in the wrong place is never echoed back.
 */
import { randomBytes } from 'node:crypto'
import { mkdtemp, readdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { canaryForms, expectOneErrorLine } from '../testing/command-suite.ts'
import { runCli } from '../testing/run-cli.ts'

describe('bad input to the commands', () => {
  let home = ''
  beforeAll(async () => {
    home = await mkdtemp(join(tmpdir(), 'kw-usage-home-'))
  })
  afterAll(async () => {
    await rm(home, { recursive: true, force: true })
  })

  const refuse = async (
    args: readonly string[],
    pattern: RegExp,
    input: string | Uint8Array = 'some-value',
  ) => {
    const result = await runCli(args, { env: { KEYWARDEN_HOME: home }, input })
    const where = `keywarden ${args.join(' ')}`
    expect(result.code, where).toBe(2)
    expect(result.stdout, where).toBe('')
    expectOneErrorLine(result, pattern)
    return result
  }

  it('set: a value on the command line, a bad type, a bad expiry, empty stdin', async () => {
    await refuse(['set', 'name', 'value-on-argv'], /shell history/)
    await refuse(
      ['set', 'name', '--type', 'password'],
      /--type must be one of github_token, api_key/,
    )
    await refuse(['set', 'name', '--expires-in', '3w'], /--expires-in must be a duration/)
    await refuse(['set', 'name', '--expires-at', 'next tuesday'], /--expires-at must be a date/)
    await refuse(['set', 'name', '--expires-in', '1d', '--expires-at', '2030-01-01'], /not both/)
    await refuse(['set', 'name'], /no value on stdin/, '')
    await refuse(['set', 'name'], /no value on stdin/, '\n')
    await refuse(['set'], /needs a secret name/)
  })

  it('invalid names, for every command that takes one', async () => {
    for (const args of [
      ['set', 'Has Spaces'],
      ['get', '../etc/passwd'],
      ['rotate', 'UPPER'],
      ['rm', '.env', '--yes'],
      ['audit', '--secret', 'a/b'],
      ['export', '--only', 'ok,Not_OK'],
    ]) {
      await refuse(args, /invalid secret name \(\d+ characters\)/)
    }
  })

  it('rotate, rm, export, audit, expiring, db: their own flags and arguments', async () => {
    await refuse(['rotate', 'name', '--grace', 'forever'], /--grace must be a duration/)
    await refuse(['rotate', 'name', 'value-on-argv'], /shell history/)
    await refuse(['rotate', 'name'], /no value on stdin/, '')
    await refuse(['rm', 'name'], /pass --yes/)
    await refuse(['rm'], /one secret name/)
    await refuse(['export', '--format', 'xml'], /--format must be one of dotenv, json, shell/)
    await refuse(['export', '--json', '--format', 'shell'], /disagree/)
    await refuse(['export', '--only', ','], /--only needs at least one/)
    await refuse(['audit', '--limit', '0'], /--limit must be a whole number/)
    await refuse(['audit', '--limit', 'lots'], /--limit must be a whole number/)
    await refuse(['audit', '--since', 'yesterday'], /--since must be a duration/)
    await refuse(['audit', '--format', 'xml'], /--format must be one of table, json, csv/)
    await refuse(['expiring', '--days', '1.5'], /--days must be a whole number/)
    await refuse(['expiring', '--days', '9999'], /--days must be a whole number/)
    await refuse(['list', 'extra'], /takes no arguments/)
    await refuse(['status', '--verbose'], /unknown option '--verbose'/)
    await refuse(['db'], /db needs a task/)
    await refuse(['db', 'drop'], /unknown db task drop/)
    // The embedded vault (here, the default) migrates itself.
    await refuse(['db', 'migrate'], /needs a PostgreSQL database: pass --database-url/)
  })

  it('never echoes a value typed where a name, command or option belongs', async () => {
    // Upper case and long, as a pasted token is: not a valid name, not a command word.
    const canary = `KWCANARY${randomBytes(20).toString('hex')}`
    const results = [
      await refuse(['set', canary], /invalid secret name/),
      await refuse(['set', 'name', canary], /shell history/),
      await refuse(['get', canary], /invalid secret name/),
      await refuse(['rotate', canary], /invalid secret name/),
      await refuse(['rm', canary, '--yes'], /invalid secret name/),
      await refuse(['audit', '--secret', canary], /invalid secret name/),
      await refuse(['export', '--only', canary], /invalid secret name/),
      await refuse([canary], /unknown command \(48 characters, not shown\)/),
      await refuse(['list', `--${canary}`], /unknown option/),
      await refuse(['list', `--token=${canary}`], /unknown option '--token'/),
    ]
    for (const result of results) {
      for (const form of canaryForms(canary)) {
        expect(result.stderr).not.toContain(form)
        expect(result.stderr).not.toContain(form.toLowerCase())
      }
    }
  })

  it('a usage error is one line saying what to type, also for what parseArgs refuses', async () => {
    await refuse(
      ['expiring', '--days', '-1'],
      /^keywarden: --days needs a value; for one that starts with "-", write --days=<value>; see keywarden expiring --help\n$/,
    )
    await refuse(['expiring', '--days=-1'], /--days must be a whole number from 0 to 3650/)
    await refuse(['audit', '--limit', '-5'], /--limit needs a value; .* write --limit=<value>/)
    await refuse(['list', '--home'], /^keywarden: --home needs a value: --home <value>; see/)
    await refuse(['--home'], /^keywarden: --home needs a value: --home <value> <command>; see/)
    await refuse(['--home', home], /^keywarden: no command after --home <value>; see/)
    await refuse(['alerts', '--since', '100d'], /^keywarden: --since must be at most 90d/)
  })

  it('set: a value that is not UTF-8 is refused, not stored as U+FFFD', async () => {
    const result = await refuse(
      ['set', 'binary_value'],
      /not valid UTF-8 text/,
      Uint8Array.of(0xff, 0xfe),
    )
    expect(result.stderr).not.toContain('\ufffd')
    await refuse(
      ['set', 'cut_value'],
      /not valid UTF-8 text/,
      Buffer.from('caf\u00e9').subarray(0, 4),
    )
  })

  it('wrote nothing: the home is still empty', async () => {
    expect(await readdir(home)).toEqual([])
  })
})
