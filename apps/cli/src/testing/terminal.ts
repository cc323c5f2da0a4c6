/**
 * Test-only: runs the built `keywarden` on a real pseudo-terminal (util-linux `script`), as a
 * person at a terminal would, typing each step's text once the screen shows what it waits for.
 */
import { spawn } from 'node:child_process'
import { keychainEnvironment } from '../../../../packages/core/src/testing/keychain.ts'
import { shellQuote } from '../format.ts'
import { CLI_PATH } from './run-cli.ts'

export interface TerminalResult {
  code: number | null
  /** stdout and stderr together, as the terminal showed them (with CRLF line ends). */
  screen: string
}

/** Runs the CLI on a pseudo-terminal; each step waits for text on the screen, then types. */
export function runInTerminal(
  args: readonly string[],
  env: Record<string, string>,
  steps: ReadonlyArray<{ waitFor: string; type: string }> = [],
): Promise<TerminalResult> {
  const command = [process.execPath, CLI_PATH, ...args].map(shellQuote).join(' ')
  return new Promise((resolve, reject) => {
    // util-linux script: -q quiet, -e the child's exit code, -c the command; no typescript file.
    const child = spawn('script', ['-qec', command, '/dev/null'], {
      env: { PATH: process.env.PATH, TERM: 'xterm', ...keychainEnvironment(), ...env },
      stdio: ['pipe', 'pipe', 'pipe'],
      timeout: 30_000,
    })
    let screen = ''
    let next = 0
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      screen += chunk
      const step = steps[next]
      if (step && screen.includes(step.waitFor)) {
        next++
        child.stdin.write(step.type)
      }
    })
    child.on('error', reject)
    child.on('close', (code) => resolve({ code, screen }))
  })
}
