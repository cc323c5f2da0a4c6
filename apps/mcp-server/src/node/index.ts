/**
 * `@keywarden/mcp-server/node`: the Node-only pieces the runtime-neutral server takes as
 * options. Today the process runner behind `run_command`.
 * @module
 */
import { spawn } from 'node:child_process'
import { StringDecoder } from 'node:string_decoder'
import { KeywardenError } from '@keywarden/core'
import type { CommandExit, CommandRequest, CommandRunner } from '../run-command/index.ts'

/** Options for {@link createNodeCommandRunner}. */
export interface NodeCommandRunnerOptions {
  /** The environment the injected secrets are added to. Default: this process's, see {@link childEnvironment}. */
  env?: NodeJS.ProcessEnv
}

// After the process exits, how long its pipes may stay open: a background process it left
// behind can hold them for ever.
const DRAIN_MS = 1_000

/**
 * The base environment for commands: `env` without the variables that reach the vault
 * (`KEYWARDEN_*`, database URLs, the Supabase service role key). A command gets the secrets
 * it was given, not the keys to all of them.
 */
export function childEnvironment(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const vaultAccess =
    /^(KEYWARDEN_.*|SUPABASE_SERVICE_ROLE_KEY|SUPABASE_DB_URL|POSTGRES_URL|DATABASE_URL)$/
  return Object.fromEntries(Object.entries(env).filter(([name]) => !vaultAccess.test(name)))
}

/**
 * Runs commands with `child_process.spawn` (no shell, stdin closed): output decoded as UTF-8
 * and handed over as it arrives; an abort kills the process (SIGKILL: a command that ignores
 * SIGTERM must not outlive its timeout).
 */
export function createNodeCommandRunner(options: NodeCommandRunnerOptions = {}): CommandRunner {
  const base = options.env ?? childEnvironment()
  return { run: (request) => runProcess(base, request) }
}

function runProcess(base: NodeJS.ProcessEnv, request: CommandRequest): Promise<CommandExit> {
  return new Promise((resolve, reject) => {
    const child = spawn(request.command, [...request.args], {
      env: { ...base, ...request.env },
      stdio: ['ignore', 'pipe', 'pipe'],
      shell: false,
      windowsHide: true,
    })
    const kill = () => child.kill('SIGKILL')
    request.signal.addEventListener('abort', kill, { once: true })
    for (const stream of ['stdout', 'stderr'] as const) {
      const decoder = new StringDecoder('utf8')
      const emit = (text: string) => {
        if (text !== '') request.onOutput(stream, text)
      }
      child[stream].on('data', (chunk: Buffer) => emit(decoder.write(chunk)))
      child[stream].on('end', () => emit(decoder.end()))
    }
    child.once('error', (error: NodeJS.ErrnoException) => {
      request.signal.removeEventListener('abort', kill)
      reject(
        new KeywardenError(
          'INVALID_ARGUMENT',
          error.code === 'ENOENT'
            ? `command not found: ${request.command}`
            : `cannot run ${request.command}: ${error.code ?? 'error'}`,
        ),
      )
    })
    child.once('exit', (exitCode, signal) => {
      request.signal.removeEventListener('abort', kill)
      const drained = setTimeout(() => {
        child.stdout.destroy()
        child.stderr.destroy()
      }, DRAIN_MS)
      child.once('close', () => {
        clearTimeout(drained)
        resolve({ exitCode, signal })
      })
    })
  })
}
