/**
 * Test-only: starts the built `keywarden` and lets a test talk to it while it runs — wait for
 * output, send it signals — before collecting how it ended.
 */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process'
import { keychainEnvironment } from '../../../../packages/core/src/testing/keychain.ts'
import { CLI_PATH, type CliResult } from './run-cli.ts'

/** A running CLI. */
export interface StartedCli {
  child: ChildProcessWithoutNullStreams
  /** Resolves once stdout contains `text`; rejects if the CLI ends first or after `timeoutMs`. */
  waitForStdout(text: string, timeoutMs?: number): Promise<void>
  /** Everything on stdout so far. */
  stdout(): string
  /** Resolves when the CLI has exited and its output is closed. */
  result: Promise<CliResult>
}

/** Spawns `node dist/bin.js ...args` with the given environment (nothing but PATH and the keychain's session inherited). */
export function startCli(
  args: readonly string[],
  options: { env?: Record<string, string | undefined>; timeoutMs?: number } = {},
): StartedCli {
  const child = spawn(process.execPath, [CLI_PATH, ...args], {
    env: { PATH: process.env.PATH, ...keychainEnvironment(), ...options.env },
    stdio: ['pipe', 'pipe', 'pipe'],
    timeout: options.timeoutMs ?? 30_000,
  })
  let stdout = ''
  let stderr = ''
  let closed = false
  const waiters = new Set<() => void>()
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk
    for (const check of waiters) check()
  })
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk
  })
  const result = new Promise<CliResult>((resolve, reject) => {
    child.on('error', reject)
    child.on('close', (code, signal) => {
      closed = true
      for (const check of waiters) check()
      resolve({ code, signal, stdout, stderr })
    })
  })
  return {
    child,
    result,
    stdout: () => stdout,
    waitForStdout(text, timeoutMs = 15_000) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.delete(check)
          reject(
            new Error(`no ${JSON.stringify(text)} on stdout; stdout: ${stdout} stderr: ${stderr}`),
          )
        }, timeoutMs)
        const check = () => {
          if (stdout.includes(text)) {
            clearTimeout(timer)
            waiters.delete(check)
            resolve()
          } else if (closed) {
            clearTimeout(timer)
            waiters.delete(check)
            reject(new Error(`the CLI ended before ${JSON.stringify(text)}; stderr: ${stderr}`))
          }
        }
        waiters.add(check)
        check()
      })
    },
  }
}
