/**
 * The agent's server side in this process (serveAgent), spoken to over a raw socket: the wire
 * format, the socket file's life cycle and the idle stop. The agent process itself (built
 * dist/node/agent/process.js) is only started for its exit status on a held vault.
 */
import { execFile, spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { readFile, stat, writeFile } from 'node:fs/promises'
import { createConnection, type Socket } from 'node:net'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { isKeywardenError } from '../../errors/index.ts'
import { type AgentServer, serveAgent } from './server.ts'
import { createVaultTemplate, until, type VaultTemplate } from './testing/homes.ts'

const AGENT_PROCESS = fileURLToPath(new URL('../../../dist/node/agent/process.js', import.meta.url))

let template: VaultTemplate

beforeAll(async () => {
  template = await createVaultTemplate()
})

afterAll(async () => {
  await template?.cleanup()
})

/** A client that writes raw lines and collects every line the agent sends back. */
async function rawClient(socketPath: string) {
  const socket: Socket = await new Promise((resolve, reject) => {
    const connection = createConnection(socketPath)
    connection.once('connect', () => resolve(connection))
    connection.once('error', reject)
  })
  const received: Record<string, unknown>[] = []
  let buffer = ''
  let ended = false
  socket.setEncoding('utf8')
  socket.on('data', (chunk: string) => {
    buffer += chunk
    const lines = buffer.split('\n')
    buffer = lines.pop() ?? ''
    for (const line of lines) received.push(JSON.parse(line) as Record<string, unknown>)
  })
  socket.on('error', () => {})
  socket.on('close', () => {
    ended = true
  })
  return {
    received,
    ended: () => ended,
    send(text: string) {
      socket.write(text)
    },
    /** Sends a request and waits for the reply with its id. */
    async call(id: number, method: string, params: unknown[] = []) {
      socket.write(`${JSON.stringify({ id, method, params })}\n`)
      return until(
        `the reply to request ${id}`,
        () => received.find((message) => message.id === id),
        (reply) => reply !== undefined,
      ) as Promise<Record<string, unknown>>
    },
    close() {
      socket.destroy()
    },
  }
}

/** A socket file with no listener: what an agent killed with SIGKILL leaves. */
async function leaveStaleSocket(socketPath: string): Promise<void> {
  const child = spawn(
    process.execPath,
    [
      '-e',
      `require('node:net').createServer().listen(process.argv[1], () => process.kill(process.pid, 'SIGKILL'))`,
      socketPath,
    ],
    { stdio: 'ignore' },
  )
  await new Promise((resolve) => child.once('exit', resolve))
}

describe('serveAgent', () => {
  let home: string
  let agent: AgentServer

  beforeAll(async () => {
    home = await template.copy()
    await leaveStaleSocket(join(home, 'agent.sock'))
    expect((await stat(join(home, 'agent.sock'))).isSocket()).toBe(true)
    agent = await serveAgent({ home, rootKey: template.rootKey })
  })

  afterAll(async () => {
    await agent?.close()
  })

  it('replaces a stale socket with its own, created 0600, and holds the vault lock', async () => {
    expect(agent.socketPath).toBe(join(home, 'agent.sock'))
    const info = await stat(agent.socketPath)
    expect(info.isSocket()).toBe(true)
    expect(info.mode & 0o777).toBe(0o600)
    expect(await readFile(join(home, 'vault.lock'), 'utf8')).toBe(String(process.pid))
  })

  it('answers newline-delimited JSON by id, with ISO dates and errors by code', async () => {
    const client = await rawClient(agent.socketPath)
    try {
      expect(await client.call(1, 'hello', [{ protocol: 1 }])).toEqual({
        id: 1,
        result: { pid: process.pid, protocol: 1 },
      })
      // Two requests in one write, answered separately.
      const expiresAt = new Date(Date.now() + 86_400_000).toISOString()
      client.send(
        `${JSON.stringify({ id: 2, method: 'storeSecret', params: ['wire_key', 'wire-value', { expiresAt }, 'raw'] })}\n` +
          `${JSON.stringify({ id: 3, method: 'ping', params: [] })}\n`,
      )
      await until(
        'both replies',
        () => client.received.length,
        (count) => count >= 3,
      )
      expect(client.received.find((reply) => reply.id === 3)).toEqual({ id: 3, result: null })
      expect(typeof client.received.find((reply) => reply.id === 2)?.result).toBe('string')

      const listed = await client.call(4, 'listSecrets', ['raw'])
      const [row] = listed.result as Record<string, unknown>[]
      expect(row?.expiresAt).toBe(expiresAt)
      expect(typeof row?.createdAt).toBe('string')

      const batch = await client.call(5, 'getSecrets', [['wire_key', 'absent'], 'raw'])
      expect(batch.result).toEqual([
        ['wire_key', { value: 'wire-value', version: 1 }],
        ['absent', null],
      ])

      const invalid = await client.call(6, 'getSecret', ['NOT A NAME: sk-live-123', 'raw'])
      expect(invalid).toMatchObject({ id: 6, error: { code: 'INVALID_NAME' } })
      expect(JSON.stringify(invalid)).not.toContain('sk-live-123')

      expect(await client.call(7, 'dropTables', [])).toMatchObject({
        error: { code: 'INVALID_ARGUMENT', message: 'unknown keywarden agent method' },
      })
      expect(await client.call(8, 'storeSecret', [42, 'v', {}, 'raw'])).toMatchObject({
        error: { code: 'INVALID_ARGUMENT' },
      })

      // The dashboard's aggregations pass through as JSON; only their own functions are called.
      const now = Date.now()
      const activity = await client.call(9, 'dashboardQuery', [
        'audit_accessors',
        {
          p_from: new Date(now - 86_400_000).toISOString(),
          p_to: new Date(now + 1000).toISOString(),
          p_secret: 'wire_key',
        },
      ])
      expect(activity.result).toMatchObject([{ secret_name: 'wire_key', accessed_by: 'raw' }])
      expect(
        await client.call(10, 'dashboardQuery', ['get_secret', { secret_name: 'wire_key' }]),
      ).toMatchObject({
        error: {
          code: 'INVALID_ARGUMENT',
          message: 'keywarden agent request: not a dashboard function',
        },
      })
      expect(
        await client.call(11, 'dashboardQuery', ['audit_incidents', { p_from: 1 }]),
      ).toMatchObject({
        error: { code: 'INVALID_ARGUMENT' },
      })
    } finally {
      client.close()
    }
  })

  it('pushes change events only to connections that subscribed', async () => {
    const listener = await rawClient(agent.socketPath)
    const bystander = await rawClient(agent.socketPath)
    try {
      await listener.call(1, 'subscribe')
      await bystander.call(1, 'storeSecret', ['pushed_key', 'v', {}, 'raw'])
      await until(
        'the change event',
        () => listener.received.find((message) => message.event === 'change'),
        (event) => event !== undefined,
      )
      expect(listener.received).toContainEqual({ event: 'change', name: 'pushed_key' })
      // The bystander's own reply comes after any event on its connection: none.
      await bystander.call(2, 'ping')
      expect(bystander.received.some((message) => 'event' in message)).toBe(false)
    } finally {
      listener.close()
      bystander.close()
    }
  })

  it('drops a connection that sends something other than JSON', async () => {
    const client = await rawClient(agent.socketPath)
    client.send('this is not json\n')
    await until(
      'the agent to hang up',
      () => client.ended(),
      (ended) => ended,
    )
    // Others are unaffected.
    const other = await rawClient(agent.socketPath)
    expect(await other.call(1, 'ping')).toEqual({ id: 1, result: null })
    other.close()
  })
})

describe('an agent with nothing to do', () => {
  it('stays while a client is connected, then stops, removing its socket and the lock', async () => {
    const home = await template.copy()
    const agent = await serveAgent({ home, rootKey: template.rootKey, idleMs: 200 })
    const client = await rawClient(agent.socketPath)
    // Several idle periods with a connection open: still serving.
    await new Promise((resolve) => setTimeout(resolve, 800))
    expect(await client.call(1, 'ping')).toEqual({ id: 1, result: null })
    client.close()
    let stopped = false
    void agent.closed.then(() => {
      stopped = true
    })
    await until(
      'the idle stop',
      () => stopped,
      (done) => done,
      10_000,
    )
    expect(existsSync(join(home, 'agent.sock'))).toBe(false)
    expect(existsSync(join(home, 'vault.lock'))).toBe(false)
  })

  it('stops when asked to, answering the request first', async () => {
    const home = await template.copy()
    const agent = await serveAgent({ home, rootKey: template.rootKey })
    const client = await rawClient(agent.socketPath)
    expect(await client.call(1, 'shutdown')).toEqual({ id: 1, result: null })
    await agent.closed
    await until(
      'the connection to end',
      () => client.ended(),
      (ended) => ended,
    )
    expect(existsSync(join(home, 'agent.sock'))).toBe(false)
    expect(existsSync(join(home, 'vault.lock'))).toBe(false)
  })
})

describe('the agent process', () => {
  it.each(['SIGTERM', 'SIGINT'] as const)(
    'stops cleanly on %s: exit 0, socket and lock removed',
    async (signal) => {
      const home = await template.copy()
      const child = spawn(process.execPath, [AGENT_PROCESS], {
        env: { ...process.env, KEYWARDEN_HOME: home, KEYWARDEN_ROOT_KEY: template.rootKey },
        stdio: ['ignore', 'pipe', 'ignore'],
      })
      let stdout = ''
      child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
        stdout += chunk
      })
      const exited = new Promise<number | null>((resolve) => child.once('exit', resolve))
      await until(
        'the agent to serve',
        () => stdout,
        (text) => text.includes('\n'),
      )
      child.kill(signal)
      expect(await exited).toBe(0)
      expect(stdout).toBe(`ready ${child.pid}\n`)
      expect(existsSync(join(home, 'agent.sock'))).toBe(false)
      expect(existsSync(join(home, 'vault.lock'))).toBe(false)
    },
  )
})

describe('a vault held by another process', () => {
  let home: string
  let holder: ReturnType<typeof spawn>

  beforeAll(async () => {
    home = await template.copy()
    // A live process that is not an agent, named in the lock.
    holder = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60_000)'], { stdio: 'ignore' })
    await writeFile(join(home, 'vault.lock'), String(holder.pid), { mode: 0o600 })
  })

  afterAll(() => {
    holder?.kill()
  })

  it('is not served: serveAgent fails on the lock before touching the socket', async () => {
    const error = await serveAgent({ home, rootKey: template.rootKey }).catch((e: unknown) => e)
    expect(isKeywardenError(error, 'VAULT_UNAVAILABLE')).toBe(true)
    expect(existsSync(join(home, 'agent.sock'))).toBe(false)
    expect(await readFile(join(home, 'vault.lock'), 'utf8')).toBe(String(holder.pid))
  })

  it('makes the agent process exit 75, logging why', async () => {
    const code = await new Promise<number | null>((resolve) => {
      execFile(
        process.execPath,
        [AGENT_PROCESS],
        { env: { ...process.env, KEYWARDEN_HOME: home, KEYWARDEN_ROOT_KEY: template.rootKey } },
        (error) => resolve(error ? (typeof error.code === 'number' ? error.code : null) : 0),
      )
    })
    expect(code).toBe(75)
    const log = await readFile(join(home, 'agent.log'), 'utf8')
    expect(log).toContain('"startup":true')
    expect(log).toContain(`pid ${holder.pid}`)
    expect(log).not.toContain(template.rootKey)
  })
})
