/**
 * Moving the plaintext tokens of MCP server entries into the vault (`--wrap`) and back
 * (`--unwrap`), for any client's file: which servers qualify, the check against the vault, the
 * `keywarden run` entry, and the edits, made through the file's document so everything else
 * in it stays as the user wrote it.
 */
import { basename } from 'node:path'
import {
  type Environment,
  KeywardenError,
  SECRET_NAME_PATTERN,
  type SecretType,
  type VaultClient,
  validateSecretValue,
} from '@keywarden/core'
import { tableCell } from '../../format.ts'
import { guessSecretType, looksLikeSecret, secretNameFor } from '../../import/parse.ts'
import type { Launcher, McpClient, Scope } from '../client.ts'
import {
  type ConfigFile,
  configChanged,
  readConfigFile,
  writeConfigFile,
} from '../config-file/index.ts'
import {
  type ConfigDocument,
  isObject,
  type Json,
  type JsonObject,
  samePath,
  valueAt,
} from '../document/index.ts'
import { cliLauncher, keywardenEnvironment } from '../keywarden-entry/index.ts'

/** The key of Keywarden's own server. */
export const SERVER_NAME = 'keywarden'

/** A server entry in a file: the servers object it is in, its name, and where that is. */
export interface ServerRef {
  /** The path of the servers object (`["mcpServers"]`, `["projects", "/app", "mcpServers"]`). */
  at: string[]
  name: string
  /** Said after the name when the entry is not in the file's main servers object. */
  where?: string
}

interface ServerAt {
  ref: ServerRef
  /** A copy: edits go through the document, and compare with this. */
  entry: JsonObject
}

/** A variable's fate. */
export type MoveStatus = 'stored' | 'already in vault'

interface MovedVariable {
  variable: string
  secret: string
  value: string
  type: SecretType
  status: MoveStatus
}

interface Candidate {
  ref: ServerRef
  entry: JsonObject
  command: string
  args: string[]
  /** The env variables that are not secrets, kept in the entry. */
  kept: JsonObject
  moved: MovedVariable[]
}

interface UnwrapCandidate {
  ref: ServerRef
  entry: JsonObject
  command: string
  args: string[]
  /** Each original variable and the secret `--env` gave it. */
  variables: Array<{ variable: string; secret: string }>
  /** Filled from the vault by {@link checkPlans}. */
  values: Map<string, string>
}

/** A server left as it was, and why. */
export interface Refusal {
  server: string
  where?: string
  variables: string[]
  reason: string
}

/** A server rewritten by `--wrap` or `--unwrap`, with its variables. */
export interface ServerChange {
  server: string
  where?: string
  variables: Array<{ variable: string; secret: string; status?: MoveStatus }>
}

/** What is to be done to one file. */
export interface FilePlan {
  client: McpClient
  scope: Scope
  source: ConfigFile
  /** Keywarden's own entry, with --write. */
  keywarden: { entry: JsonObject; status: 'added' | 'updated' | 'unchanged' } | null
  wrap: Candidate[]
  unwrap: UnwrapCandidate[]
  alreadyWrapped: string[]
  refused: Refusal[]
}

/** What was done to one file. */
export interface FileResult {
  client: McpClient['id']
  scope: Scope
  file: string
  created: boolean
  written: boolean
  backup: string | null
  keywarden: 'added' | 'updated' | 'unchanged' | null
  wrapped: ServerChange[]
  unwrapped: ServerChange[]
  alreadyWrapped: string[]
  refused: Refusal[]
}

/** Options for {@link planFile}. */
export interface PlanOptions {
  /** Keywarden's own entry, to add or update (--write). */
  keywardenEntry?: JsonObject
  wrap?: boolean
  unwrap?: boolean
}

/**
 * Reads `file` and plans what `options` ask for. Nothing is written, and the vault is not
 * consulted yet ({@link checkPlans} does that).
 */
export async function planFile(
  client: McpClient,
  scope: Scope,
  file: string,
  options: PlanOptions,
): Promise<FilePlan> {
  const { keywardenEntry, wrap = false, unwrap = false } = options
  // Wrapping a file that is not there is a typo, not a new file.
  const source = await readConfigFile(file, client.format, {
    mustExist: keywardenEntry === undefined,
  })
  const servers = listServers(client, source.document.data, file)
  const plan: FilePlan = {
    client,
    scope,
    source,
    keywarden: null,
    wrap: [],
    unwrap: [],
    alreadyWrapped: [],
    refused: [],
  }
  if (keywardenEntry !== undefined) {
    const main = client.servers(source.document.data)[0]?.path ?? []
    const existing = servers.find((s) => s.ref.name === SERVER_NAME && samePath(s.ref.at, main))
    plan.keywarden = {
      entry: keywardenEntry,
      status:
        existing === undefined
          ? 'added'
          : JSON.stringify(existing.entry) === JSON.stringify(keywardenEntry)
            ? 'unchanged'
            : 'updated',
    }
  }
  const others = servers.filter((s) => s.ref.name !== SERVER_NAME)
  if (wrap) planWrap(others, plan)
  if (unwrap) planUnwrap(others, plan)
  return plan
}

/** Every server entry in the file, each servers object checked to be an object. */
function listServers(client: McpClient, data: JsonObject, file: string): ServerAt[] {
  return client.servers(data).flatMap(({ path, where }) => {
    const servers = valueAt(data, path)
    if (servers === undefined) return []
    if (!isObject(servers)) {
      throw new KeywardenError(
        'INTERNAL',
        `"${path.join('.')}" in ${file} is not an object; nothing was written`,
      )
    }
    return Object.entries(servers).flatMap(([name, entry]) =>
      isObject(entry)
        ? [{ ref: { at: path, name, ...(where ? { where } : {}) }, entry: copy(entry) }]
        : [],
    )
  })
}

/**
 * Which servers to wrap: those whose `env` holds non-empty values under names that look like
 * secrets (the rule `keywarden import` uses for shell files). A value that is a reference the
 * client resolves (`${input:id}`, `${env:NAME}`, `${NAME}`, `$NAME`) is no plaintext. What
 * cannot be wrapped safely is refused, with why; nothing is decided from a value except that
 * it is a valid secret value.
 */
function planWrap(servers: readonly ServerAt[], plan: FilePlan): void {
  for (const { ref, entry } of servers) {
    const env = isObject(entry.env) ? entry.env : {}
    const secrets = Object.entries(env).flatMap(([variable, value]) =>
      looksLikeSecret(variable) && typeof value === 'string' && value !== '' && !isReference(value)
        ? [{ variable, value }]
        : [],
    )
    const variables = secrets.map(({ variable }) => variable)
    const refuse = (reason: string) => plan.refused.push({ ...named(ref), variables, reason })
    if (isWrapped(entry)) {
      if (secrets.length === 0) plan.alreadyWrapped.push(plainName(ref))
      else {
        const them = variables.length === 1 ? 'it' : 'them'
        refuse(
          `it already runs through keywarden run, yet its env holds ${variables.join(', ')}; store ${them} with keywarden set and add ${them} to its --only by hand`,
        )
      }
      continue
    }
    if (secrets.length === 0) continue
    const { command, args } = entry
    if (typeof command !== 'string' || command === '') {
      refuse('it has no command to wrap (a remote server?); its env was left in place')
      continue
    }
    if (args !== undefined && !(Array.isArray(args) && args.every((a) => typeof a === 'string'))) {
      refuse('its "args" is not a list of strings')
      continue
    }
    const moved: MovedVariable[] = []
    let problem: string | undefined
    for (const { variable, value } of secrets) {
      const secret = secretNameFor(variable)
      const twin = moved.find((m) => m.secret === secret)
      if (!SECRET_NAME_PATTERN.test(secret)) {
        problem = `${variable} does not make a valid secret name (a-z, 0-9, "_", "." and "-", starting with a letter or digit)`
      } else if (twin && twin.value !== value) {
        problem = `${twin.variable} and ${variable} both become ${secret} but hold different values`
      } else {
        problem = valueProblem(variable, value)
      }
      if (problem !== undefined) break
      if (!twin) {
        moved.push({
          variable,
          secret,
          value,
          type: guessSecretType(variable, value),
          status: 'stored',
        })
      } else moved.push({ ...twin, variable })
    }
    if (problem !== undefined) {
      refuse(problem)
      continue
    }
    const kept: JsonObject = {}
    for (const [variable, value] of Object.entries(env)) {
      if (!secrets.some((s) => s.variable === variable)) kept[variable] = value
    }
    plan.wrap.push({ ref, entry, command, args: (args ?? []) as string[], kept, moved })
  }
}

/** A value the client replaces with something else before starting the server. */
function isReference(value: string): boolean {
  return /^\$\{[^}]+\}$/.test(value) || /^\$[A-Za-z_][A-Za-z0-9_]*$/.test(value)
}

// The vault's own rules, checked before anything is stored. Their messages describe a value,
// never quote it.
function valueProblem(variable: string, value: string): string | undefined {
  try {
    validateSecretValue(value)
    return undefined
  } catch (error) {
    const message = error instanceof Error ? error.message : 'invalid value'
    return `${variable}: ${message.replace(/^invalid secret value: /, 'the value ')}`
  }
}

/**
 * The servers `--unwrap` restores: those in the form `--wrap` writes (`keywarden run --only
 * NAMES --env VAR=name ... -- COMMAND ARGS`). Anything else that runs through `keywarden run`
 * was written by hand and is refused rather than guessed at.
 */
function planUnwrap(servers: readonly ServerAt[], plan: FilePlan): void {
  for (const { ref, entry } of servers) {
    if (!isWrapped(entry)) continue
    const parsed = parseWrapped(entry)
    if (typeof parsed === 'string') {
      plan.refused.push({ ...named(ref), variables: [], reason: parsed })
      continue
    }
    plan.unwrap.push({ ref, entry, ...parsed, values: new Map() })
  }
}

function parseWrapped(
  entry: JsonObject,
): Pick<UnwrapCandidate, 'command' | 'args' | 'variables'> | string {
  const args = (entry.args as Json[]).map(String)
  // `keywarden run ...`, or node with the keywarden bin then `run`.
  let at = args[0] === 'run' ? 1 : 2
  const variables: UnwrapCandidate['variables'] = []
  let only: string[] = []
  for (; at < args.length && args[at] !== '--'; at++) {
    const option = args[at]
    const value = args[at + 1]
    if (option === '--only' && value !== undefined) only = value.split(',')
    else if (option === '--env' && value?.includes('=')) {
      const [variable = '', secret = ''] = value.split(/=(.*)/s)
      variables.push({ variable, secret })
    } else {
      return `its keywarden run takes ${option}, which --wrap does not write; unwrap it by hand`
    }
    at++
  }
  const [command, ...rest] = args.slice(at + 1)
  if (command === undefined || variables.length === 0) {
    return 'its keywarden run has no --env VAR=name or no command after --; unwrap it by hand'
  }
  const unmapped = only.filter((name) => !variables.some((v) => v.secret === name))
  if (unmapped.length > 0) {
    return `its --only names ${unmapped.join(', ')} without --env; unwrap it by hand`
  }
  return { command, args: rest, variables }
}

/**
 * An entry that already runs through `keywarden run`: `keywarden run ...`, or node with a
 * keywarden bin and `run` (the form --wrap writes).
 */
function isWrapped(entry: JsonObject): boolean {
  const { command, args } = entry
  if (typeof command !== 'string' || !Array.isArray(args)) return false
  if (isKeywardenBin(command) && args[0] === 'run') return true
  const [script, subcommand] = args
  return typeof script === 'string' && isKeywardenBin(script) && subcommand === 'run'
}

function isKeywardenBin(path: string): boolean {
  const own = cliLauncher().args[0]
  return (
    path === own ||
    /(^|[\\/])keywarden(\.cmd|\.exe|\.js)?$/i.test(path) ||
    /[\\/](@keywarden[\\/]cli|apps[\\/]cli)[\\/]dist[\\/]bin\.js$/.test(path)
  )
}

/**
 * Checks the plans against the vault. To wrap: a name the vault already holds with the same
 * value is reused, a different value refuses that server (overwriting could break whatever
 * else uses the secret), and two servers (in any of the files) that disagree on a name refuse
 * the later one. To unwrap: every secret must be in the vault, or that server stays wrapped.
 */
export async function checkPlans(vault: VaultClient, plans: readonly FilePlan[]): Promise<void> {
  const wrapNames = plans.flatMap((p) => p.wrap.flatMap((c) => c.moved.map((m) => m.secret)))
  const unwrapNames = plans.flatMap((p) =>
    p.unwrap.flatMap((c) => c.variables.map((v) => v.secret)),
  )
  if (wrapNames.length + unwrapNames.length === 0) return
  const names = [...new Set([...wrapNames, ...unwrapNames])]
  const listed = new Set((await vault.listSecrets()).map((secret) => secret.name))
  const known = names.filter((name) => listed.has(name))
  const current = known.length > 0 ? await vault.getSecrets(known) : new Map()
  // A value from the environment fallback is not in the vault.
  const inVault = (name: string): string | undefined => {
    const stored = current.get(name)
    return listed.has(name) && stored?.source !== 'env' ? stored?.value : undefined
  }
  const planned = new Map<string, { server: string; value: string }>()
  for (const plan of plans) {
    plan.wrap = plan.wrap.filter((candidate) => {
      let reason: string | undefined
      for (const moved of candidate.moved) {
        const earlier = planned.get(moved.secret)
        if (listed.has(moved.secret) && inVault(moved.secret) !== moved.value) {
          reason = `the vault's ${moved.secret} holds a different value than ${moved.variable}; make them agree (keywarden rotate ${moved.secret}, or keywarden rm ${moved.secret}) and run --wrap again`
        } else if (earlier && earlier.value !== moved.value) {
          reason = `server ${earlier.server} sets ${moved.secret} to a different value than ${moved.variable}; make them agree and run --wrap again`
        }
        if (reason !== undefined) break
      }
      if (reason !== undefined) {
        const variables = candidate.moved.map((m) => m.variable)
        plan.refused.push({ ...named(candidate.ref), variables, reason })
        return false
      }
      for (const moved of candidate.moved) {
        if (listed.has(moved.secret) || planned.has(moved.secret)) moved.status = 'already in vault'
        planned.set(moved.secret, { server: label(candidate.ref), value: moved.value })
      }
      return true
    })
    plan.unwrap = plan.unwrap.filter((candidate) => {
      const missing = candidate.variables.filter((v) => inVault(v.secret) === undefined)
      if (missing.length > 0) {
        plan.refused.push({
          ...named(candidate.ref),
          variables: candidate.variables.map((v) => v.variable),
          reason: `the vault has no ${[...new Set(missing.map((v) => v.secret))].join(', ')}, so its value cannot go back; it stays wrapped`,
        })
        return false
      }
      for (const { secret } of candidate.variables) {
        candidate.values.set(secret, inVault(secret) ?? '')
      }
      return true
    })
  }
}

/** Options for {@link applyPlans}. */
export interface ApplyOptions {
  /** The vault the plans were checked against; needed when a plan wraps or unwraps. */
  vault?: VaultClient | undefined
  /** The Keywarden configuration a wrapped entry carries (see keywardenEnvironment). */
  configuration: Record<string, string>
  /** How a wrapped entry starts `keywarden run`; default this CLI through its node. */
  launcher?: Launcher
}

/**
 * Does what the checked plans say: stores each new secret and reads every one back (before any
 * file loses its copy), edits each document and writes the files that changed.
 */
export async function applyPlans(
  plans: readonly FilePlan[],
  { vault, configuration, launcher = cliLauncher() }: ApplyOptions,
): Promise<FileResult[]> {
  if (plans.some((plan) => plan.wrap.length > 0)) {
    if (vault === undefined) throw new KeywardenError('INTERNAL', 'wrapping needs the vault')
    await storeSecrets(vault, plans)
    await verifyStored(vault, plans)
  }
  const results: FileResult[] = []
  for (const plan of plans) {
    const { document } = plan.source
    if (plan.keywarden !== null) {
      const main = plan.client.servers(document.data)[0]?.path ?? []
      const existing = valueAt(document.data, [...main, SERVER_NAME])
      const entry = plan.keywarden.entry
      if (isObject(existing)) editEntry(document, [...main, SERVER_NAME], copy(existing), entry)
      else document.set([...main, SERVER_NAME], entry)
    }
    for (const candidate of plan.wrap) {
      const { at, name } = candidate.ref
      editEntry(
        document,
        [...at, name],
        candidate.entry,
        wrapEntry(candidate, launcher, configuration),
      )
    }
    for (const candidate of plan.unwrap) {
      const { at, name } = candidate.ref
      editEntry(document, [...at, name], candidate.entry, unwrapEntry(candidate, configuration))
    }
    const written = configChanged(plan.source)
    const backup = written ? await writeConfigFile(plan.source) : null
    results.push(resultOf(plan, written, backup))
  }
  return results
}

/** The result of a plan, applied or not (nothing to do, or the user said no). */
function resultOf(plan: FilePlan, written = false, backup: string | null = null): FileResult {
  return {
    client: plan.client.id,
    scope: plan.scope,
    file: plan.source.file,
    created: written && !plan.source.existed,
    written,
    backup,
    keywarden: plan.keywarden?.status ?? null,
    wrapped: plan.wrap.map((c) => ({
      ...named(c.ref),
      variables: c.moved.map(({ variable, secret, status }) => ({ variable, secret, status })),
    })),
    unwrapped: plan.unwrap.map((c) => ({ ...named(c.ref), variables: c.variables })),
    alreadyWrapped: plan.alreadyWrapped,
    refused: plan.refused,
  }
}

/** Stores each new secret once, with the guessed type and where it came from. */
async function storeSecrets(vault: VaultClient, plans: readonly FilePlan[]): Promise<void> {
  for (const plan of plans) {
    for (const candidate of plan.wrap) {
      for (const moved of candidate.moved) {
        if (moved.status !== 'stored') continue
        await vault.storeSecret(moved.secret, moved.value, {
          type: moved.type,
          description: `moved from ${basename(plan.source.file)} (server ${candidate.ref.name})`,
        })
      }
    }
  }
}

/** Reads every value back from the vault before a file's copy goes: it may be the last. */
async function verifyStored(vault: VaultClient, plans: readonly FilePlan[]): Promise<void> {
  const expected = new Map(
    plans.flatMap((p) => p.wrap.flatMap((c) => c.moved.map((m) => [m.secret, m.value] as const))),
  )
  vault.clearSecretCache()
  const stored = await vault.getSecrets([...expected.keys()])
  const different = [...expected].filter(([name, value]) => {
    const result = stored.get(name)
    return result?.source !== 'vault' || result.value !== value
  })
  if (different.length > 0) {
    throw new KeywardenError(
      'INTERNAL',
      `the vault did not return the stored value of ${different.map(([name]) => name).join(', ')}; the files were left as they were`,
    )
  }
}

/**
 * The entry, run through `keywarden run`: the secrets by name with `--only`, each under its
 * original variable with `--env` (a name's default variable is its upper case, which need not
 * be the original's spelling), then `--` and the original command. The entry's other keys stay;
 * its env keeps the non-secret variables, plus the Keywarden configuration `keywarden run`
 * needs to find the vault when the client starts it.
 */
function wrapEntry(
  candidate: Candidate,
  launcher: Launcher,
  configuration: Record<string, string>,
): JsonObject {
  const names = [...new Set(candidate.moved.map((moved) => moved.secret))]
  const env: JsonObject = { ...candidate.kept }
  for (const [variable, value] of Object.entries(configuration)) {
    if (!(variable in env)) env[variable] = value
  }
  return {
    ...candidate.entry,
    command: launcher.command,
    args: [
      ...launcher.args,
      'run',
      '--only',
      names.join(','),
      ...candidate.moved.flatMap(({ variable, secret }) => ['--env', `${variable}=${secret}`]),
      '--',
      candidate.command,
      ...candidate.args,
    ],
    env,
  }
}

/**
 * The entry as it was before `--wrap`: its command and arguments, and each variable back in
 * its env with the vault's value. The Keywarden configuration `--wrap` added goes: a
 * `KEYWARDEN_*` or `*_FILE` variable holding what --wrap would write now. (Shared names such
 * as SUPABASE_URL stay: the server may have had them, and they hold no secret.)
 */
function unwrapEntry(
  candidate: UnwrapCandidate,
  configuration: Record<string, string>,
): JsonObject {
  const env: JsonObject = {}
  const current = isObject(candidate.entry.env) ? candidate.entry.env : {}
  for (const [variable, value] of Object.entries(current)) {
    const added =
      configuration[variable] === value &&
      (variable.startsWith('KEYWARDEN_') || variable.endsWith('_FILE'))
    if (!added) env[variable] = value
  }
  for (const { variable, secret } of candidate.variables) {
    env[variable] = candidate.values.get(secret) ?? ''
  }
  const restored: JsonObject = {
    ...candidate.entry,
    command: candidate.command,
    args: candidate.args,
    env,
  }
  if (candidate.args.length === 0) delete restored.args
  if (Object.keys(env).length === 0) delete restored.env
  return restored
}

/**
 * Edits the entry at `at` from `before` to `after` key by key, so that what did not change
 * (and the comments around it) stays: an object present in both is edited in turn.
 */
function editEntry(
  document: ConfigDocument,
  at: readonly string[],
  before: JsonObject,
  after: JsonObject,
): void {
  for (const key of Object.keys(before)) {
    if (!(key in after)) document.set([...at, key], undefined)
  }
  for (const [key, value] of Object.entries(after)) {
    const old = before[key]
    if (JSON.stringify(old) === JSON.stringify(value)) continue
    if (isObject(old) && isObject(value)) editEntry(document, [...at, key], old, value)
    // A new key goes first: a comment ending the object's last line stays with its key.
    else document.set([...at, key], value, { first: old === undefined })
  }
}

/** Options for {@link wrapClientConfig}. */
export interface WrapClientConfigOptions {
  /** The client whose file it is (its format and where the servers are). */
  client: McpClient
  file: string
  /** The open vault to move the tokens into. */
  vault: VaultClient
  /**
   * The environment that configures the vault (what the CLI's `context.env` holds): the wrapped
   * entries carry its non-secret part, and its secrets go into 0600 files in the vault home.
   */
  env: Environment
  scope?: Scope
  /**
   * Asked once the plan is checked against the vault and before anything is stored or written;
   * resolving false leaves everything as it was. Default: go ahead.
   */
  confirm?: (plan: FilePlan) => Promise<boolean>
}

/**
 * Wraps the servers of one client config file that hold plaintext tokens in their env: the
 * tokens go into the vault (read back before the file changes) and each such entry runs
 * through `keywarden run`. For `keywarden scan --fix` and anything else that finds a file.
 * Resolves with what was done; `refused` lists the servers left as they were.
 */
export async function wrapClientConfig(options: WrapClientConfigOptions): Promise<FileResult> {
  const { client, file, vault, env, scope = 'user', confirm = async () => true } = options
  const plan = await planFile(client, scope, file, { wrap: true })
  await checkPlans(vault, [plan])
  if (plan.wrap.length === 0 || !(await confirm(plan))) return resultOf({ ...plan, wrap: [] })
  const { env: configuration } = await keywardenEnvironment(env, true)
  const [result] = await applyPlans([plan], { vault, configuration })
  if (result === undefined) throw new KeywardenError('INTERNAL', 'no result for the file')
  return result
}

/** `"name"`, cut for a table, and where it is when not the main servers object. */
export function label(ref: Pick<ServerRef, 'name' | 'where'>): string {
  const name = JSON.stringify(tableCell(ref.name, 40))
  return ref.where === undefined ? name : `${name} (${ref.where})`
}

function plainName(ref: ServerRef): string {
  return ref.where === undefined ? ref.name : `${ref.name} (${ref.where})`
}

function named(ref: ServerRef): { server: string; where?: string } {
  return { server: ref.name, ...(ref.where === undefined ? {} : { where: ref.where }) }
}

function copy(entry: JsonObject): JsonObject {
  return JSON.parse(JSON.stringify(entry)) as JsonObject
}
