/**
 * The wire format between `keywarden` processes and the local agent: newline-delimited JSON
 * over `<home>/agent.sock`. Shared by the client (index.ts) and the server (server.ts), and
 * kept free of PGlite so that the client stays cheap to load.
 *
 * - request `{id, method, params}` → `{id, result}` or `{id, error: {code, message}}`
 * - after `subscribe`, the connection also receives `{event: 'change', name}`
 *
 * JSON turns Dates into ISO strings; each method's Date fields are revived by name on the other
 * side (never by the look of a string, since a secret value may look like a date).
 * @module
 */
import { createHash } from 'node:crypto'
import { homedir } from 'node:os'
import { join, resolve } from 'node:path'
import { EXIT_CODES, KeywardenError, type KeywardenErrorCode } from '../../errors/index.ts'
import type {
  AuditRecord,
  ExpiringSecret,
  RotationResult,
  SecretAlert,
  SecretMetadata,
  SecretMetric,
  StoredDoorPolicyRule,
  StoredSecret,
} from '../../store/index.ts'

/** Bumped when a change would confuse an older peer. */
export const PROTOCOL_VERSION = 1

/** The socket file's name inside `KEYWARDEN_HOME`. */
export const SOCKET_FILE = 'agent.sock'

/** The agent's log file's name inside `KEYWARDEN_HOME`. */
export const LOG_FILE = 'agent.log'

/** The lock file the embedded store writes (see embedded.ts). */
export const LOCK_FILE = 'vault.lock'

/**
 * The agent process's exit status when another live process holds the vault lock: the normal
 * end of the losing side of a race, so clients keep waiting for the winner's socket.
 * (EX_TEMPFAIL from sysexits.h.)
 */
export const EXIT_LOCK_HELD = 75

/** Exit status when the agent could not start; the reason is the last line of agent.log. */
export const EXIT_FAILED = 1

/** A lone line longer than this is a broken or hostile peer, not a request. */
export const MAX_LINE_BYTES = 16 * 1024 * 1024

/** The store methods the agent serves, beside `hello`, `subscribe`, `unsubscribe`, `shutdown`. */
export const STORE_METHODS = [
  'getSecret',
  'getSecrets',
  'storeSecret',
  'rotateSecret',
  'deleteSecret',
  'listSecrets',
  'checkExpiringSecrets',
  'updateSecretMetadata',
  'stageRotation',
  'getStagedSecret',
  'promoteRotation',
  'discardRotation',
  'secretMetrics',
  'secretAlerts',
  'claimNotifications',
  'releaseNotifications',
  'logAccessBatch',
  'queryAudit',
  'verifyAuditLog',
  'dashboardQuery',
  'listDoorPolicies',
  'setDoorPolicy',
  'deleteDoorPolicy',
  'oauthCall',
  'ping',
  'schemaVersion',
] as const

/** One of {@link STORE_METHODS}. */
export type StoreMethod = (typeof STORE_METHODS)[number]

/**
 * Methods that change nothing, so a client may send them again when the connection dropped
 * before the answer came (the agent may or may not have run them). The rest are retried only
 * when they provably never reached the agent.
 */
export const READ_ONLY_METHODS: ReadonlySet<string> = new Set([
  'getSecret',
  'getSecrets',
  'listSecrets',
  'checkExpiringSecrets',
  'getStagedSecret',
  'secretMetrics',
  'secretAlerts',
  'queryAudit',
  'verifyAuditLog',
  'dashboardQuery',
  'listDoorPolicies',
  'ping',
  'schemaVersion',
  'hello',
  'subscribe',
  'unsubscribe',
])

/** A request line. */
export interface AgentRequest {
  id: number
  method: string
  params: unknown[]
}

/** An error as it crosses the socket: the KeywardenError's code and message, nothing else. */
export interface WireError {
  code: string
  message: string
  secretName?: string
  sqlState?: string
}

/** A reply line. `retry` means the agent did not run the request (it is shutting down). */
export type AgentReply =
  | { id: number; result: unknown }
  | { id: number; error: WireError; retry?: true }

/** A pushed line on a subscribed connection. */
export interface AgentEvent {
  event: 'change'
  name: string
}

/** What `hello` answers. */
export interface HelloResult {
  pid: number
  protocol: number
}

/** Where the socket of the agent for `home` lives. */
export function agentSocketPath(home: string): string {
  return join(home, SOCKET_FILE)
}

/**
 * The vault home as an absolute path: `home`, else `KEYWARDEN_HOME`, else `~/.keywarden`.
 * The same rule as `defaultKeywardenHome` in embedded.ts, repeated here so that the client
 * does not load PGlite just to find the folder.
 */
export function resolveAgentHome(
  home: string | undefined,
  env: Record<string, string | undefined> = process.env,
): string {
  return resolve(home ?? (env.KEYWARDEN_HOME || join(homedir(), '.keywarden')))
}

/**
 * A one-way fingerprint of a root key, so a client can check that the running agent uses the
 * key it was configured with without sending the key itself.
 */
export function rootKeyId(rootKey: string): string {
  return createHash('sha256')
    .update(`keywarden-agent-root-key\0${rootKey.trim().toLowerCase()}`)
    .digest('hex')
    .slice(0, 32)
}

/** The wire form of any error: a KeywardenError's code and (value-free) message. */
export function toWireError(error: KeywardenError): WireError {
  return {
    code: error.code,
    message: error.message,
    ...(error.secretName === undefined ? {} : { secretName: error.secretName }),
    ...(error.sqlState === undefined ? {} : { sqlState: error.sqlState }),
  }
}

/** Turns a wire error back into a KeywardenError; an unknown code becomes INTERNAL. */
export function fromWireError(wire: unknown): KeywardenError {
  const record = isRecord(wire) ? wire : {}
  const code =
    typeof record.code === 'string' && Object.hasOwn(EXIT_CODES, record.code)
      ? (record.code as KeywardenErrorCode)
      : 'INTERNAL'
  const message = typeof record.message === 'string' ? record.message : 'the keywarden agent failed'
  return new KeywardenError(code, message, {
    ...(typeof record.secretName === 'string' ? { secretName: record.secretName } : {}),
    ...(typeof record.sqlState === 'string' ? { sqlState: record.sqlState } : {}),
  })
}

/** Whether `value` is a plain JSON object. */
export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/**
 * Revives an ISO timestamp sent over the socket.
 * @throws {KeywardenError} `INVALID_ARGUMENT` when it is not a date
 */
export function reviveDate(value: unknown, field: string): Date {
  const date = value instanceof Date ? value : new Date(typeof value === 'string' ? value : NaN)
  if (Number.isNaN(date.getTime())) {
    throw new KeywardenError('INVALID_ARGUMENT', `${field} must be an ISO 8601 timestamp`)
  }
  return date
}

function reviveOptionalDate(value: unknown, field: string): Date | null {
  return value === null || value === undefined ? null : reviveDate(value, field)
}

function records(value: unknown): Record<string, unknown>[] {
  if (!Array.isArray(value)) throw malformed()
  return value.map((item) => {
    if (!isRecord(item)) throw malformed()
    return item
  })
}

function malformed(): KeywardenError {
  return new KeywardenError('INTERNAL', 'the keywarden agent sent a malformed reply')
}

/**
 * Puts a result in its JSON form. Only `getSecrets` needs help (a Map); Dates serialise
 * themselves as ISO strings.
 */
export function encodeResult(method: string, result: unknown): unknown {
  if (method === 'getSecrets' && result instanceof Map) return [...result.entries()]
  return result ?? null
}

/** Turns a JSON result back into what the SecretStore method returns (Dates, Maps). */
export function decodeResult(method: string, result: unknown): unknown {
  switch (method) {
    case 'getSecrets': {
      if (!Array.isArray(result)) throw malformed()
      const entries = result.map((entry): [string, StoredSecret | null] => {
        if (!Array.isArray(entry) || typeof entry[0] !== 'string') throw malformed()
        return [entry[0], isRecord(entry[1]) ? (entry[1] as unknown as StoredSecret) : null]
      })
      return new Map(entries)
    }
    case 'stageRotation':
      return reviveDate(result, 'stagedAt')
    case 'secretMetrics':
      return records(result).map(
        (row) =>
          ({
            ...(row as unknown as SecretMetric),
            lastAccessedAt: reviveOptionalDate(row.lastAccessedAt, 'lastAccessedAt'),
            lastRotatedAt: reviveOptionalDate(row.lastRotatedAt, 'lastRotatedAt'),
            rotationDueAt: reviveOptionalDate(row.rotationDueAt, 'rotationDueAt'),
            expiresAt: reviveOptionalDate(row.expiresAt, 'expiresAt'),
            rotationStagedAt: reviveOptionalDate(row.rotationStagedAt, 'rotationStagedAt'),
          }) satisfies SecretMetric,
      )
    case 'secretAlerts':
      return records(result).map(
        (row) =>
          ({
            ...(row as unknown as SecretAlert),
            occurredAt: reviveDate(row.occurredAt, 'occurredAt'),
          }) satisfies SecretAlert,
      )
    case 'promoteRotation':
    case 'rotateSecret': {
      if (!isRecord(result)) throw malformed()
      return {
        ...(result as unknown as RotationResult),
        previousValidUntil: reviveOptionalDate(result.previousValidUntil, 'previousValidUntil'),
      } satisfies RotationResult
    }
    case 'listDoorPolicies':
      return records(result).map(
        (row) =>
          ({
            ...(row as unknown as StoredDoorPolicyRule),
            updatedAt: reviveDate(row.updatedAt, 'updatedAt'),
          }) satisfies StoredDoorPolicyRule,
      )
    case 'listSecrets':
      return records(result).map(
        (row) =>
          ({
            ...(row as unknown as SecretMetadata),
            createdAt: reviveDate(row.createdAt, 'createdAt'),
            updatedAt: reviveDate(row.updatedAt, 'updatedAt'),
            lastRotatedAt: reviveOptionalDate(row.lastRotatedAt, 'lastRotatedAt'),
            expiresAt: reviveOptionalDate(row.expiresAt, 'expiresAt'),
            rotationDueAt: reviveOptionalDate(row.rotationDueAt, 'rotationDueAt'),
            previousValidUntil: reviveOptionalDate(row.previousValidUntil, 'previousValidUntil'),
          }) satisfies SecretMetadata,
      )
    case 'checkExpiringSecrets':
      return records(result).map(
        (row) =>
          ({
            ...(row as unknown as ExpiringSecret),
            dueAt: reviveDate(row.dueAt, 'dueAt'),
            expiresAt: reviveOptionalDate(row.expiresAt, 'expiresAt'),
            rotationDueAt: reviveOptionalDate(row.rotationDueAt, 'rotationDueAt'),
          }) satisfies ExpiringSecret,
      )
    case 'queryAudit':
      return records(result).map(
        (row) =>
          ({
            ...(row as unknown as AuditRecord),
            createdAt: reviveDate(row.createdAt, 'createdAt'),
          }) satisfies AuditRecord,
      )
    default:
      return result
  }
}

/** Whether a process with this pid exists (EPERM: it does, under another user). */
export function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/**
 * Whether a socket path fits in `sockaddr_un` (108 bytes on Linux, 104 on macOS, with the
 * terminating NUL). A longer home cannot host the agent; callers open the vault directly.
 */
export function fitsSocketPath(socketPath: string): boolean {
  return Buffer.byteLength(socketPath) <= 103
}

/**
 * The connection to the agent ended before an answer came. Internal to the client, which
 * turns it into a retry or a `VAULT_UNAVAILABLE`.
 */
export class AgentDropped extends Error {
  /** The request reached the agent's socket, so the agent may have run it. */
  readonly delivered: boolean

  constructor(delivered: boolean) {
    super('the connection to the keywarden agent ended')
    this.name = 'AgentDropped'
    this.delivered = delivered
  }
}
