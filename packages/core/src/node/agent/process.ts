/**
 * The agent process: `node dist/node/agent/process.js`, started detached by
 * `createAgentStore` (index.ts) when no agent answers on `<home>/agent.sock`.
 *
 * Configured by its environment: `KEYWARDEN_HOME`, `KEYWARDEN_ROOT_KEY`, and
 * `KEYWARDEN_AGENT_IDLE_MS` (default 60000). Writes one `ready` line to stdout once serving,
 * nothing else; what goes wrong goes to `<home>/agent.log` (0600), codes and value-free
 * messages only.
 *
 * Exit status: 0 after a clean stop (idle, shutdown request, SIGTERM/SIGINT/SIGHUP),
 * 75 when another live process holds the vault (the losing side of a start-up race),
 * 1 when it could not start (the reason is the log's last line).
 * @module
 */
import { appendFileSync, chmodSync, mkdirSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { isKeywardenError } from '../../errors/index.ts'
import { EXIT_FAILED, EXIT_LOCK_HELD, LOG_FILE, resolveAgentHome } from './protocol.ts'
import { type AgentLogEntry, type AgentServer, describeError, serveAgent } from './server.ts'

/** The log is for the last few problems, not an archive: start over past this size. */
const MAX_LOG_BYTES = 256 * 1024

const home = resolveAgentHome(undefined, process.env)
const logPath = join(home, LOG_FILE)

function writeLog(entry: AgentLogEntry): void {
  const line = JSON.stringify({ time: new Date().toISOString(), pid: process.pid, ...entry })
  try {
    appendFileSync(logPath, `${line}\n`, { mode: 0o600 })
  } catch {
    // The home was removed under us: nowhere to report to, and nobody to read it.
  }
}

function prepareLog(): void {
  try {
    mkdirSync(home, { recursive: true, mode: 0o700 })
    if ((statSync(logPath, { throwIfNoEntry: false })?.size ?? 0) > MAX_LOG_BYTES) {
      writeFileSync(logPath, '', { mode: 0o600 })
    }
    appendFileSync(logPath, '', { mode: 0o600 })
    chmodSync(logPath, 0o600)
  } catch {}
}

function idleMs(): number | undefined {
  const raw = process.env.KEYWARDEN_AGENT_IDLE_MS?.trim()
  const parsed = raw ? Number(raw) : Number.NaN
  return Number.isFinite(parsed) && parsed > 0 ? parsed : undefined
}

prepareLog()
process.on('uncaughtException', (error) => {
  writeLog({ level: 'error', ...describeError(error), message: 'crashed' })
  process.exit(EXIT_FAILED)
})

// Installed before anything is opened: a signal while PGlite opens must not kill the process
// with the lock taken and the socket made, so it is remembered and honoured once serving.
let server: AgentServer | undefined
let stopSignal: NodeJS.Signals | undefined
for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
  process.on(signal, () => {
    stopSignal ??= signal
    void server?.close(signal)
  })
}

try {
  const rootKey = process.env.KEYWARDEN_ROOT_KEY?.trim() || undefined
  const idle = idleMs()
  server = await serveAgent({
    home,
    ...(rootKey === undefined ? {} : { rootKey }),
    ...(idle === undefined ? {} : { idleMs: idle }),
    log: writeLog,
  })
  if (stopSignal) void server.close(stopSignal)
  else process.stdout.write(`ready ${process.pid}\n`)
  await server.closed
  process.exitCode = 0
} catch (error) {
  // The embedded store says VAULT_UNAVAILABLE only when another live process has the lock.
  const lockHeld = isKeywardenError(error, 'VAULT_UNAVAILABLE')
  writeLog({ level: lockHeld ? 'info' : 'error', ...describeError(error), startup: true })
  process.exitCode = lockHeld ? EXIT_LOCK_HELD : EXIT_FAILED
}
