/** Keywarden's secretlint rules, run by secretlint's own engine. */
import { lintSource } from '@secretlint/core'
import type { SecretLintRuleCreator } from '@secretlint/types'
import { describe, expect, it } from 'vitest'
import { dockerConfigRule, netrcRule } from './index.ts'

async function ranges(rule: SecretLintRuleCreator, filePath: string, content: string) {
  const result = await lintSource({
    source: { filePath, content, contentType: 'text' },
    options: { config: { rules: [{ id: rule.meta.id, rule }] } },
  })
  return result.messages.map((m) => content.slice(m.range[0], m.range[1]))
}

describe('netrcRule', () => {
  it('the value after each password token, in .netrc and _netrc only', async () => {
    const netrc = 'machine a login me password first\nmachine b\n  login you\n  password second\n'
    expect(await ranges(netrcRule, '/home/me/.netrc', netrc)).toEqual(['first', 'second'])
    expect(await ranges(netrcRule, 'C:\\Users\\me\\_netrc', netrc)).toEqual(['first', 'second'])
    expect(await ranges(netrcRule, '/home/me/notes.txt', netrc)).toEqual([])
  })
})

describe('dockerConfigRule', () => {
  it('auths.*.auth and identity tokens in a Docker config.json, not other keys or files', async () => {
    const config = JSON.stringify({
      auths: { 'ghcr.io': { auth: 'dXNlcjpwYXNz' }, 'x.io': { identitytoken: 'tok' } },
      credsStore: 'desktop',
      auth: 'not-under-auths',
    })
    expect(await ranges(dockerConfigRule, '/home/me/.docker/config.json', config)).toEqual([
      'dXNlcjpwYXNz',
      'tok',
    ])
    expect(await ranges(dockerConfigRule, '/srv/app/config.json', config)).toEqual([])
  })
})
