/**
 * `@keywarden/mcp-server/node`: the Node-only pieces the runtime-neutral server takes as
 * options. Today the process runner behind `run_command`.
 * @module
 */
import { spawn } from 'node:child_process'
import { constants } from 'node:fs'
import { access, realpath } from 'node:fs/promises'
import { delimiter, isAbsolute, join } from 'node:path'
import { StringDecoder } from 'node:string_decoder'
import { KeywardenError, withoutVaultAccess } from '@keywarden/core'
import {
  type CommandExit,
  type CommandRequest,
  type CommandRunner,
  executableName,
  runsArbitraryCode,
} from '../run-command/index.ts'

/** Options for {@link createNodeCommandRunner}. */
export interface NodeCommandRunnerOptions {
  /** The environment the injected secrets are added to. Default: this process's, see {@link childEnvironment}. */
  env?: NodeJS.ProcessEnv
}

// After the process exits, how long its pipes may stay open: a background process it left
// behind can hold them for ever.
const DRAIN_MS = 1_000

/**
 * The base environment for commands: `env` without the variables that reach the vault (the
 * core's {@link withoutVaultAccess}, the same rule `keywarden run` applies). A command gets the
 * secrets it was given, not the keys to all of them.
 */
export function childEnvironment(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  return withoutVaultAccess(env)
}

/**
 * Runs commands with `child_process.spawn` (no shell, stdin closed): output decoded as UTF-8
 * and handed over as it arrives; an abort kills the process (SIGKILL: a command that ignores
 * SIGTERM must not outlive its timeout).
 */
export function createNodeCommandRunner(options: NodeCommandRunnerOptions = {}): CommandRunner {
  const base = options.env ?? childEnvironment()
  return {
    async run(request) {
      await refuseDisguisedCodeRunner(request.command, base.PATH)
      return runProcess(base, request)
    },
  }
}

/**
 * The file `command` starts, links resolved: the path itself when it has one, else the first
 * executable of that name on `path`. Undefined when there is none.
 */
export async function resolveExecutable(
  command: string,
  path: string | undefined,
): Promise<string | undefined> {
  const candidates =
    isAbsolute(command) || command.includes('/')
      ? [command]
      : (path ?? '')
          .split(delimiter)
          .filter((dir) => dir !== '')
          .map((dir) => join(dir, command))
  for (const candidate of candidates) {
    try {
      await access(candidate, constants.X_OK)
      return await realpath(candidate)
    } catch {}
  }
  return undefined
}

/**
 * run_command judges an executable by its name; a link or copy named `mytool` that is really
 * `bash` would pass that check, so the file it resolves to is judged too.
 */
async function refuseDisguisedCodeRunner(command: string, path: string | undefined) {
  if (runsArbitraryCode(command)) return // judged, and allowed as unsafe, by name already
  const target = await resolveExecutable(command, path)
  if (target !== undefined && runsArbitraryCode(target)) {
    throw new KeywardenError(
      'ACCESS_DENIED',
      `${command} is ${executableName(target)}, which runs code taken from its arguments or configuration: it is refused`,
    )
  }
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
    // Aborted while the executable was being resolved: the listener came too late to hear it.
    if (request.signal.aborted) kill()
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
