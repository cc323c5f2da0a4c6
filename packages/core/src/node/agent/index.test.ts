/**
 * The agent end to end: createAgentStore against a real agent process (the built
 * dist/node/agent/process.js, so run `npm run build -w @keywarden/core` first) on temporary
 * homes. Every agent started here has a bounded idle timeout and is stopped in afterAll.
 */
import { existsSync } from 'node:fs'
import { chmod, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { createServer, type Server, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createVaultClient } from '../../client/index.ts'
import { openStore, resolveStoreConfig } from '../../config/index.ts'
import type { SecretStore } from '../../store/index.ts'
import { randomRootKey } from '../../testing/databases.ts'
import { rejection } from '../../testing/expect.ts'
import { loadMigrations } from '../migrations.ts'
import { createAgentStore, stopAgent } from './index.ts'
import {
  agentProcesses,
  alive,
  createVaultTemplate,
  lockPid,
  until,
  type VaultTemplate,
} from './testing/homes.ts'

const IDLE_MS = 30_000

let template: VaultTemplate
const homes: string[] = []

async function newHome(): Promise<string> {
  const home = await template.copy()
  homes.push(home)
  return home
}

const permissions = async (path: string) => (await stat(path)).mode & 0o777

beforeAll(async () => {
  template = await createVaultTemplate()
})

afterAll(async () => {
  // No agent may outlive the suite.
  await Promise.allSettled(homes.map((home) => stopAgent(home)))
  await template?.cleanup()
})

describe('createAgentStore with a real agent process', () => {
  let home: string
  let store: SecretStore
  let other: SecretStore | undefined

  beforeAll(async () => {
    home = await newHome()
    store = await createAgentStore({ home, rootKey: template.rootKey, idleMs: IDLE_MS })
  })

  afterAll(async () => {
    await other?.close()
    await store?.close()
  })

  it('round-trips store, get, list, rotate and delete, with Dates revived', async () => {
    expect(store.kind).toBe('embedded')
    expect(store.target).toBe(home)
    const expiresAt = new Date(Date.now() + 3 * 86_400_000)
    const id = await store.storeSecret(
      'github_token',
      'ghp_agent_one',
      {
        description: 'CI token',
        type: 'github_token',
        expiresAt,
        rotationIntervalDays: 30,
        agentVisible: true,
        allowedHosts: ['api.github.com'],
        allowedCommands: ['gh'],
        protected: true,
      },
      'agent-test',
    )
    expect(typeof id).toBe('string')
    expect(await store.getSecret('github_token', 'agent-test')).toEqual({
      value: 'ghp_agent_one',
      version: 1,
    })
    const batch = await store.getSecrets(['github_token', 'not_there'], 'agent-test')
    expect(batch).toBeInstanceOf(Map)
    expect(batch.get('github_token')).toEqual({ value: 'ghp_agent_one', version: 1 })
    expect(batch.has('not_there') ? batch.get('not_there') : null).toBeNull()

    const [listed] = (await store.listSecrets('agent-test')).filter(
      (secret) => secret.name === 'github_token',
    )
    expect(listed).toMatchObject({
      description: 'CI token',
      type: 'github_token',
      version: 1,
      agentVisible: true,
      allowedHosts: ['api.github.com'],
      allowedCommands: ['gh'],
      protected: true,
    })
    expect(listed?.createdAt).toBeInstanceOf(Date)
    expect(listed?.expiresAt?.getTime()).toBe(expiresAt.getTime())
    expect(listed?.rotationDueAt).toBeInstanceOf(Date)

    const rotation = await store.rotateSecret('github_token', 'ghp_agent_two', 3600, 'agent-test')
    expect(rotation.version).toBe(2)
    expect(rotation.previousValidUntil).toBeInstanceOf(Date)
    expect(await store.getSecret('github_token', 'agent-test', 'previous')).toEqual({
      value: 'ghp_agent_one',
      version: 1,
    })

    const expiring = await store.checkExpiringSecrets(7, 'agent-test')
    expect(expiring.find((secret) => secret.name === 'github_token')?.dueAt).toBeInstanceOf(Date)

    expect(
      await store.logAccessBatch([
        {
          secret_name: 'github_token',
          accessed_by: 'agent-test',
          access_type: 'cache_hit',
          success: true,
          created_at: new Date().toISOString(),
          event_count: 3,
          source: 'cache',
        },
      ]),
    ).toBe(1)
    const audit = await store.queryAudit({
      secretName: 'github_token',
      since: new Date(Date.now() - 60_000),
    })
    expect(audit.length).toBeGreaterThan(0)
    expect(audit[0]?.createdAt).toBeInstanceOf(Date)
    expect(audit.some((row) => row.accessType === 'cache_hit' && row.eventCount === 3)).toBe(true)

    expect(await store.deleteSecret('github_token', 'agent-test')).toBe(true)
    expect(await store.deleteSecret('github_token', 'agent-test')).toBe(false)
    expect(await store.getSecret('github_token', 'agent-test')).toBeNull()
    await store.ping()
  })

  it('serves OAuth operations (keywarden connect against the embedded vault)', async () => {
    const client = (await store.oauthCall('register_client', {
      client_name: 'Over the agent',
      redirect_uris: ['https://client.example/callback'],
    })) as { client_id: string; door: string }
    expect(client.door).toBe('oauth:over-the-agent')
    expect(await store.oauthCall('list_connections', {})).toEqual([])
  })

  it('serves metadata edits, the expiry crossing the socket as a Date', async () => {
    await store.storeSecret('edited_over_agent', 'edited-value', {}, 'agent-test')
    const expiresAt = new Date(Date.now() + 5 * 86_400_000)
    expect(
      await store.updateSecretMetadata(
        'edited_over_agent',
        { description: 'over the socket', expiresAt, allowedHosts: ['api.example.com'] },
        'agent-test',
      ),
    ).toBe(1)
    const listed = (await store.listSecrets('agent-test')).find(
      (secret) => secret.name === 'edited_over_agent',
    )
    expect(listed).toMatchObject({
      description: 'over the socket',
      expiresAt,
      allowedHosts: ['api.example.com'],
      version: 1,
    })
    expect((await store.getSecret('edited_over_agent', 'agent-test'))?.value).toBe('edited-value')
  })

  it('serves staged rotation, metrics, alerts and claims, with Dates revived', async () => {
    await store.storeSecret('lifecycle', 'lifecycle-one', { type: 'api_key' }, 'agent-test')
    expect(await store.stageRotation('lifecycle', 'lifecycle-two', 'agent-test')).toBeInstanceOf(
      Date,
    )
    expect(await store.getStagedSecret('lifecycle', 'agent-test')).toBe('lifecycle-two')
    const promoted = await store.promoteRotation('lifecycle', 60, 'agent-test')
    expect(promoted.previousValidUntil).toBeInstanceOf(Date)
    expect(await store.discardRotation('lifecycle', 'agent-test')).toBe(false)

    const later = new Date(Date.now() + 200 * 86_400_000)
    const [metric] = (await store.secretMetrics(later)).filter((m) => m.name === 'lifecycle')
    expect(metric?.lastRotatedAt).toBeInstanceOf(Date)
    expect(metric?.rotationDueAt).toBeInstanceOf(Date)
    const expiring = await store.checkExpiringSecrets(0, 'agent-test', later)
    expect(expiring.find((secret) => secret.name === 'lifecycle')?.overdue).toBe(true)
    const alerts = await store.secretAlerts({ now: later })
    const overdue = alerts.find((alert) => alert.secretName === 'lifecycle')
    expect(overdue?.kind).toBe('rotation_overdue')
    expect(overdue?.occurredAt).toBeInstanceOf(Date)

    const claim = { kind: 'alert', secretName: 'lifecycle', windowKey: overdue?.key ?? '' }
    expect(await store.claimNotifications([claim], 'agent-test')).toEqual([claim])
    expect(await store.claimNotifications([claim], 'agent-test')).toEqual([])
    expect(await store.releaseNotifications([claim])).toBe(1)
  })

  it('listens on a 0600 socket in a 0700 home, with a 0600 log', async () => {
    expect(await permissions(join(home, 'agent.sock'))).toBe(0o600)
    expect((await stat(join(home, 'agent.sock'))).isSocket()).toBe(true)
    expect(await permissions(home)).toBe(0o700)
    expect(await permissions(join(home, 'agent.log'))).toBe(0o600)
    const pid = await lockPid(home)
    expect(pid).toBeDefined()
    expect(alive(pid ?? 0)).toBe(true)
  })

  it('pushes each change to the other subscribed clients', async () => {
    other = await createAgentStore({ home, rootKey: template.rootKey })
    const heardByOther: string[] = []
    const heardByStore: string[] = []
    const stopOther = await other.subscribe?.((name) => heardByOther.push(name))
    await store.subscribe?.((name) => heardByStore.push(name))

    await store.storeSecret('shared_key', 'value-from-store', {}, 'agent-test')
    await until(
      'the other client to hear the store',
      () => heardByOther,
      (names) => names.includes('shared_key'),
    )
    expect(await other.getSecret('shared_key', 'agent-test')).toMatchObject({
      value: 'value-from-store',
    })

    await other.rotateSecret('shared_key', 'value-from-other', 0, 'agent-test')
    await until(
      'the first client to hear the rotation',
      () => heardByStore,
      (names) => names.includes('shared_key'),
    )

    // Unsubscribed: no more pushes. A ping's answer comes after any push already sent on the
    // same connection, so once it is back the absence means something.
    await stopOther?.()
    await store.storeSecret('later_key', 'later', {}, 'agent-test')
    await until(
      'the first client to hear the later change',
      () => heardByStore,
      (names) => names.includes('later_key'),
    )
    await other.ping()
    expect(heardByOther).not.toContain('later_key')
  })

  it('reports an invalid name as INVALID_NAME without echoing it', async () => {
    const pasted = 'ghp_PastedValueNotAName 123!'
    for (const attempt of [
      store.getSecret(pasted, 'agent-test'),
      store.storeSecret(pasted, 'v', {}, 'agent-test'),
      store.deleteSecret(pasted, 'agent-test'),
    ]) {
      const error = await rejection(attempt, 'INVALID_NAME')
      expect(error.message).not.toContain(pasted)
      expect(error.secretName).toBeUndefined()
      expect(JSON.stringify(error)).not.toContain('PastedValue')
    }
    expect(await readFile(join(home, 'agent.log'), 'utf8')).not.toContain('PastedValue')
  })

  it('refuses a client configured with a different root key', async () => {
    const error = await rejection(
      createAgentStore({ home, rootKey: randomRootKey() }),
      'ROOT_KEY_INVALID',
    )
    expect(error.message).toContain('different root key')
  })

  it('is what openStore gives for the embedded vault, unless agent: false', async () => {
    const config = resolveStoreConfig({
      KEYWARDEN_HOME: home,
      KEYWARDEN_ROOT_KEY: template.rootKey,
    })
    const client = createVaultClient({ store: config, env: {}, accessedBy: 'agent-test' })
    try {
      await client.storeSecret('via_client', 'client-value')
      expect(await client.getSecret('via_client')).toMatchObject({ value: 'client-value' })
      const health = await client.health()
      expect(health.change_notifications).toBe(true)
      // Asked through the agent, which holds the vault.
      expect(health.schema_version).toBe((await loadMigrations()).at(-1)?.version)
    } finally {
      await client.close()
    }
    // In-process, the vault is locked by the agent: proof that the default went through it.
    await rejection(openStore({ ...config, kind: 'embedded', agent: false }), 'VAULT_UNAVAILABLE')
    expect(resolveStoreConfig({ KEYWARDEN_HOME: home, KEYWARDEN_AGENT: '0' })).toEqual({
      kind: 'embedded',
      home,
      agent: false,
    })
  })

  it('starts a new agent when the old one was killed, taking over its socket and lock', async () => {
    const heard: string[] = []
    await store.subscribe?.((name) => heard.push(name))
    const killed = await lockPid(home)
    if (killed === undefined) throw new Error('no agent pid in vault.lock')
    process.kill(killed, 'SIGKILL')
    await until(
      'the agent to die',
      () => alive(killed),
      (isAlive) => !isAlive,
    )
    // What a crash leaves behind: the socket file and a lock naming a dead process.
    expect(existsSync(join(home, 'agent.sock'))).toBe(true)
    expect(await lockPid(home)).toBe(killed)

    expect(await store.getSecret('shared_key', 'agent-test')).toMatchObject({
      value: 'value-from-other',
    })
    const restarted = await lockPid(home)
    expect(restarted).not.toBe(killed)
    expect(alive(restarted ?? 0)).toBe(true)
    await store.storeSecret('after_restart', 'fine', {}, 'agent-test')
    expect(await other?.getSecret('after_restart', 'agent-test')).toMatchObject({ value: 'fine' })
    // Changes made while nobody listened are unknown: subscribers are told to drop everything.
    expect(heard).toContain('*')
  })

  it('stops on stopAgent, removing the socket and the lock', async () => {
    const pid = await lockPid(home)
    expect(await stopAgent(home)).toBe(true)
    expect(existsSync(join(home, 'agent.sock'))).toBe(false)
    expect(existsSync(join(home, 'vault.lock'))).toBe(false)
    expect(alive(pid ?? 0)).toBe(false)
    expect(await stopAgent(home)).toBe(false)
  })
})

describe('two clients starting at once', () => {
  it('end up with one agent, both working', async () => {
    const home = await newHome()
    const options = { home, rootKey: template.rootKey, idleMs: IDLE_MS }
    const [first, second] = await Promise.all([
      createAgentStore(options),
      createAgentStore(options),
    ])
    try {
      await first.storeSecret('raced', 'one-vault', {}, 'racer-1')
      expect(await second.getSecret('raced', 'racer-2')).toEqual({ value: 'one-vault', version: 1 })
      const owner = await lockPid(home)
      expect(owner).toBeDefined()
      if (process.platform === 'linux') {
        // The losing agent, if one was started, exits on the lock; wait for that.
        const running = await until(
          'a single agent process',
          () => agentProcesses(home),
          (pids) => pids.length === 1,
        )
        expect(running).toEqual([owner])
      }
    } finally {
      await first.close()
      await second.close()
      await stopAgent(home)
    }
  })
})

describe('an idle agent', () => {
  it('exits by itself, removing its socket and the vault lock', async () => {
    const home = await newHome()
    const store = await createAgentStore({ home, rootKey: template.rootKey, idleMs: 500 })
    const pid = await lockPid(home)
    if (pid === undefined) throw new Error('no agent pid in vault.lock')
    await store.ping()
    await store.close()
    await until(
      'the idle agent to remove its socket and lock',
      () => existsSync(join(home, 'agent.sock')) || existsSync(join(home, 'vault.lock')),
      (present) => !present,
    )
    await until(
      'the idle agent to exit',
      () => alive(pid),
      (isAlive) => !isAlive,
    )
  })
})

describe('refusing before any agent starts', () => {
  let scratch: string

  beforeAll(async () => {
    scratch = await mkdtemp(join(tmpdir(), 'kw-agent-refuse-'))
  })

  afterAll(async () => {
    await rm(scratch, { recursive: true, force: true })
  })

  it('does not trust a home other users can write to', async () => {
    const home = join(scratch, 'open')
    await mkdir(home)
    await chmod(home, 0o777)
    const error = await rejection(createAgentStore({ home }), 'CONFIGURATION_ERROR')
    expect(error.message).toContain('writable by other users')
    expect(existsSync(join(home, 'agent.sock'))).toBe(false)
    expect(existsSync(join(home, 'vault.lock'))).toBe(false)
  })

  it('checks the root key before starting anything', async () => {
    const home = join(scratch, 'badkey')
    await rejection(createAgentStore({ home, rootKey: 'not-hex' }), 'ROOT_KEY_INVALID')
    expect(existsSync(home)).toBe(false)
  })

  it('refuses a root.key others can read before starting an agent (the same check in-process)', async () => {
    const home = join(scratch, 'leaky')
    await mkdir(home, { mode: 0o700 })
    await writeFile(join(home, 'root.key'), `${randomRootKey()}\n`, { mode: 0o644 })
    await chmod(join(home, 'root.key'), 0o644)
    const error = await rejection(createAgentStore({ home }), 'CONFIGURATION_ERROR')
    expect(error.message).toContain('readable by other users')
    expect(existsSync(join(home, 'agent.log'))).toBe(false)
    expect(existsSync(join(home, 'vault.lock'))).toBe(false)
  })

  it("reports why the agent could not start, from the agent's log", async () => {
    // A vault whose root.key was deleted: only the agent, opening it, can tell.
    const home = join(scratch, 'keyless')
    await mkdir(join(home, 'data'), { recursive: true, mode: 0o700 })
    await writeFile(join(home, 'data', 'PG_VERSION'), '18\n', { mode: 0o600 })
    const saved = process.env.KEYWARDEN_ROOT_KEY
    delete process.env.KEYWARDEN_ROOT_KEY
    try {
      const error = await rejection(createAgentStore({ home }), 'ROOT_KEY_MISSING')
      expect(error.message).toContain('could not start')
      expect(error.message).toContain(join(home, 'root.key'))
      expect(error.message).toContain('KEYWARDEN_ROOT_KEY')
    } finally {
      if (saved !== undefined) process.env.KEYWARDEN_ROOT_KEY = saved
    }
    expect(existsSync(join(home, 'root.key'))).toBe(false)
    expect(existsSync(join(home, 'vault.lock'))).toBe(false)
  })
})

/**
 * A stand-in agent on a real socket, scripted per request, to pin down what the client does
 * when the agent vanishes mid-request. No PGlite: the answers are made up.
 */
describe('when the agent goes away mid-request', () => {
  let home: string
  let server: Server
  let script: (method: string, socket: Socket, id: number) => void
  const seen: string[] = []

  beforeAll(async () => {
    home = await mkdtemp(join(tmpdir(), 'kw-fake-'))
    server = createServer((socket) => {
      let buffer = ''
      socket.setEncoding('utf8')
      socket.on('error', () => {})
      socket.on('data', (chunk: string) => {
        buffer += chunk
        const lines = buffer.split('\n')
        buffer = lines.pop() ?? ''
        for (const line of lines) {
          const { id, method } = JSON.parse(line) as { id: number; method: string }
          seen.push(method)
          if (method === 'hello') {
            socket.write(`${JSON.stringify({ id, result: { pid: process.pid, protocol: 1 } })}\n`)
          } else {
            script(method, socket, id)
          }
        }
      })
    })
    await new Promise<void>((resolve) => server.listen(join(home, 'agent.sock'), resolve))
    await chmod(join(home, 'agent.sock'), 0o600)
  })

  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve))
    await rm(home, { recursive: true, force: true })
  })

  it('sends a read again once, then reports VAULT_UNAVAILABLE', async () => {
    let reads = 0
    script = (_method, socket, id) => {
      reads++
      if (reads === 1) socket.destroy()
      else socket.write(`${JSON.stringify({ id, result: { value: 'v', version: 1 } })}\n`)
    }
    const store = await createAgentStore({ home, spawnTimeoutMs: 500 })
    try {
      expect(await store.getSecret('a', 'test')).toEqual({ value: 'v', version: 1 })
      expect(reads).toBe(2)
      script = (_method, socket) => socket.destroy()
      seen.length = 0
      await rejection(store.getSecret('a', 'test'), 'VAULT_UNAVAILABLE')
      expect(seen.filter((method) => method === 'getSecret')).toHaveLength(2)
    } finally {
      await store.close()
    }
  })

  it('does not send a write again once it reached the agent', async () => {
    script = (_method, socket) => socket.destroy()
    const store = await createAgentStore({ home, spawnTimeoutMs: 500 })
    try {
      seen.length = 0
      const error = await rejection(store.storeSecret('a', 'v', {}, 'test'), 'VAULT_UNAVAILABLE')
      expect(error.message).toContain('may or may not have been made')
      expect(seen.filter((method) => method === 'storeSecret')).toHaveLength(1)
    } finally {
      await store.close()
    }
  })

  it('sends a write again when the agent says it did not run it (shutting down)', async () => {
    let writes = 0
    script = (_method, socket, id) => {
      writes++
      socket.write(
        writes === 1
          ? `${JSON.stringify({ id, error: { code: 'VAULT_UNAVAILABLE', message: 'shutting down' }, retry: true })}\n`
          : `${JSON.stringify({ id, result: 'new-id' })}\n`,
      )
    }
    const store = await createAgentStore({ home, spawnTimeoutMs: 500 })
    try {
      expect(await store.storeSecret('a', 'v', {}, 'test')).toBe('new-id')
      expect(writes).toBe(2)
    } finally {
      await store.close()
    }
  })
})
