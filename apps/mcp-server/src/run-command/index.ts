/**
 * `run_command`: runs an executable the user allowed, with secrets in its environment and
 * every injected value masked in its output, as `keywarden run` does. Off unless the user
 * lists allowed executables (`KEYWARDEN_MCP_ALLOWED_COMMANDS` for `keywarden-mcp`).
 *
 * This module is runtime-neutral: starting processes is the {@link CommandRunner}'s job, which
 * the host injects (Node's is at `@keywarden/mcp-server/node`). Masking, limits and audit
 * happen here, so every runner gets them.
 * @module
 */
import {
  createStreamRedactor,
  environmentVariableFor,
  KeywardenError,
  type NamedSecret,
  SECRET_NAME_PATTERN,
  type StreamRedactor,
  type VaultClient,
} from '@keywarden/core'
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js'
import { z } from 'zod'
import type { ToolLogger } from '../logging/index.ts'
import { auditUse, guarded, OPEN_WORLD_ACTION, ok } from '../results/index.ts'

/** What a {@link CommandRunner} is asked to run. */
export interface CommandRequest {
  /** An allowed executable, started without a shell. */
  command: string
  args: readonly string[]
  /** Variables to add to the runner's base environment (the injected secrets). */
  env: Readonly<Record<string, string>>
  /** Aborted on timeout or when the output cap is reached: the process must then be killed. */
  signal: AbortSignal
  /** Receives decoded output as it arrives. */
  onOutput(stream: 'stdout' | 'stderr', text: string): void
}

/** How the process ended. */
export interface CommandExit {
  exitCode: number | null
  signal: string | null
}

/** Starts processes; injected by the host because the server module must stay runtime-neutral. */
export interface CommandRunner {
  /** Resolves once the process has exited and its output is read. */
  run(request: CommandRequest): Promise<CommandExit>
}

/** Options for `run_command`; without `allowedCommands` the tool is not offered. */
export interface RunCommandOptions {
  /** Executables the model may run: bare names (found on PATH) or absolute paths. */
  allowedCommands: readonly string[]
  runner: CommandRunner
  /** Default 60 000 ms. */
  timeoutMs?: number
  /** Characters kept per stream (stdout, stderr); reaching it ends the process. Default 256 Ki. */
  maxOutputChars?: number
}

const DEFAULTS = { timeoutMs: 60_000, maxOutputChars: 256 * 1024 }

const BARE_COMMAND = /^[A-Za-z0-9][A-Za-z0-9._+-]{0,127}$/

/**
 * Parses a comma-separated list of allowed executables (`gh,git,/usr/local/bin/terraform`).
 * Throws CONFIGURATION_ERROR for an entry that is neither a bare name nor an absolute path.
 */
export function parseAllowedCommands(text: string | undefined): string[] {
  const entries = (text ?? '')
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '')
  for (const entry of entries) {
    if (!BARE_COMMAND.test(entry) && !isAbsolutePath(entry)) {
      throw new KeywardenError(
        'CONFIGURATION_ERROR',
        `allowed commands must be bare names such as gh or absolute paths, not ${JSON.stringify(entry)}`,
      )
    }
  }
  return [...new Set(entries)]
}

function isAbsolutePath(entry: string): boolean {
  return /^\/[^\0]*$/.test(entry) || /^[A-Za-z]:\\/.test(entry)
}

const VARIABLE = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/

// Variables that decide which code runs, or how the vault is reached: a value the model
// stored itself could otherwise turn an allowed executable into another program.
const RESERVED_VARIABLE = /^(PATH|NODE_OPTIONS|LD_.*|DYLD_.*|KEYWARDEN_.*)$/i

const inputSchema = z.strictObject({
  command: z.string().max(4096).describe('An allowed executable, exactly as the user listed it'),
  args: z.array(z.string().max(32_768)).max(256).optional().describe('Arguments; no shell'),
  secrets: z
    .array(z.string().max(128))
    .max(32)
    .optional()
    .describe('Secrets to inject, each as its name in capitals (github_token -> GITHUB_TOKEN)'),
  env: z
    .record(z.string().max(128), z.string().max(128))
    .optional()
    .describe('Extra variable -> secret name mappings, e.g. {"GH_TOKEN": "github_token"}'),
})

const outputSchema = z.object({
  command: z.string(),
  exit_code: z.number().nullable(),
  signal: z.string().nullable(),
  timed_out: z.boolean(),
  truncated: z.boolean(),
  stdout: z.string(),
  stderr: z.string(),
})

/** Registers `run_command` on `server`. */
export function registerRunCommandTool(
  server: McpServer,
  client: VaultClient,
  log: ToolLogger,
  options: RunCommandOptions,
): void {
  const limits = { ...DEFAULTS, ...options }
  server.registerTool(
    'run_command',
    {
      title: 'Run a command with secrets',
      description: `Runs one of the executables the user allowed (${options.allowedCommands.join(', ')}) without a shell, with the named secrets in its environment. Every injected value is masked as [REDACTED:NAME] in stdout and stderr. Ends the process after ${limits.timeoutMs} ms.`,
      inputSchema,
      outputSchema,
      annotations: OPEN_WORLD_ACTION,
    },
    (input) =>
      guarded('run_command', log, async () => {
        const mappings = Object.entries(input.env ?? {})
        const names = [...new Set([...(input.secrets ?? []), ...mappings.map(([, name]) => name)])]
        if (!limits.allowedCommands.includes(input.command)) {
          const reason = `${input.command.length > 64 ? 'that command' : JSON.stringify(input.command)} is not an allowed command; allowed: ${limits.allowedCommands.join(', ')}`
          await auditUse(
            client,
            names.filter((name) => SECRET_NAME_PATTERN.test(name)),
            {
              success: false,
              errorMessage: 'run_command: not an allowed command',
            },
          )
          throw new KeywardenError('ACCESS_DENIED', reason)
        }
        const env = await injectedEnvironment(client, input.secrets ?? [], mappings)
        // Audit first: the child may kill this server, so the use is on record before it runs.
        await auditUse(client, names, { success: true })
        let result: Awaited<ReturnType<typeof runMasked>>
        try {
          result = await runMasked(limits, input.command, input.args ?? [], env)
        } catch (error) {
          // The values were read but never reached a process.
          await auditUse(client, names, {
            success: false,
            errorMessage: 'run_command: not started',
          })
          throw error
        }
        const status =
          result.exit_code !== null ? `exit code ${result.exit_code}` : `signal ${result.signal}`
        const text = `${input.command}: ${status}${result.timed_out ? ' (timed out)' : ''}${result.truncated ? ' (output cut off)' : ''}\n--- stdout\n${result.stdout}\n--- stderr\n${result.stderr}`
        return ok({ command: input.command, ...result }, text)
      }),
  )
}

interface Injected {
  vars: Record<string, string>
  secrets: NamedSecret[]
}

async function injectedEnvironment(
  client: VaultClient,
  names: readonly string[],
  mappings: ReadonlyArray<[string, string]>,
): Promise<Injected> {
  for (const [variable] of mappings) {
    if (!VARIABLE.test(variable) || RESERVED_VARIABLE.test(variable)) {
      throw new KeywardenError(
        'INVALID_ARGUMENT',
        `env maps variables such as GH_TOKEN; ${variable.length > 64 ? 'that name' : JSON.stringify(variable)} is not allowed`,
      )
    }
  }
  const wanted = [...new Set([...names, ...mappings.map(([, name]) => name)])]
  const found = wanted.length === 0 ? new Map() : await client.getSecrets(wanted)
  const missing = wanted.filter((name) => !found.has(name))
  if (missing.length > 0) {
    throw new KeywardenError('SECRET_NOT_FOUND', `not in the vault: ${missing.join(', ')}`)
  }
  const value = (name: string) => found.get(name)?.value as string
  const vars: Record<string, string> = {}
  for (const name of names) vars[environmentVariableFor(name)] = value(name)
  for (const [variable, name] of mappings) vars[variable] = value(name)
  return { vars, secrets: wanted.map((name) => ({ name, value: value(name) })) }
}

async function runMasked(
  limits: Required<Omit<RunCommandOptions, 'allowedCommands'>>,
  command: string,
  args: readonly string[],
  injected: Injected,
) {
  const controller = new AbortController()
  let timedOut = false
  let truncated = false
  const timer = setTimeout(() => {
    timedOut = true
    controller.abort()
  }, limits.timeoutMs)
  const streams = {
    stdout: { redactor: createStreamRedactor(injected.secrets), text: '' },
    stderr: { redactor: createStreamRedactor(injected.secrets), text: '' },
  }
  const append = (output: { redactor: StreamRedactor; text: string }, text: string) => {
    if (truncated) return
    output.text += output.redactor.push(text)
    if (output.text.length > limits.maxOutputChars) {
      // The redactor's held-back tail is dropped with the rest: it may start a value.
      output.text = output.text.slice(0, limits.maxOutputChars)
      truncated = true
      controller.abort()
    }
  }
  try {
    const exit = await limits.runner.run({
      command,
      args,
      env: injected.vars,
      signal: controller.signal,
      onOutput: (stream, text) => append(streams[stream], text),
    })
    if (!truncated) {
      for (const output of Object.values(streams)) output.text += output.redactor.flush()
    }
    return {
      exit_code: exit.exitCode,
      signal: exit.signal,
      timed_out: timedOut,
      truncated,
      stdout: streams.stdout.text,
      stderr: streams.stderr.text,
    }
  } finally {
    clearTimeout(timer)
  }
}
