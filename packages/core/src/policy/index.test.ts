/**
 * The per-door policy: the pure decision, then the door client over real stores (a fresh
 * PostgreSQL database, and the supabase store through the PostgREST double), where every
 * refusal must leave an audit row and change nothing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createVaultClient, type VaultClient } from '../client/index.ts'
import { rightsForScopes } from '../oauth/index.ts'
import type { DoorPolicyRule, SecretMetadata, SecretStore } from '../store/index.ts'
import { rejection } from '../testing/expect.ts'
import { createTestStore, type TestStore } from '../testing/stores.ts'
import {
  CLI_DOOR,
  capRights,
  decideAccess,
  defaultRights,
  isKeywardenCredential,
  matchesPattern,
  restrictToDoor,
  rightsFor,
  ruleFor,
} from './index.ts'

const ALL = {
  canReadMetadata: true,
  canUseHosts: true,
  canUseCommands: true,
  canReveal: true,
  canWrite: true,
  canCreate: true,
}
const denied = (promise: Promise<unknown>) => rejection(promise, 'ACCESS_DENIED')

const rule = (doorPattern: string, secretPattern: string, rights: Partial<typeof ALL> = {}) =>
  ({ doorPattern, secretPattern, ...ALL, ...rights }) satisfies DoorPolicyRule

function metadata(name: string, extra: Partial<SecretMetadata> = {}): SecretMetadata {
  const now = new Date()
  return {
    name,
    description: null,
    type: 'other',
    version: 1,
    createdAt: now,
    updatedAt: now,
    lastRotatedAt: null,
    expiresAt: null,
    rotationIntervalDays: null,
    rotationDueAt: null,
    previousValidUntil: null,
    agentVisible: false,
    allowedHosts: [],
    allowedCommands: [],
    protected: false,
    ...extra,
  }
}

describe('the decision', () => {
  it('matches * patterns and nothing else as a wildcard', () => {
    expect(matchesPattern('mcp:*', 'mcp:claude-desktop')).toBe(true)
    expect(matchesPattern('mcp:*', 'edge')).toBe(false)
    expect(matchesPattern('github_*', 'github_token')).toBe(true)
    // A dot in a pattern is a dot, not "any character".
    expect(matchesPattern('a.b', 'axb')).toBe(false)
    expect(matchesPattern('*', 'anything')).toBe(true)
  })

  it('picks the most specific door, then the most specific secret', () => {
    const rules = [
      rule('*', '*', { canWrite: false }),
      rule('mcp:*', '*', { canReveal: false }),
      rule('mcp:*', 'github_token', { canUseHosts: false }),
      rule('mcp:claude', '*', { canCreate: false }),
    ]
    expect(ruleFor(rules, 'mcp:claude', 'github_token')).toBe(rules[3])
    expect(ruleFor(rules, 'mcp:other', 'github_token')).toBe(rules[2])
    expect(ruleFor(rules, 'mcp:other', 'openai')).toBe(rules[1])
    expect(ruleFor(rules, 'edge', 'openai')).toBe(rules[0])
  })

  it("caps a door by its ceiling (an OAuth connection's scopes), naming the scope", () => {
    const ceiling = rightsForScopes(['secrets:metadata'])
    const rules = [rule('oauth:*', '*', { canWrite: true, canReveal: true })]
    const refused = decideAccess({
      door: 'oauth:claude',
      action: 'create',
      name: 'new_one',
      secret: null,
      rules,
      ceiling,
    })
    expect(refused).toMatchObject({ allowed: false, floor: false })
    expect(refused.allowed === false && refused.fix).toContain('secrets:write')
    expect(
      decideAccess({
        door: 'oauth:claude',
        action: 'read_metadata',
        name: 'x',
        secret: null,
        rules,
        ceiling,
      }),
    ).toEqual({ allowed: true })
    // The ceiling never grants what the rules take away.
    const all = rightsForScopes(['secrets:metadata', 'secrets:use', 'secrets:write'])
    expect(
      decideAccess({
        door: 'oauth:claude',
        action: 'reveal',
        name: 'x',
        secret: metadata('x'),
        rules: [rule('oauth:claude', '*', { canReveal: false })],
        ceiling: all,
      }).allowed,
    ).toBe(false)
    expect(capRights(defaultRights('oauth:claude'), all)).toEqual(defaultRights('oauth:claude'))
  })

  it('gives agent doors no writes to existing secrets by default, and the CLI everything', () => {
    const existing = metadata('github_token')
    const agent = decideAccess({
      door: 'mcp:claude',
      action: 'write',
      name: 'github_token',
      secret: existing,
      rules: [],
    })
    expect(agent).toMatchObject({ allowed: false, floor: false })
    expect(agent.allowed === false && agent.fix).toContain(
      'keywarden policy set mcp:claude github_token --allow write',
    )
    expect(
      decideAccess({ door: 'mcp:claude', action: 'create', name: 'new', secret: null, rules: [] }),
    ).toEqual({ allowed: true })
    expect(
      decideAccess({
        door: CLI_DOOR,
        action: 'write',
        name: 'github_token',
        secret: existing,
        rules: [],
      }),
    ).toEqual({ allowed: true })
  })

  it('never lets a rule open Keywarden credentials or protected secrets to an agent door', () => {
    const rules = [rule('*', '*')]
    for (const name of ['plugin_bearer_token', 'cron_bearer_token', 'keywarden_root_key']) {
      expect(isKeywardenCredential(name)).toBe(true)
      for (const action of ['write', 'create', 'reveal'] as const) {
        expect(decideAccess({ door: 'edge', action, name, secret: null, rules })).toMatchObject({
          allowed: false,
          floor: true,
        })
      }
    }
    const marked = metadata('deploy_key', { protected: true })
    expect(
      decideAccess({ door: 'edge', action: 'write', name: 'deploy_key', secret: marked, rules }),
    ).toMatchObject({ allowed: false, floor: true })
    // Use toward allowed hosts is not a floor: the user chose the hosts.
    expect(
      decideAccess({
        door: 'edge',
        action: 'use_hosts',
        name: 'deploy_key',
        secret: marked,
        rules,
      }),
    ).toEqual({ allowed: true })
    expect(rightsFor([], 'mcp:x', 'a').canWrite).toBe(false)
    // A door's own credentials are floors at that door only.
    const own = { rules, ownCredentials: ['github_token'], name: 'github_token', secret: null }
    expect(decideAccess({ ...own, door: 'edge', action: 'create' })).toMatchObject({
      allowed: false,
      floor: true,
    })
    expect(decideAccess({ ...own, door: 'edge', action: 'use_hosts' })).toEqual({ allowed: true })
  })
})

describe.each(['postgres', 'supabase'] as const)('the door client on %s', (kind) => {
  let handle: TestStore
  let cli: VaultClient
  let shared: SecretStore

  beforeAll(async () => {
    handle = await createTestStore(kind)
    // Closing a client flushes its audit buffer; the store stays open until cleanup().
    shared = { ...handle.store, close: async () => {} }
    cli = createVaultClient({ store: shared, accessedBy: 'cli', envFallback: false })
  }, 60_000)

  afterAll(async () => {
    await cli?.close()
    await handle?.cleanup()
  })

  const agentDoor = (door = 'mcp:attacker') => {
    const base = createVaultClient({ store: shared, accessedBy: door, envFallback: false })
    return { base, door: restrictToDoor(base, { door, policyTtlMs: 0 }) }
  }

  async function deniedRows(name: string) {
    return (await cli.queryAudit({ secretName: name })).filter(
      (row) => row.accessType === 'denied' && !row.success,
    )
  }

  it('refuses to create or overwrite Keywarden credentials, audited, leaving them unchanged', async () => {
    await cli.storeSecret('plugin_bearer_token', 'the-real-plugin-token')
    const { base, door } = agentDoor()
    for (const attempt of [
      () => door.storeSecret('cron_bearer_token', 'attacker-chosen-token'),
      () => door.storeSecret('plugin_bearer_token', 'attacker-chosen-token'),
      () => door.rotateSecret('plugin_bearer_token', 'attacker-chosen-token'),
      () => door.deleteSecret('plugin_bearer_token'),
    ]) {
      const error = await denied(attempt())
      expect(error.code).toBe('ACCESS_DENIED')
      expect(error.message).toContain("Keywarden's own credentials")
      expect(error.message).not.toContain('attacker-chosen-token')
    }
    await base.close()
    expect((await cli.getSecret('plugin_bearer_token')).value).toBe('the-real-plugin-token')
    expect((await cli.listSecrets()).map((s) => s.name)).not.toContain('cron_bearer_token')
    const rows = await deniedRows('plugin_bearer_token')
    expect(rows.length).toBeGreaterThanOrEqual(3)
    expect(rows[0]?.errorMessage).toContain('door policy')
    expect(JSON.stringify(rows)).not.toContain('attacker-chosen-token')
    expect(await deniedRows('cron_bearer_token')).toHaveLength(1)
  })

  it('lets an agent create a new secret but not change an existing one until allowed', async () => {
    const { base, door } = agentDoor('mcp:writer')
    await door.storeSecret('agent_made', 'v1')
    const error = await denied(door.storeSecret('agent_made', 'v2'))
    expect(error.code).toBe('ACCESS_DENIED')
    expect(error.message).toContain('keywarden policy set mcp:writer agent_made --allow write')
    expect((await denied(door.deleteSecret('agent_made'))).code).toBe('ACCESS_DENIED')

    await cli.setDoorPolicy({ ...ALL, doorPattern: 'mcp:writer', secretPattern: 'agent_*' })
    await door.storeSecret('agent_made', 'v2')
    expect((await cli.getSecret('agent_made')).value).toBe('v2')
    expect(await door.deleteSecret('agent_made')).toBe(true)
    expect(await cli.deleteDoorPolicy('mcp:writer', 'agent_*')).toBe(true)
    await base.close()
  })

  it('keeps a protected secret out of reach even when a rule grants writes', async () => {
    await cli.storeSecret('deploy_key', 'deploy-value', { protected: true, agentVisible: true })
    await cli.setDoorPolicy({ ...ALL, doorPattern: 'mcp:*', secretPattern: '*' })
    const { base, door } = agentDoor()
    expect((await denied(door.storeSecret('deploy_key', 'x'))).message).toContain('protected')
    expect((await denied(door.authorize('reveal', 'deploy_key'))).code).toBe('ACCESS_DENIED')
    // Listed as this door may use it: not agent-visible, whatever the flag says.
    const listed = (await door.listSecrets()).find((s) => s.name === 'deploy_key')
    expect(listed).toMatchObject({ protected: true, agentVisible: false })
    await cli.deleteDoorPolicy('mcp:*', '*')
    await base.close()
  })

  it('treats a metadata edit as a write, and never lets an agent set access fields with it', async () => {
    await cli.storeSecret('edit_target', 'edit-value', { description: 'before' })
    const { base, door } = agentDoor('mcp:editor')
    expect(
      (await denied(door.updateSecretMetadata('edit_target', { description: 'x' }))).code,
    ).toBe('ACCESS_DENIED')
    await cli.setDoorPolicy({ ...ALL, doorPattern: 'mcp:editor', secretPattern: 'edit_*' })
    expect(await door.updateSecretMetadata('edit_target', { description: 'after' })).toBe(1)
    for (const field of [
      { agentVisible: true },
      { allowedHosts: ['evil.example.com'] },
      { allowedCommands: ['curl'] },
      { protected: false },
    ]) {
      const error = await denied(door.updateSecretMetadata('edit_target', field))
      expect(error.message).toContain(`cannot set ${Object.keys(field)[0]}`)
      expect(error.message).toContain('keywarden edit edit_target')
    }
    expect((await cli.listSecrets()).find((s) => s.name === 'edit_target')).toMatchObject({
      description: 'after',
      agentVisible: false,
      allowedHosts: [],
      allowedCommands: [],
    })
    // Protected: no rule lifts the floor for an edit either.
    await cli.updateSecretMetadata('edit_target', { protected: true })
    expect(
      (await denied(door.updateSecretMetadata('edit_target', { description: 'x' }))).message,
    ).toContain('protected')
    expect(await cli.deleteDoorPolicy('mcp:editor', 'edit_*')).toBe(true)
    await base.close()
  })

  it('filters listings and hosts by the policy, and refuses access fields from agents', async () => {
    await cli.storeSecret('hidden_one', 'h', { allowedHosts: ['api.example.com'] })
    await cli.storeSecret('hosted_one', 'h', { allowedHosts: ['api.example.com'] })
    await cli.setDoorPolicy({
      ...ALL,
      doorPattern: 'mcp:reader',
      secretPattern: 'hidden_*',
      canReadMetadata: false,
    })
    await cli.setDoorPolicy({
      ...ALL,
      doorPattern: 'mcp:reader',
      secretPattern: 'hosted_*',
      canUseHosts: false,
    })
    const { base, door } = agentDoor('mcp:reader')
    const names = (await door.listSecrets()).map((s) => s.name)
    expect(names).not.toContain('hidden_one')
    expect((await door.listSecrets()).find((s) => s.name === 'hosted_one')?.allowedHosts).toEqual(
      [],
    )
    expect((await denied(door.queryAudit({ secretName: 'hidden_one' }))).code).toBe('ACCESS_DENIED')
    const escalate = await denied(door.storeSecret('brand_new', 'v', { agentVisible: true }))
    expect(escalate.message).toContain('agentVisible')
    expect((await cli.listSecrets()).map((s) => s.name)).not.toContain('brand_new')
    // Only the CLI edits the policy.
    expect(
      (await denied(door.setDoorPolicy({ ...ALL, doorPattern: '*', secretPattern: '*' }))).code,
    ).toBe('ACCESS_DENIED')
    const stored = await cli.listDoorPolicies()
    expect(stored.map((r) => `${r.doorPattern} ${r.secretPattern}`)).toEqual([
      'mcp:reader hidden_*',
      'mcp:reader hosted_*',
    ])
    expect(stored[0]?.updatedBy).toBe('cli')
    await base.close()
  })

  it('stores and lists allowed_commands and protected', async () => {
    await cli.storeSecret('cmd_secret', 'v', { allowedCommands: ['gh', '/usr/bin/terraform'] })
    const listed = (await cli.listSecrets()).find((s) => s.name === 'cmd_secret')
    expect(listed).toMatchObject({
      allowedCommands: ['gh', '/usr/bin/terraform'],
      protected: false,
    })
    const bad = await rejection(
      cli.storeSecret('cmd_secret', 'v', { allowedCommands: ['sh -c'] }),
      'INVALID_ARGUMENT',
    )
    expect(bad.code).toBe('INVALID_ARGUMENT')
    // Left out, they keep what the secret had.
    await cli.storeSecret('cmd_secret', 'v2')
    expect((await cli.listSecrets()).find((s) => s.name === 'cmd_secret')?.allowedCommands).toEqual(
      ['gh', '/usr/bin/terraform'],
    )
  })
})
