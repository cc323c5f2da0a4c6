/**
 * The agent's client side: a {@link SecretStore} that talks to the local keywarden agent over
 * `<home>/agent.sock`, starting the agent when none answers.
 *
 * Why: opening PGlite costs about a second per process, and only one process may have the
 * embedded vault open. One agent per home holds it open; every `keywarden` command, MCP
 * server or library user connects to it, so a command costs a socket round trip and they no
 * longer lock each other out. The agent stops by itself when nobody has used it for a while.
 *
 * This module loads no PGlite (the server side does), so connecting stays cheap.
 * @module
 */
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { lstat, mkdir, readFile } from 'node:fs/promises'
import { createConnection, type Socket } from 'node:net'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { KeywardenError } from '../../errors/index.ts'
import type { SecretStore, StoredSecret } from '../../store/index.ts'
import { checkVaultHome } from '../home/index.ts'
import {
  AgentDropped,
  agentSocketPath,
  decodeResult,
  EXIT_FAILED,
  EXIT_LOCK_HELD,
  fitsSocketPath,
  fromWireError,
  type HelloResult,
  isProcessAlive,
  isRecord,
  LOCK_FILE,
  LOG_FILE,
  MAX_LINE_BYTES,
  PROTOCOL_VERSION,
  READ_ONLY_METHODS,
  resolveAgentHome,
  rootKeyId,
} from './protocol.ts'

/** Options for {@link createAgentStore}. */
export interface AgentStoreOptions {
  /** The vault home (default `KEYWARDEN_HOME`, else `~/.keywarden`). */
  home?: string
  /**
   * The root key (64 hex); default `KEYWARDEN_ROOT_KEY`, else the agent's `<home>/root.key`.
   * Given to an agent this call starts; a running agent must be using the same key.
   */
  rootKey?: string
  /**
   * How long to wait for a newly started agent to answer (default 10 s); up to 60 s while it
   * is creating the vault or the agent this call started is still opening it.
   */
  spawnTimeoutMs?: number
  /**
   * The idle timeout of an agent this call has to start (default: the agent's 60 s). An agent
   * already running keeps its own. Tests pass a short one so no agent outlives them.
   */
  idleMs?: number
}

/** Options for {@link stopAgent}. */
export interface StopAgentOptions {
  /** How long to wait for the agent process to exit (default 10 s). */
  timeoutMs?: number
}

/** Whether a home can host an agent: a unix socket in it must fit the OS's path limit. */
export function agentSupported(home?: string): boolean {
  return process.platform !== 'win32' && fitsSocketPath(agentSocketPath(resolveAgentHome(home)))
}

// The agent's entry point: beside this file once built; from the sources (tests), the build.
const AGENT_ENTRY = fileURLToPath(
  new URL(
    import.meta.url.endsWith('.ts') ? '../../../dist/node/agent/process.js' : './process.js',
    import.meta.url,
  ),
)

/** The longest wait for an agent that is creating the vault or still opening it. */
const CREATE_TIMEOUT_MS = 60_000

/** Agents started by one connect attempt, at most: a crashing agent must not spawn a storm. */
const MAX_SPAWNS = 3

/**
 * A store served by the local agent for `home`, starting the agent (detached, so it outlives
 * this process) when none answers. Two processes racing here may both start one; the second
 * cannot take the vault lock and exits, and both end up connected to the first.
 *
 * Requests share one socket, matched by id. If the agent goes away, the next request starts a
 * new one once; a read in flight at that moment is sent again, a write is not (it may have
 * been applied) and fails with `VAULT_UNAVAILABLE`. `close()` ends this connection only: the
 * agent stops by itself once idle.
 */
export async function createAgentStore(options: AgentStoreOptions = {}): Promise<SecretStore> {
  const home = resolveAgentHome(options.home)
  const rootKey = options.rootKey ?? (process.env.KEYWARDEN_ROOT_KEY?.trim() || undefined)
  if (rootKey !== undefined && !/^[0-9a-fA-F]{64}$/.test(rootKey)) {
    throw new KeywardenError('ROOT_KEY_INVALID', 'the vault root key must be 64 hex characters')
  }
  if (!agentSupported(home)) {
    throw new KeywardenError(
      'CONFIGURATION_ERROR',
      `the keywarden agent cannot listen in ${home} (path too long for a unix socket); ` +
        'set KEYWARDEN_AGENT=0 to open the vault in-process',
    )
  }
  const context: SpawnContext = {
    home,
    socketPath: agentSocketPath(home),
    rootKey,
    spawnTimeoutMs: options.spawnTimeoutMs ?? 10_000,
    idleMs: options.idleMs,
  }
  const hello = { protocol: PROTOCOL_VERSION, ...(rootKey ? { keyId: rootKeyId(rootKey) } : {}) }

  const listeners = new Set<(name: string) => void>()
  let current: Connection | undefined
  let connecting: Promise<Connection> | undefined
  let everConnected = false
  let closed = false

  const notify = (name: string) => {
    for (const listener of listeners) {
      try {
        listener(name)
      } catch {}
    }
  }

  const connection = (): Promise<Connection> => {
    if (current?.alive) return Promise.resolve(current)
    connecting ??= (async () => {
      const conn = wrapSocket(await connectOrSpawn(context), {
        event: notify,
        dropped(dropped) {
          if (current !== dropped) return
          current = undefined
          // Changes made while nobody listened are lost: whatever was cached is suspect.
          if (listeners.size > 0 && !closed) notify('*')
        },
      })
      try {
        // hello touches no database, so a live agent answers at once; one that does not is
        // wedged, and waiting on it forever would hang every command.
        const agent = (await withTimeout(
          conn.request('hello', [hello]),
          context.spawnTimeoutMs,
        )) as HelloResult
        if (agent.protocol !== PROTOCOL_VERSION) {
          // An agent left running by another keywarden version: it answers, but not in words
          // this client knows. It stops by itself once idle.
          throw unavailable(
            `the keywarden agent for ${home} (pid ${agent.pid}) is from another keywarden ` +
              `version; stop it (kill ${agent.pid}) and try again`,
          )
        }
        if (listeners.size > 0) {
          await conn.request('subscribe', [])
          conn.subscribed = true
        }
      } catch (error) {
        conn.destroy()
        throw error
      }
      if (closed) {
        conn.destroy()
        throw closedError()
      }
      current = conn
      if (everConnected && listeners.size > 0) notify('*')
      everConnected = true
      return conn
    })().finally(() => {
      connecting = undefined
    })
    return connecting
  }

  const call = async (method: string, params: unknown[]): Promise<unknown> => {
    for (let attempt = 0; ; attempt++) {
      if (closed) throw closedError()
      try {
        const conn = await connection()
        return await conn.request(method, params)
      } catch (error) {
        if (!(error instanceof AgentDropped)) throw error
        // Sent again only when that cannot apply a change twice.
        const safe = !error.delivered || READ_ONLY_METHODS.has(method)
        if (attempt === 0 && safe && !closed) continue
        throw new KeywardenError(
          'VAULT_UNAVAILABLE',
          error.delivered && !READ_ONLY_METHODS.has(method)
            ? 'the keywarden agent stopped before answering; the change may or may not have been made'
            : 'the keywarden agent stopped; try again',
          { cause: error },
        )
      }
    }
  }

  const store: SecretStore = {
    kind: 'embedded',
    target: home,
    getSecret: (name, accessedBy, version = 'current') =>
      call('getSecret', [name, accessedBy, version]) as Promise<StoredSecret | null>,
    getSecrets: (names, accessedBy) =>
      call('getSecrets', [[...names], accessedBy]) as Promise<Map<string, StoredSecret | null>>,
    storeSecret: (name, value, input, accessedBy) =>
      call('storeSecret', [name, value, input, accessedBy]) as Promise<string>,
    updateSecretMetadata: (name, input, accessedBy) =>
      call('updateSecretMetadata', [name, input, accessedBy]) as Promise<number>,
    rotateSecret: (name, value, gracePeriodSeconds, accessedBy) =>
      call('rotateSecret', [name, value, gracePeriodSeconds, accessedBy]) as ReturnType<
        SecretStore['rotateSecret']
      >,
    deleteSecret: (name, accessedBy) =>
      call('deleteSecret', [name, accessedBy]) as Promise<boolean>,
    listSecrets: (accessedBy) =>
      call('listSecrets', [accessedBy]) as ReturnType<SecretStore['listSecrets']>,
    checkExpiringSecrets: (days, accessedBy, now) =>
      call('checkExpiringSecrets', [days, accessedBy, now ?? null]) as ReturnType<
        SecretStore['checkExpiringSecrets']
      >,
    stageRotation: (name, value, accessedBy) =>
      call('stageRotation', [name, value, accessedBy]) as Promise<Date>,
    getStagedSecret: (name, accessedBy) =>
      call('getStagedSecret', [name, accessedBy]) as Promise<string | null>,
    promoteRotation: (name, gracePeriodSeconds, accessedBy) =>
      call('promoteRotation', [name, gracePeriodSeconds, accessedBy]) as ReturnType<
        SecretStore['promoteRotation']
      >,
    discardRotation: (name, accessedBy) =>
      call('discardRotation', [name, accessedBy]) as Promise<boolean>,
    secretMetrics: (now) =>
      call('secretMetrics', [now ?? null]) as ReturnType<SecretStore['secretMetrics']>,
    secretAlerts: (filter) =>
      call('secretAlerts', [filter]) as ReturnType<SecretStore['secretAlerts']>,
    claimNotifications: (claims, accessedBy) =>
      call('claimNotifications', [claims, accessedBy]) as ReturnType<
        SecretStore['claimNotifications']
      >,
    releaseNotifications: (claims) => call('releaseNotifications', [claims]) as Promise<number>,
    logAccessBatch: (events) => call('logAccessBatch', [events]) as Promise<number>,
    queryAudit: (filter) => call('queryAudit', [filter]) as ReturnType<SecretStore['queryAudit']>,
    verifyAuditLog: (anchor) =>
      call('verifyAuditLog', [anchor ?? null]) as ReturnType<SecretStore['verifyAuditLog']>,
    dashboardQuery: (fn, args) =>
      call('dashboardQuery', [fn, args]) as ReturnType<SecretStore['dashboardQuery']>,
    listDoorPolicies: () =>
      call('listDoorPolicies', []) as ReturnType<SecretStore['listDoorPolicies']>,
    setDoorPolicy: async (rule, accessedBy) => {
      await call('setDoorPolicy', [rule, accessedBy])
    },
    deleteDoorPolicy: (doorPattern, secretPattern, accessedBy) =>
      call('deleteDoorPolicy', [doorPattern, secretPattern, accessedBy]) as Promise<boolean>,
    oauthCall: (operation, args) => call('oauthCall', [operation, args]),
    async ping() {
      await call('ping', [])
    },
    schemaVersion: () => call('schemaVersion', []) as Promise<string | null>,

    async subscribe(listener) {
      listeners.add(listener)
      try {
        const conn = await connection()
        if (!conn.subscribed) {
          await conn.request('subscribe', [])
          conn.subscribed = true
        }
      } catch (error) {
        listeners.delete(listener)
        throw error instanceof AgentDropped ? unavailable('the keywarden agent stopped') : error
      }
      return async () => {
        listeners.delete(listener)
        const conn = current
        if (listeners.size === 0 && conn?.alive && conn.subscribed) {
          conn.subscribed = false
          await conn.request('unsubscribe', []).catch(() => {})
        }
      }
    },

    async close() {
      if (closed) return
      closed = true
      listeners.clear()
      const conn = current ?? (await connecting?.catch(() => undefined))
      current = undefined
      await conn?.end()
    },
  }

  await connection().catch((error: unknown) => {
    throw error instanceof AgentDropped ? unavailable('the keywarden agent stopped') : error
  })
  return store
}

/**
 * Asks the agent for `home` to stop, and waits until its process has exited (so the vault
 * lock and the socket are gone). Resolves false when no agent was running.
 */
export async function stopAgent(home?: string, options: StopAgentOptions = {}): Promise<boolean> {
  const dir = resolveAgentHome(home)
  const socketPath = agentSocketPath(dir)
  if (!(await trustedHome(dir))) return false
  const socket = await tryConnect(socketPath)
  if (!socket) return false
  const conn = wrapSocket(socket, { event() {}, dropped() {} })
  let pid: number
  try {
    const hello = (await withTimeout(
      conn.request('hello', [{ protocol: PROTOCOL_VERSION }]),
      options.timeoutMs ?? 10_000,
    )) as HelloResult
    pid = hello.pid
    await conn.request('shutdown', [])
  } catch (error) {
    conn.destroy()
    // It went away by itself meanwhile: stopped all the same.
    if (error instanceof AgentDropped) return true
    throw error
  }
  await conn.end()
  const deadline = Date.now() + (options.timeoutMs ?? 10_000)
  while (isProcessAlive(pid)) {
    if (Date.now() > deadline) {
      throw unavailable(`the keywarden agent (pid ${pid}) did not stop in time`)
    }
    await sleep(10)
  }
  return true
}

// ---------------------------------------------------------------------------------------------
// One connection
// ---------------------------------------------------------------------------------------------

interface Connection {
  readonly alive: boolean
  /** This connection asked for change events. */
  subscribed: boolean
  request(method: string, params: unknown[]): Promise<unknown>
  /** Ends the connection politely; resolves once closed. */
  end(): Promise<void>
  destroy(): void
}

interface ConnectionHandlers {
  event(name: string): void
  dropped(conn: Connection): void
}

interface Pending {
  method: string
  resolve(value: unknown): void
  reject(error: unknown): void
  /** Handed to the kernel: the agent may have run it even if no answer comes. */
  delivered: boolean
}

/** Multiplexes requests over one socket by id; events go to `handlers.event`. */
function wrapSocket(socket: Socket, handlers: ConnectionHandlers): Connection {
  const pending = new Map<number, Pending>()
  let nextId = 1
  let buffer = ''
  let alive = true

  // An idle connection must not keep a CLI (or any process) from exiting; one with a request
  // in flight must, or a top-level await would be left unsettled.
  const updateRef = () => {
    if (pending.size > 0) socket.ref()
    else socket.unref()
  }
  updateRef()
  socket.setEncoding('utf8')

  const settle = (id: number, settleWith: (entry: Pending) => void) => {
    const entry = pending.get(id)
    if (!entry) return
    pending.delete(id)
    updateRef()
    settleWith(entry)
  }

  const receive = (line: string) => {
    let message: unknown
    try {
      message = JSON.parse(line)
    } catch {
      socket.destroy()
      return
    }
    if (!isRecord(message)) return
    if (message.event === 'change' && typeof message.name === 'string') {
      handlers.event(message.name)
      return
    }
    if (typeof message.id !== 'number') return
    if ('error' in message) {
      const error = message.retry === true ? new AgentDropped(false) : fromWireError(message.error)
      settle(message.id, (entry) => entry.reject(error))
    } else {
      settle(message.id, (entry) => {
        try {
          entry.resolve(decodeResult(entry.method, message.result))
        } catch (error) {
          entry.reject(error)
        }
      })
    }
  }

  socket.on('data', (chunk: string) => {
    buffer += chunk
    let newline = buffer.indexOf('\n')
    while (newline !== -1) {
      const line = buffer.slice(0, newline)
      buffer = buffer.slice(newline + 1)
      if (line !== '') receive(line)
      newline = buffer.indexOf('\n')
    }
    if (buffer.length > MAX_LINE_BYTES) socket.destroy()
  })
  // 'close' follows every error; that is where requests are failed.
  socket.on('error', () => {})
  socket.on('close', () => {
    alive = false
    const entries = [...pending.values()]
    pending.clear()
    for (const entry of entries) entry.reject(new AgentDropped(entry.delivered))
    handlers.dropped(conn)
  })

  const conn: Connection = {
    get alive() {
      return alive
    },
    subscribed: false,
    request(method, params) {
      if (!alive || !socket.writable) return Promise.reject(new AgentDropped(false))
      return new Promise((resolve, reject) => {
        const id = nextId++
        const entry: Pending = { method, resolve, reject, delivered: false }
        pending.set(id, entry)
        updateRef()
        socket.write(`${JSON.stringify({ id, method, params })}\n`, (error) => {
          if (!error) {
            entry.delivered = true
            return
          }
          // Never reached the agent, so it is safe to send again.
          settle(id, (failed) => failed.reject(new AgentDropped(false)))
        })
      })
    },
    end() {
      if (!alive) return Promise.resolve()
      return new Promise((resolve) => {
        // Referenced until closed, so whoever awaits this is not cut short by an empty loop.
        socket.ref()
        socket.once('close', () => resolve())
        socket.end()
        setTimeout(() => socket.destroy(), 1_000).unref()
      })
    },
    destroy() {
      socket.destroy()
    },
  }
  return conn
}

// ---------------------------------------------------------------------------------------------
// Finding or starting the agent
// ---------------------------------------------------------------------------------------------

interface SpawnContext {
  home: string
  socketPath: string
  rootKey: string | undefined
  spawnTimeoutMs: number
  idleMs: number | undefined
}

interface SpawnedAgent {
  pid: number | undefined
  exit?: { code: number | null; signal: NodeJS.Signals | null }
}

/** Connects to the agent, starting one when none answers, until `spawnTimeoutMs`. */
async function connectOrSpawn(context: SpawnContext): Promise<Socket> {
  const { home, socketPath } = context
  const started = Date.now()
  const deadline = started + context.spawnTimeoutMs
  // Creating a vault (PGlite's initdb) takes 5-10 s, and opening one can be slow on a busy
  // machine: while the vault is being created, or the agent this call started is still
  // alive and busy opening, keep waiting up to this longer bound.
  const creating = !existsSync(join(home, 'data'))
  const patientDeadline = started + Math.max(context.spawnTimeoutMs, CREATE_TIMEOUT_MS)
  let agent: SpawnedAgent | undefined
  let spawns = 0
  let delay = 5
  for (;;) {
    if (await trustedHome(home)) {
      const socket = await tryConnect(socketPath)
      if (socket) return socket
    }
    if (agent?.exit && agent.exit.code !== EXIT_LOCK_HELD) {
      const failure = await startupFailure(home, agent)
      if (failure) throw failure
    }
    if (agent === undefined || agent.exit !== undefined) {
      // Whoever holds the lock (the winner of a race, or an agent still opening PGlite) will
      // create the socket; another agent now would only fail on the lock.
      const owner = await lockOwner(home)
      if (owner === process.pid) {
        throw unavailable(
          `the embedded vault in ${home} is open in this process; share that store, or set ` +
            'KEYWARDEN_AGENT=0 everywhere',
        )
      }
      if (owner === undefined && spawns < MAX_SPAWNS) {
        agent = await spawnAgent(context)
        spawns++
      }
    }
    const now = Date.now()
    const busy = creating || (agent !== undefined && agent.exit === undefined)
    if (now >= deadline && (!busy || now >= patientDeadline)) throw await timeoutError(context)
    await sleep(delay)
    delay = Math.min(delay * 2, 50)
  }
}

async function spawnAgent(context: SpawnContext): Promise<SpawnedAgent> {
  if (!existsSync(AGENT_ENTRY)) {
    throw new KeywardenError(
      'CONFIGURATION_ERROR',
      `the keywarden agent is missing (${AGENT_ENTRY}); build @keywarden/core first`,
    )
  }
  // Its working directory: it must exist, and the agent should not pin the caller's.
  await mkdir(context.home, { recursive: true, mode: 0o700 })
  const env: NodeJS.ProcessEnv = { ...process.env, KEYWARDEN_HOME: context.home }
  if (context.rootKey) env.KEYWARDEN_ROOT_KEY = context.rootKey
  else delete env.KEYWARDEN_ROOT_KEY
  if (context.idleMs !== undefined) env.KEYWARDEN_AGENT_IDLE_MS = String(context.idleMs)
  // Detached (its own session, so a Ctrl-C in the terminal does not reach it), no stdio (so
  // nobody waiting for this process's pipes to close waits for the agent), and unreferenced
  // (so this process exits without waiting for it).
  const child = spawn(process.execPath, [AGENT_ENTRY], {
    cwd: context.home,
    detached: true,
    stdio: 'ignore',
    env,
  })
  const agent: SpawnedAgent = { pid: child.pid }
  child.once('exit', (code, signal) => {
    agent.exit = { code, signal }
  })
  child.once('error', () => {
    agent.exit ??= { code: null, signal: null }
  })
  child.unref()
  return agent
}

/** Why an agent this process started could not start, from its log; undefined to retry. */
async function startupFailure(
  home: string,
  agent: SpawnedAgent,
): Promise<KeywardenError | undefined> {
  if (agent.exit?.code !== EXIT_FAILED) return undefined
  const logPath = join(home, LOG_FILE)
  const lines = (await readFile(logPath, 'utf8').catch(() => '')).split('\n').reverse()
  for (const line of lines) {
    let entry: unknown
    try {
      entry = JSON.parse(line)
    } catch {
      continue
    }
    if (isRecord(entry) && entry.pid === agent.pid && entry.startup === true) {
      const reason = fromWireError(entry)
      return new KeywardenError(
        reason.code,
        `the keywarden agent could not start: ${reason.message}`,
      )
    }
  }
  return unavailable(`the keywarden agent exited at start; see ${logPath}`)
}

async function timeoutError(context: SpawnContext): Promise<KeywardenError> {
  const owner = await lockOwner(context.home)
  if (owner !== undefined) {
    return unavailable(
      `the embedded vault in ${context.home} is open in another process (pid ${owner}) that ` +
        'does not serve the keywarden agent socket; close it, or point every tool at one ' +
        'PostgreSQL server with KEYWARDEN_DATABASE_URL',
    )
  }
  return unavailable(
    `the keywarden agent did not answer within ${context.spawnTimeoutMs} ms; see ` +
      `${join(context.home, LOG_FILE)}`,
  )
}

/** The pid in the vault lock, when that process is alive. */
async function lockOwner(home: string): Promise<number | undefined> {
  const text = await readFile(join(home, LOCK_FILE), 'utf8').catch(() => '')
  const pid = Number.parseInt(text, 10)
  return Number.isInteger(pid) && pid > 0 && isProcessAlive(pid) ? pid : undefined
}

/**
 * Whether `home` exists, after checking it may be trusted with a socket (someone who can
 * write it could plant one that answers for the vault): the same check as every path that
 * opens the vault, {@link checkVaultHome}.
 */
function trustedHome(home: string): Promise<boolean> {
  return checkVaultHome(home)
}

/** A connected socket, or undefined when nothing listens there (absent or stale). */
async function tryConnect(socketPath: string): Promise<Socket | undefined> {
  try {
    const info = await lstat(socketPath)
    const uid = process.getuid?.()
    if (!info.isSocket() || (uid !== undefined && info.uid !== uid)) {
      throw new KeywardenError(
        'CONFIGURATION_ERROR',
        `${socketPath} is not a keywarden agent socket of this user; remove it`,
      )
    }
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw error
  }
  return new Promise((resolve, reject) => {
    const socket = createConnection(socketPath)
    socket.once('connect', () => {
      socket.off('error', onError)
      resolve(socket)
    })
    const onError = (error: NodeJS.ErrnoException) => {
      socket.destroy()
      // Refused: a socket file left by an agent that died; the next agent removes it.
      if (['ENOENT', 'ECONNREFUSED', 'ECONNRESET'].includes(error.code ?? '')) resolve(undefined)
      else reject(unavailable(`cannot connect to the keywarden agent (${error.code ?? 'error'})`))
    }
    socket.once('error', onError)
  })
}

function unavailable(message: string): KeywardenError {
  return new KeywardenError('VAULT_UNAVAILABLE', message)
}

function closedError(): KeywardenError {
  return unavailable('the store is closed')
}

/** `promise`, or VAULT_UNAVAILABLE after `ms`. */
function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(unavailable('the keywarden agent did not answer')), ms)
  })
  return Promise.race([promise, expired]).finally(() => clearTimeout(timer))
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}
