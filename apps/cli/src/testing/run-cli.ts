/**
 * Test-only: runs the built `keywarden` as a real process, as a user's shell would.
 */
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { keychainEnvironment } from '../../../../packages/core/src/testing/keychain.ts'

/** The built entry point; tests need `npm run build` first (turbo's test task does it). */
export const CLI_PATH = fileURLToPath(new URL('../../dist/bin.js', import.meta.url))

/** What a run printed and how it ended. */
export interface CliResult {
  code: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
}

/** Options for {@link runCli}. */
export interface RunCliOptions {
  /**
   * The whole environment: nothing is inherited but PATH and what reaches this run's keychain
   * (the D-Bus session), so the CLI keeps its root key where a user's would.
   */
  env?: Record<string, string | undefined>
  /** Written to stdin, which is then closed. Bytes for input that is not UTF-8 text. */
  input?: string | Uint8Array
  /**
   * Kills a hung CLI. Default 90 s: the first command on a new embedded vault creates its
   * PGlite data directory (≈ 5 s alone, many times that on a loaded 2-core CI machine).
   */
  timeoutMs?: number
  /** The working directory (default the test's own). */
  cwd?: string
}

/** Spawns `node dist/bin.js ...args` and collects its output. */
export function runCli(args: readonly string[], options: RunCliOptions = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI_PATH, ...args], {
      env: { PATH: process.env.PATH, ...keychainEnvironment(), ...options.env },
      ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
      stdio: ['pipe', 'pipe', 'pipe'],
      timeout: options.timeoutMs ?? 90_000,
    })
    let stdout = ''
    let stderr = ''
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk
    })
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk
    })
    child.on('error', reject)
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }))
    child.stdin.end(options.input ?? '')
  })
}
