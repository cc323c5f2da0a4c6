/**
 * The agent's server side: one process holds the embedded vault (PGlite) open and serves the
 * SecretStore to every local `keywarden` process over `<home>/agent.sock`, so that a CLI
 * command costs a socket round trip instead of a PGlite start (≈1 s), and the CLI and a
 * long-running MCP server can use the vault at the same time instead of locking each other
 * out.
 *
 * Trust: the socket is created 0600 inside the 0700 home, so only the vault's owner can
 * connect, and the owner can read the root key anyway (root.key, or ask the keychain): the
 * agent grants nothing new.
 * @module
 */
import { rm, chmod as setMode, lstat as statLink } from 'node:fs/promises'
import { createConnection, createServer, type Server, type Socket } from 'node:net'
import { resolve as resolvePath } from 'node:path'
import { errorFromDatabase, KeywardenError } from '../../errors/index.ts'
import {
  DASHBOARD_FUNCTIONS,
  type DashboardArguments,
  type DashboardFunction,
} from '../../store/dashboard.ts'
import type {
  AuditAnchor,
  AuditFilter,
  DoorPolicyRule,
  NotificationClaim,
  SecretStore,
  StoreSecretInput,
} from '../../store/index.ts'
import { openEmbeddedVault } from '../embedded.ts'
import {
  type AgentReply,
  agentSocketPath,
  encodeResult,
  isRecord,
  MAX_LINE_BYTES,
  PROTOCOL_VERSION,
  reviveDate,
  rootKeyId,
  STORE_METHODS,
  type StoreMethod,
  toWireError,
} from './protocol.ts'

/** Options for {@link serveAgent}. */
export interface ServeAgentOptions {
  /** The vault home; the socket is `<home>/agent.sock`. */
  home: string
  /** The root key; default `KEYWARDEN_ROOT_KEY`, else `<home>/root.key` (as the embedded store). */
  rootKey?: string
  /** Stop after this long with no connection and no request in flight (default 60 s). */
  idleMs?: number
  /** Where the agent reports what went wrong (never values). Default: nowhere. */
  log?: (entry: AgentLogEntry) => void
}

/** One line of the agent's log. */
export interface AgentLogEntry {
  level: 'info' | 'error'
  message: string
  code?: string
  /** Set on the line that explains why the agent could not start, which clients read. */
  startup?: boolean
}

/** A running agent. */
export interface AgentServer {
  readonly home: string
  readonly socketPath: string
  /** Resolves once the agent has stopped, whatever stopped it; never rejects. */
  readonly closed: Promise<void>
  /**
   * Stops: no new connections, requests in flight finish, connections end, the socket file
   * and the vault lock are removed. Idempotent.
   */
  close(reason?: string): Promise<void>
}

/** How often the agent checks that its socket file is still its own (removed home, etc.). */
const WATCH_INTERVAL_MS = 1_000

/** How long a shutdown waits for requests in flight. */
const DRAIN_TIMEOUT_MS = 5_000

/**
 * Opens the embedded vault in `home` (taking its lock) and serves it on `<home>/agent.sock`.
 *
 * Fails with `VAULT_UNAVAILABLE` when another live process holds the vault lock (for example
 * an agent that won a start-up race), before touching the socket.
 */
export async function serveAgent(options: ServeAgentOptions): Promise<AgentServer> {
  const home = resolvePath(options.home)
  const idleMs = options.idleMs ?? 60_000
  const log = options.log ?? (() => {})
  const socketPath = agentSocketPath(home)

  // The lock comes first: only its holder may touch the socket file, so two agents racing
  // can never remove each other's socket.
  const { store, rootKey } = await openEmbeddedVault({
    home,
    ...(options.rootKey === undefined ? {} : { rootKey: options.rootKey }),
  })

  const connections = new Set<Socket>()
  const subscribers = new Set<Socket>()
  let inFlight = 0
  let stopping = false
  let idleTimer: NodeJS.Timeout | undefined
  let watcher: NodeJS.Timeout | undefined
  let socketInode: number | undefined
  let unsubscribe: (() => Promise<void>) | undefined
  let closing: Promise<void> | undefined
  let resolveClosed = () => {}
  const closed = new Promise<void>((resolve) => {
    resolveClosed = resolve
  })

  const send = (socket: Socket, message: AgentReply | { event: 'change'; name: string }) => {
    if (!socket.writable) return
    socket.write(`${JSON.stringify(message)}\n`)
  }

  const armIdleTimer = () => {
    if (idleTimer) clearTimeout(idleTimer)
    idleTimer = undefined
    if (stopping || connections.size > 0 || inFlight > 0) return
    idleTimer = setTimeout(() => void close('idle'), idleMs)
  }

  const keyId = rootKeyId(rootKey)
  const handle = async (socket: Socket, line: string) => {
    let request: unknown
    try {
      request = JSON.parse(line)
    } catch {
      log({ level: 'error', message: 'a client sent a line that is not JSON; dropped it' })
      socket.destroy()
      return
    }
    if (!isRecord(request) || typeof request.id !== 'number') {
      log({ level: 'error', message: 'a client sent a request without an id; dropped it' })
      socket.destroy()
      return
    }
    const { id, method } = request
    const params = Array.isArray(request.params) ? request.params : []
    if (stopping) {
      // Not run, and said so: the client may safely send it again to the next agent.
      send(socket, {
        id,
        error: { code: 'VAULT_UNAVAILABLE', message: 'the keywarden agent is shutting down' },
        retry: true,
      })
      return
    }
    inFlight++
    try {
      const result = await dispatch(socket, typeof method === 'string' ? method : '', params)
      send(socket, { id, result: result ?? null })
    } catch (error) {
      const failure = errorFromDatabase(error)
      if (failure.code === 'INTERNAL') log({ level: 'error', ...describeError(error) })
      send(socket, { id, error: toWireError(failure) })
    } finally {
      inFlight--
      armIdleTimer()
    }
  }

  const dispatch = async (socket: Socket, method: string, params: unknown[]) => {
    switch (method) {
      case 'hello': {
        const [hello] = params
        const wanted = isRecord(hello) ? hello.keyId : undefined
        if (typeof wanted === 'string' && wanted !== keyId) {
          throw new KeywardenError(
            'ROOT_KEY_INVALID',
            `the keywarden agent for ${home} (pid ${process.pid}) runs with a different root ` +
              'key than the one configured (KEYWARDEN_ROOT_KEY); stop it or use the same key',
          )
        }
        return { pid: process.pid, protocol: PROTOCOL_VERSION }
      }
      case 'subscribe':
        subscribers.add(socket)
        return null
      case 'unsubscribe':
        subscribers.delete(socket)
        return null
      case 'shutdown':
        // Answer first, then stop: the reply is written before the connection ends.
        setImmediate(() => void close('shutdown requested'))
        return null
      default:
        if (!(STORE_METHODS as readonly string[]).includes(method)) {
          throw new KeywardenError('INVALID_ARGUMENT', 'unknown keywarden agent method')
        }
        return encodeResult(method, await callStore(store, method as StoreMethod, params))
    }
  }

  // The handler is in place before the socket exists: a client may connect the moment the
  // socket file appears, and a connection nobody handles would hang it.
  const server = createServer((socket) => {
    if (stopping) {
      socket.destroy()
      return
    }
    connections.add(socket)
    armIdleTimer()
    socket.setEncoding('utf8')
    let buffer = ''
    socket.on('data', (chunk: string) => {
      buffer += chunk
      let newline = buffer.indexOf('\n')
      while (newline !== -1) {
        const line = buffer.slice(0, newline)
        buffer = buffer.slice(newline + 1)
        if (line.trim() !== '') void handle(socket, line)
        newline = buffer.indexOf('\n')
      }
      if (buffer.length > MAX_LINE_BYTES) {
        log({ level: 'error', message: 'a client sent an over-long line; dropped it' })
        socket.destroy()
      }
    })
    // A client that vanishes mid-write is routine (a killed CLI); nothing to report.
    socket.on('error', () => {})
    socket.on('close', () => {
      connections.delete(socket)
      subscribers.delete(socket)
      armIdleTimer()
    })
  })

  const close = (reason = 'closed'): Promise<void> => {
    closing ??= (async () => {
      stopping = true
      if (idleTimer) clearTimeout(idleTimer)
      if (watcher) clearInterval(watcher)
      log({ level: 'info', message: `stopping (${reason})` })
      // Socket first, lock last: once the lock is free another agent may start and create
      // its own socket, which this one must not remove.
      const serverClosed = server.listening
        ? new Promise<void>((resolve) => server.close(() => resolve()))
        : Promise.resolve()
      if (socketInode !== undefined) await removeOwnSocket(socketPath, socketInode)
      await waitFor(() => inFlight === 0, DRAIN_TIMEOUT_MS)
      for (const socket of connections) socket.end()
      try {
        await unsubscribe?.()
      } catch {}
      try {
        await store.close()
      } catch (error) {
        log({ level: 'error', ...describeError(error), message: 'closing the vault failed' })
      }
      for (const socket of connections) socket.destroy()
      await serverClosed
      resolveClosed()
    })()
    return closing
  }

  try {
    // Every change made through this agent (or by the database itself) reaches the subscribed
    // connections, so their clients evict their caches as they would with LISTEN/NOTIFY.
    if (store.subscribe) {
      unsubscribe = await store.subscribe((name) => {
        for (const socket of subscribers) send(socket, { event: 'change', name })
      })
    }
    await removeStaleSocket(socketPath)
    await listen(server, socketPath)
    socketInode = (await statLink(socketPath)).ino
  } catch (error) {
    await close('could not listen')
    throw error
  }

  // A home deleted under the agent (a test's temporary home, `rm -rf ~/.keywarden`) or a
  // socket replaced by hand means nobody can reach this agent any more: stop rather than
  // linger until the idle timeout.
  const inode = socketInode
  watcher = setInterval(() => {
    statLink(socketPath).then(
      (info) => {
        if (info.ino !== inode) void close('socket replaced')
      },
      () => void close('socket removed'),
    )
  }, WATCH_INTERVAL_MS)
  watcher.unref()

  armIdleTimer()
  log({ level: 'info', message: `serving ${home} (pid ${process.pid})` })
  return { home, socketPath, closed, close }
}

/** Calls one store method with the decoded parameters of a request. */
function callStore(store: SecretStore, method: StoreMethod, params: unknown[]): Promise<unknown> {
  const [a, b, c, d] = params
  switch (method) {
    case 'getSecret':
      return store.getSecret(text(a), text(b), c === 'previous' ? 'previous' : 'current')
    case 'getSecrets': {
      if (!Array.isArray(a)) throw invalid('names must be an array')
      return store.getSecrets(a.map(text), text(b))
    }
    case 'storeSecret':
      return store.storeSecret(text(a), text(b), storeInput(c), text(d))
    case 'updateSecretMetadata':
      return store.updateSecretMetadata(text(a), storeInput(b), text(c))
    case 'rotateSecret':
      return store.rotateSecret(text(a), text(b), number(c), text(d))
    case 'deleteSecret':
      return store.deleteSecret(text(a), text(b))
    case 'listSecrets':
      return store.listSecrets(text(a))
    case 'checkExpiringSecrets':
      return store.checkExpiringSecrets(number(a), text(b), optionalDate(c, 'now'))
    case 'stageRotation':
      return store.stageRotation(text(a), text(b), text(c))
    case 'getStagedSecret':
      return store.getStagedSecret(text(a), text(b))
    case 'promoteRotation':
      return store.promoteRotation(text(a), number(b), text(c))
    case 'discardRotation':
      return store.discardRotation(text(a), text(b))
    case 'secretMetrics':
      return store.secretMetrics(optionalDate(a, 'now'))
    case 'secretAlerts': {
      const filter = isRecord(a) ? a : {}
      return store.secretAlerts({
        ...dated('since', optionalDate(filter.since, 'since')),
        ...dated('now', optionalDate(filter.now, 'now')),
      })
    }
    case 'claimNotifications':
      return store.claimNotifications(claims(a), text(b))
    case 'releaseNotifications':
      return store.releaseNotifications(claims(a))
    case 'logAccessBatch': {
      if (!Array.isArray(a)) throw invalid('events must be an array')
      return store.logAccessBatch(a)
    }
    case 'queryAudit':
      return store.queryAudit(auditFilter(a))
    case 'verifyAuditLog':
      return store.verifyAuditLog(auditAnchor(a))
    case 'dashboardQuery':
      return store.dashboardQuery(dashboardFunction(a), dashboardArguments(b))
    case 'listDoorPolicies':
      return store.listDoorPolicies()
    case 'setDoorPolicy':
      return store.setDoorPolicy(doorPolicyRule(a), text(b))
    case 'deleteDoorPolicy':
      return store.deleteDoorPolicy(text(a), text(b), text(c))
    case 'oauthCall': {
      if (!isRecord(b)) throw invalid('OAuth arguments must be an object')
      return store.oauthCall(text(a), b)
    }
    case 'ping':
      return store.ping()
    case 'schemaVersion':
      return store.schemaVersion?.() ?? Promise.resolve(null)
  }
}

function text(value: unknown): string {
  if (typeof value !== 'string') throw invalid('expected a string argument')
  return value
}

function optionalDate(value: unknown, field: string): Date | undefined {
  return value === undefined || value === null ? undefined : reviveDate(value, field)
}

/** `{ [key]: date }`, or nothing when the date is absent (exactOptionalPropertyTypes-safe). */
function dated<K extends string>(key: K, date: Date | undefined): Partial<Record<K, Date>> {
  return date === undefined ? {} : ({ [key]: date } as Record<K, Date>)
}

function claims(value: unknown): NotificationClaim[] {
  if (!Array.isArray(value)) throw invalid('claims must be an array')
  return value.map((claim) => {
    if (!isRecord(claim)) throw invalid('a claim must be an object')
    return {
      kind: text(claim.kind),
      secretName: text(claim.secretName),
      windowKey: text(claim.windowKey),
    }
  })
}

function number(value: unknown): number {
  if (typeof value !== 'number') throw invalid('expected a number argument')
  return value
}

function invalid(message: string): KeywardenError {
  return new KeywardenError('INVALID_ARGUMENT', `keywarden agent request: ${message}`)
}

function storeInput(value: unknown): StoreSecretInput {
  if (!isRecord(value)) return {}
  const input: StoreSecretInput = {}
  if (typeof value.description === 'string') input.description = value.description
  if (typeof value.type === 'string') input.type = value.type as StoreSecretInput['type']
  if (value.expiresAt !== undefined && value.expiresAt !== null) {
    input.expiresAt = reviveDate(value.expiresAt, 'expiresAt')
  }
  if (typeof value.rotationIntervalDays === 'number') {
    input.rotationIntervalDays = value.rotationIntervalDays
  }
  if (typeof value.agentVisible === 'boolean') input.agentVisible = value.agentVisible
  if (typeof value.protected === 'boolean') input.protected = value.protected
  if (Array.isArray(value.allowedCommands)) {
    if (!value.allowedCommands.every((command) => typeof command === 'string')) {
      throw invalid('allowedCommands must be an array of strings')
    }
    input.allowedCommands = value.allowedCommands
  }
  if (Array.isArray(value.allowedHosts)) {
    if (!value.allowedHosts.every((host) => typeof host === 'string')) {
      throw invalid('allowedHosts must be an array of strings')
    }
    input.allowedHosts = value.allowedHosts
  }
  return input
}

function doorPolicyRule(value: unknown): DoorPolicyRule {
  if (!isRecord(value)) throw invalid('a door policy rule must be an object')
  const flag = (key: string): boolean => {
    if (typeof value[key] !== 'boolean') throw invalid(`${key} must be a boolean`)
    return value[key] as boolean
  }
  return {
    doorPattern: text(value.doorPattern),
    secretPattern: text(value.secretPattern),
    canReadMetadata: flag('canReadMetadata'),
    canUseHosts: flag('canUseHosts'),
    canUseCommands: flag('canUseCommands'),
    canReveal: flag('canReveal'),
    canWrite: flag('canWrite'),
    canCreate: flag('canCreate'),
  }
}

function auditFilter(value: unknown): AuditFilter {
  if (!isRecord(value)) return {}
  const filter: AuditFilter = {}
  if (typeof value.secretName === 'string') filter.secretName = value.secretName
  if (typeof value.failedOnly === 'boolean') filter.failedOnly = value.failedOnly
  if (value.since !== undefined && value.since !== null) {
    filter.since = reviveDate(value.since, 'since')
  }
  if (typeof value.limit === 'number') filter.limit = value.limit
  return filter
}

function dashboardFunction(value: unknown): DashboardFunction {
  const fn = DASHBOARD_FUNCTIONS.find((name) => name === value)
  if (fn === undefined) throw invalid('not a dashboard function')
  return fn
}

function dashboardArguments(value: unknown): DashboardArguments {
  if (!isRecord(value)) throw invalid('dashboard arguments must be an object')
  const args: DashboardArguments = {}
  for (const [key, item] of Object.entries(value)) {
    if (item !== null && typeof item !== 'string') throw invalid('expected a string argument')
    args[key] = item
  }
  return args
}

function auditAnchor(value: unknown): AuditAnchor | undefined {
  if (value === null || value === undefined) return undefined
  if (!isRecord(value) || typeof value.id !== 'number' || typeof value.hash !== 'string') {
    throw invalid('an anchor is { id, hash }')
  }
  return { id: value.id, hash: value.hash }
}

/**
 * Removes a socket file left by an agent that died (SIGKILL, power loss). Only sockets that
 * refuse connections go: anything else there is not ours to delete.
 */
async function removeStaleSocket(socketPath: string): Promise<void> {
  let info: Awaited<ReturnType<typeof statLink>>
  try {
    info = await statLink(socketPath)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return
    throw error
  }
  if (!info.isSocket()) {
    throw new KeywardenError(
      'CONFIGURATION_ERROR',
      `${socketPath} exists and is not a socket; remove it to let the keywarden agent start`,
    )
  }
  const answered = await new Promise<boolean>((resolve) => {
    const probe = createConnection(socketPath)
    probe.once('connect', () => {
      probe.destroy()
      resolve(true)
    })
    probe.once('error', () => resolve(false))
  })
  if (answered) {
    // We hold the vault lock, so whoever listens there serves no vault of ours.
    throw new KeywardenError(
      'VAULT_UNAVAILABLE',
      `another process is listening on ${socketPath} although this agent holds the vault lock`,
    )
  }
  await rm(socketPath, { force: true })
}

/** Listens on `socketPath`, creating the socket file 0600 from the start. */
async function listen(server: Server, socketPath: string): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    // The socket file is created by bind() inside listen(), with the process umask. Narrowing
    // the umask around the call creates it 0600 with no window in which it is wider. (Worker
    // threads may not change the umask; the chmod below and the 0700 home still hold there.)
    let previous: number | undefined
    try {
      previous = process.umask(0o177)
    } catch {}
    try {
      server.listen(socketPath, () => {
        server.off('error', reject)
        resolve()
      })
    } finally {
      if (previous !== undefined) process.umask(previous)
    }
  })
  await setMode(socketPath, 0o600)
}

/** Removes the socket file if it is still the one this agent created. */
async function removeOwnSocket(socketPath: string, inode: number): Promise<void> {
  try {
    if ((await statLink(socketPath)).ino === inode) await rm(socketPath, { force: true })
  } catch {}
}

async function waitFor(done: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!done() && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

/**
 * What may be logged about an error: a KeywardenError's code and message (value-free by
 * contract), a system error's code and syscall, else only the class of error.
 */
export function describeError(error: unknown): { code?: string; message: string } {
  if (error instanceof KeywardenError) return { code: error.code, message: error.message }
  const system = error as NodeJS.ErrnoException
  if (
    error instanceof Error &&
    typeof system.syscall === 'string' &&
    typeof system.code === 'string'
  ) {
    const path = typeof system.path === 'string' ? ` ${system.path}` : ''
    return { code: system.code, message: `${system.code} in ${system.syscall}${path}` }
  }
  const mapped = errorFromDatabase(error)
  return { code: mapped.code, message: mapped.message }
}
