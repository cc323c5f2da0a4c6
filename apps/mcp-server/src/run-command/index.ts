/**
 * `run_command`: runs an executable the user allowed, with secrets in its environment and
 * every injected value masked in its output, as `keywarden run` does. Off unless the user
 * lists allowed executables (`KEYWARDEN_MCP_ALLOWED_COMMANDS` for `keywarden-mcp`).
 *
 * Three checks stand between a model and a value (each refusal audited, never with a value):
 * - the executable must be allowed, and one that runs code from its arguments, configuration or
 *   environment (shells, interpreters, git, env, xargs, find…: {@link runsArbitraryCode}) only
 *   when the user also listed it as unsafe (`KEYWARDEN_MCP_UNSAFE_COMMANDS`, written by
 *   `keywarden mcp-config --allow-command X --i-understand-this-reveals`): giving a secret to
 *   such a program is revealing it;
 * - each secret must allow that executable in its `allowed_commands`
 *   (`keywarden edit NAME --allow-command X`), and the door policy must let this door use it in
 *   commands;
 * - no variable that decides which code runs may be set ({@link isReservedVariable}).
 *
 * This module is runtime-neutral: starting processes is the {@link CommandRunner}'s job, which
 * the host injects (Node's is at `@keywarden/mcp-server/node`). Masking, limits and audit
 * happen here, so every runner gets them.
 * @module
 */
import {
  compileRedaction,
  type DoorClient,
  environmentVariableFor,
  KeywardenError,
  type NamedSecret,
  SECRET_NAME_PATTERN,
  type VaultClient,
  validateSecretName,
} from '@keywarden/core'
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js'
import { z } from 'zod'
import type { ToolLogger } from '../logging/index.ts'
import { auditUse, ok } from '../results/index.ts'

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
  /**
   * Entries of `allowedCommands` that run arbitrary code ({@link runsArbitraryCode}) which the
   * user allowed anyway, told that this equals revealing every secret injected into them.
   * Without it such an executable is refused.
   */
  unsafeCommands?: readonly string[]
  runner: CommandRunner
  /** Default 60 000 ms. */
  timeoutMs?: number
  /** Characters kept per stream (stdout, stderr); reaching it ends the process. Default 256 Ki. */
  maxOutputChars?: number
}

const DEFAULTS = { timeoutMs: 60_000, maxOutputChars: 256 * 1024, unsafeCommands: [] }

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

// Variables that decide which code runs (a loader, an interpreter's start-up file or options,
// git's config and aliases, a shell's start-up hooks), where programs and files are found, or
// how the vault is reached. A value the model stored itself could otherwise turn an allowed
// executable into another program.
const RESERVED_VARIABLE = new RegExp(
  `^(${[
    'PATH',
    'HOME',
    'ENV',
    'BASH_ENV',
    'BASH_FUNC_.*',
    'SHELL',
    'SHELLOPTS',
    'BASHOPTS',
    'PS4',
    'PROMPT_COMMAND',
    'IFS',
    'CDPATH',
    'GLOBIGNORE',
    'ZDOTDIR',
    'GCONV_PATH',
    'LOCPATH',
    'NLSPATH',
    'HOSTALIASES',
    'TMPDIR',
    'EDITOR',
    'VISUAL',
    'PAGER',
    'BROWSER',
    'GIT_.*',
    'GH_.*CONFIG.*',
    'PYTHON.*',
    'PERL5.*',
    'PERLLIB',
    'PERLIO.*',
    'RUBY.*',
    'GEM_.*',
    'BUNDLE_.*',
    'NODE_.*',
    'NPM_CONFIG_.*',
    'DENO_.*',
    'BUN_.*',
    'LUA_.*',
    'PHP.*',
    'TCL.*',
    'R_.*',
    'JULIA_.*',
    'LD_.*',
    'DYLD_.*',
    'MALLOC_.*',
    '.*_OPTIONS',
    'JAVA_TOOL_OPTIONS',
    'CLASSPATH',
    'XDG_.*',
    'SSH_.*',
    'GNUPGHOME',
    'OPENSSL_.*',
    'KEYWARDEN_.*',
    'SUPABASE_.*',
    'DATABASE_URL',
    'POSTGRES_URL',
    'PG.*',
  ].join('|')})$`,
  'i',
)

/**
 * Whether `variable` may not be set by `run_command` (neither mapped with `env` nor derived
 * from a secret's name): see the families above.
 */
export function isReservedVariable(variable: string): boolean {
  return RESERVED_VARIABLE.test(variable)
}

// Executables that run code taken from their arguments, their configuration or their
// environment: handing one a secret lets the model print it (`git -c alias.x='!printenv X'`,
// `sh -c`, `node -e`, `find -exec`, `env`, `xargs`, `awk 'BEGIN{system(…)}'`, sed's `e`,
// `gh alias set --shell`, make's recipes, npm scripts, ssh's ProxyCommand, an editor's `:!`).
const CODE_RUNNERS = new Set([
  'sh',
  'bash',
  'zsh',
  'fish',
  'dash',
  'ksh',
  'mksh',
  'ash',
  'csh',
  'tcsh',
  'busybox',
  'pwsh',
  'powershell',
  'cmd',
  'node',
  'nodejs',
  'deno',
  'bun',
  'perl',
  'ruby',
  'irb',
  'php',
  'lua',
  'luajit',
  'tclsh',
  'wish',
  'osascript',
  'java',
  'jshell',
  'rscript',
  'r',
  'julia',
  'ghci',
  'runghc',
  'swift',
  'dotnet',
  'mono',
  'erl',
  'elixir',
  'iex',
  'groovy',
  'scala',
  'kotlin',
  'git',
  'gh',
  'env',
  'xargs',
  'find',
  'sudo',
  'doas',
  'su',
  'nice',
  'nohup',
  'timeout',
  'stdbuf',
  'setsid',
  'chroot',
  'unshare',
  'nsenter',
  'flock',
  'watch',
  'time',
  'strace',
  'ltrace',
  'gdb',
  'lldb',
  'valgrind',
  'make',
  'gmake',
  'cmake',
  'ninja',
  'npm',
  'npx',
  'pnpm',
  'pnpx',
  'yarn',
  'corepack',
  'pip',
  'pip3',
  'pipx',
  'uv',
  'uvx',
  'poetry',
  'cargo',
  'go',
  'ssh',
  'scp',
  'sftp',
  'rsync',
  'awk',
  'gawk',
  'mawk',
  'nawk',
  'sed',
  'gsed',
  'ed',
  'ex',
  'vi',
  'vim',
  'nvim',
  'view',
  'emacs',
  'nano',
  'less',
  'more',
  'man',
  'script',
  'expect',
  'tmux',
  'screen',
  'docker',
  'podman',
  'tar',
  'zip',
  'parallel',
  'dc',
  'bc',
  'jq',
  'sqlite3',
  'psql',
])

// Interpreters with a version in their name: python3.12, perl5.36, ruby3.3, node22, php8.3…
const VERSIONED_CODE_RUNNER =
  /^(python|pypy|perl|ruby|php|lua|luajit|node|tclsh|wish|pip|java|ksh|bash)[0-9][0-9.]*$|^(python|pypy)$/

/**
 * The executable's file name as `run_command` matches it: the last path segment, lower-cased,
 * without a Windows `.exe`/`.cmd`/`.bat`/`.com`/`.ps1` extension.
 */
export function executableName(command: string): string {
  const base = command.split(/[\\/]/).pop() ?? command
  return base.toLowerCase().replace(/\.(exe|cmd|bat|com|ps1)$/, '')
}

/**
 * Whether `command` names an executable that runs arbitrary code from its arguments,
 * configuration or environment (by file name; see {@link executableName}). The list is not
 * exhaustive: allowing any executable trusts that its arguments cannot leak its environment.
 */
export function runsArbitraryCode(command: string): boolean {
  const name = executableName(command)
  return CODE_RUNNERS.has(name) || VERSIONED_CODE_RUNNER.test(name)
}

/**
 * Whether a secret's `allowed_commands` lets it into `command`: a bare entry (`gh`) matches
 * the executable's name wherever it lives (the server's own allowed list fixes which program
 * that is), an absolute path matches only that exact path.
 */
export function secretAllowsCommand(allowed: readonly string[], command: string): boolean {
  return allowed.some((entry) =>
    isAbsolutePath(entry) ? entry === command : executableName(entry) === executableName(command),
  )
}

/** `run_command`'s input. */
export const runCommandInput = z.strictObject({
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

/** `run_command`'s answer. */
export const runCommandOutput = z.object({
  command: z.string(),
  exit_code: z.number().nullable(),
  signal: z.string().nullable(),
  timed_out: z.boolean(),
  truncated: z.boolean(),
  stdout: z.string(),
  stderr: z.string(),
})

type RunCommandInput = z.infer<typeof runCommandInput>
type Limits = Required<RunCommandOptions>

/** `options` with the defaults filled in. */
export function runCommandLimits(options: RunCommandOptions): Limits {
  return { ...DEFAULTS, ...options }
}

const shown = (text: string) => (text.length > 64 ? 'that command' : JSON.stringify(text))

/**
 * Runs `input` for the model: the checks in this module's description, then the process with
 * its output masked. Every refusal is audited as a failed `use` of each secret asked for.
 */
export async function runCommand(
  client: DoorClient,
  log: ToolLogger,
  limits: Limits,
  input: RunCommandInput,
): Promise<CallToolResult> {
  const mappings = Object.entries(input.env ?? {})
  const names = [...new Set([...(input.secrets ?? []), ...mappings.map(([, name]) => name)])]
  // Audit first: a refusal is committed before it is answered.
  const refuse = async (audit: string, message: string): Promise<never> => {
    await auditUse(
      client,
      names.filter((name) => SECRET_NAME_PATTERN.test(name)),
      { success: false, errorMessage: `run_command: ${audit}` },
    )
    log('warning', `run_command refused: ${audit}`)
    throw new KeywardenError('ACCESS_DENIED', message)
  }
  if (!limits.allowedCommands.includes(input.command)) {
    await refuse(
      'not an allowed command',
      `${shown(input.command)} is not an allowed command; allowed: ${limits.allowedCommands.join(', ')}`,
    )
  }
  if (runsArbitraryCode(input.command) && !limits.unsafeCommands.includes(input.command)) {
    await refuse(
      'executable runs arbitrary code',
      `${shown(input.command)} runs code taken from its arguments, configuration or environment, so any secret given to it can be printed: it is refused. The user can allow it knowing that this equals revealing, with \`keywarden mcp-config --allow-command ${executableName(input.command)} --i-understand-this-reveals\``,
    )
  }
  checkVariables(input.secrets ?? [], mappings)
  await checkSecretsAllowCommand(client, input.command, names, refuse)
  const env = await injectedEnvironment(client, input.secrets ?? [], mappings)
  // Audit first: the child may kill this server, so the use is on record before it runs.
  await auditUse(client, names, { success: true })
  let result: Awaited<ReturnType<typeof runMasked>>
  try {
    result = await runMasked(limits, input.command, input.args ?? [], env)
  } catch (error) {
    // The values were read but never reached a process.
    await auditUse(client, names, { success: false, errorMessage: 'run_command: not started' })
    throw error
  }
  const status =
    result.exit_code !== null ? `exit code ${result.exit_code}` : `signal ${result.signal}`
  const text = `${input.command}: ${status}${result.timed_out ? ' (timed out)' : ''}${result.truncated ? ' (output cut off)' : ''}\n--- stdout\n${result.stdout}\n--- stderr\n${result.stderr}`
  return ok({ command: input.command, ...result }, text)
}

/** Refuses variables that are malformed or reserved, mapped or derived from a secret's name. */
function checkVariables(names: readonly string[], mappings: ReadonlyArray<[string, string]>) {
  const variables = [
    ...names.map(environmentVariableFor),
    ...mappings.map(([variable]) => variable),
  ]
  for (const variable of variables) {
    if (!VARIABLE.test(variable) || isReservedVariable(variable)) {
      throw new KeywardenError(
        'INVALID_ARGUMENT',
        `env maps variables such as GH_TOKEN; ${variable.length > 64 ? 'that name' : JSON.stringify(variable)} is not allowed (it could change which code runs or how the vault is reached)`,
      )
    }
  }
}

/**
 * Each secret must be in the vault (not only in the environment) and list `command` in its
 * `allowed_commands`, and the door policy must let this door use it in commands.
 */
async function checkSecretsAllowCommand(
  client: DoorClient,
  command: string,
  names: readonly string[],
  refuse: (audit: string, message: string) => Promise<never>,
) {
  if (names.length === 0) return
  for (const name of names) validateSecretName(name)
  // Listed as this door may use them: no allowed commands where the policy forbids it.
  const listed = new Map((await client.listSecrets()).map((secret) => [secret.name, secret]))
  const missing = names.filter((name) => !listed.has(name))
  if (missing.length > 0) {
    throw new KeywardenError('SECRET_NOT_FOUND', `not in the vault: ${missing.join(', ')}`)
  }
  for (const name of names) {
    if (!(await client.rights(name)).canUseCommands) await client.authorize('use_commands', name)
    const secret = listed.get(name)
    if (!secret || !secretAllowsCommand(secret.allowedCommands, command)) {
      await refuse(
        `${name} does not allow this command`,
        `${name} may not be injected into ${shown(command)}${secret && secret.allowedCommands.length > 0 ? ` (it allows ${secret.allowedCommands.join(', ')})` : ' (it allows no command)'}; the user can allow it with \`${allowHint(name, secret?.allowedCommands ?? [], command)}\``,
      )
    }
  }
}

/**
 * The `keywarden edit` command that allows `command` for `name` as printed: `--allow-command`
 * replaces the list, so the entries it has stay in it, and an executable that runs code from
 * its arguments needs the CLI's acknowledgement.
 */
function allowHint(name: string, allowed: readonly string[], command: string): string {
  const entry = isAbsolutePath(command) ? command : executableName(command)
  const commands = [...new Set([...allowed, entry])]
  const unsafe = commands.some(runsArbitraryCode)
  return `keywarden edit ${name} --allow-command ${commands.join(',')}${unsafe ? ' --i-understand-this-reveals' : ''}`
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
  limits: Limits,
  command: string,
  args: readonly string[],
  injected: Injected,
) {
  const controller = new AbortController()
  let timedOut = false
  let cut = false
  const timer = setTimeout(() => {
    timedOut = true
    controller.abort()
  }, limits.timeoutMs)
  // Raw output, masked whole once the process is done and cut at a point no value can move
  // (as http_request does): a stream redactor's held-back tail, dropped at a cap, would tell
  // whether the output near the cut begins like a value.
  const redaction = compileRedaction(injected.secrets)
  const needed = limits.maxOutputChars + redaction.reach
  const raw = { stdout: '', stderr: '' }
  const append = (stream: 'stdout' | 'stderr', text: string) => {
    if (cut) return
    raw[stream] += text
    if (raw[stream].length >= needed) {
      cut = true
      controller.abort()
    }
  }
  const masked = (text: string) => {
    if (!cut) {
      if (text.length <= limits.maxOutputChars) return redaction.redact(text)
      return redaction.redactPrefix(text, limits.maxOutputChars, true)
    }
    // Cut short: keep only what is seen `reach` characters ahead (the stream that hit the cap
    // keeps exactly the cap; the other stream's length at the cut is timing, not values).
    const length = Math.max(0, Math.min(limits.maxOutputChars, text.length - redaction.reach))
    return redaction.redactPrefix(text, length, false)
  }
  try {
    const exit = await limits.runner.run({
      command,
      args,
      env: injected.vars,
      signal: controller.signal,
      onOutput: append,
    })
    const truncated =
      cut || raw.stdout.length > limits.maxOutputChars || raw.stderr.length > limits.maxOutputChars
    return {
      exit_code: exit.exitCode,
      signal: exit.signal,
      timed_out: timedOut,
      truncated,
      stdout: masked(raw.stdout),
      stderr: masked(raw.stderr),
    }
  } finally {
    clearTimeout(timer)
  }
}
