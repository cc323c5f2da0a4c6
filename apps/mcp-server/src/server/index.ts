/**
 * The Keywarden MCP tools, defined once for every MCP door (the stdio `keywarden-mcp` and,
 * later, the edge plugin's MCP endpoint): each tool has a zod input and output schema,
 * returns `structuredContent` plus a short text rendering, and carries truthful annotations.
 *
 * What a model can see: names, metadata, expiry, the audit log, usage metrics, alerts,
 * incident reports and health — never a value,
 * except through `reveal_secret` for a secret the user marked agent-visible. Values given to
 * `store_secret` and `rotate_secret` are never echoed back; `http_request` and `run_command`
 * use values and return responses and output with them masked. Errors are `CODE: message`
 * (see ../results), never a driver error's `cause` (those can echo input rows).
 *
 * Runtime-neutral: no `node:` import reaches this module, because the edge plugin loads it
 * under Deno; process spawning comes in through {@link KeywardenMcpServerOptions.runCommand}.
 * @module
 */
import { type DoorClient, restrictToDoor, type VaultClient } from '@keywarden/core'
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js'
import type { HttpRequestOptions } from '../http-request/index.ts'
import { createToolLogger } from '../logging/index.ts'
import type { RunCommandOptions } from '../run-command/index.ts'
import { checkExpiringSecretsTool } from '../tools/check-expiring-secrets/index.ts'
import { deleteSecretTool } from '../tools/delete-secret/index.ts'
import { getSecretMetadataTool } from '../tools/get-secret-metadata/index.ts'
import { httpRequestTool } from '../tools/http-request/index.ts'
import { incidentReportTool } from '../tools/incident-report/index.ts'
import { registerTools, type ToolEntry } from '../tools/index.ts'
import { listSecretsTool } from '../tools/list-secrets/index.ts'
import { queryAuditLogTool } from '../tools/query-audit-log/index.ts'
import { revealSecretTool } from '../tools/reveal-secret/index.ts'
import { rotateSecretTool } from '../tools/rotate-secret/index.ts'
import { runCommandTool } from '../tools/run-command/index.ts'
import { secretAlertsTool } from '../tools/secret-alerts/index.ts'
import { secretMetricsTool } from '../tools/secret-metrics/index.ts'
import { storeSecretTool } from '../tools/store-secret/index.ts'
import { updateSecretMetadataTool } from '../tools/update-secret-metadata/index.ts'
import { vaultHealthTool } from '../tools/vault-health/index.ts'

export type { HttpRequestOptions } from '../http-request/index.ts'
export type { LogLevel } from '../logging/index.ts'
export { errorText, ToolError, toolError } from '../results/index.ts'
export {
  type CommandExit,
  type CommandRequest,
  type CommandRunner,
  executableName,
  isReservedVariable,
  parseAllowedCommands,
  type RunCommandOptions,
  runsArbitraryCode,
  secretAllowsCommand,
} from '../run-command/index.ts'
export { parseSince } from '../tools/common/index.ts'
export {
  auditRecordShape,
  expiringSecretShape,
  secretAlertShape,
  secretMetadataShape,
  secretMetricShape,
} from '../tools/shapes/index.ts'

/** Options for {@link createKeywardenMcpServer}. */
export interface KeywardenMcpServerOptions {
  /** The server name announced at initialize. Default `keywarden`. */
  name?: string
  /** The server version announced at initialize. Default `0.0.0`. */
  version?: string
  /** Limits for `http_request` (timeout, response size, redirects). */
  http?: HttpRequestOptions
  /**
   * Turns `run_command` on: the executables allowed and the process runner (Node's is
   * `createNodeCommandRunner` from `@keywarden/mcp-server/node`). Off when absent or when
   * `allowedCommands` is empty.
   */
  runCommand?: RunCommandOptions
  /** Also writes each log message here as a line (`keywarden-mcp` passes stderr). */
  log?: (line: string) => void
  /**
   * The door the per-door policy knows this server as. Default `mcp:<client name>`, from the
   * name the client announces at initialize (see {@link mcpDoorName}); the edge plugin passes
   * `edge`. Every tool acts through the core's door client, so the policy applies to all.
   */
  door?: string
  /** How long the door policy's rules are reused, in ms (default 5 000; tests pass 0). */
  policyTtlMs?: number
}

/**
 * `mcp:<client name>`, made safe for the audit log and the policy (lower case, `a-z0-9._-`,
 * at most 64 characters); `mcp` when the client gave no usable name. Never `cli`, whatever
 * the client calls itself.
 */
export function mcpDoorName(clientName: string | undefined): string {
  const cleaned = (clientName ?? '')
    .toLowerCase()
    .replace(/[^a-z0-9._-]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 64)
  return cleaned === '' ? 'mcp' : `mcp:${cleaned}`
}

/**
 * The tool table, in registration order: each tool is a module under ../tools. `run_command`
 * registers only when configured.
 */
const TOOLS: readonly ToolEntry[] = [
  listSecretsTool,
  getSecretMetadataTool,
  checkExpiringSecretsTool,
  queryAuditLogTool,
  vaultHealthTool,
  secretMetricsTool,
  secretAlertsTool,
  incidentReportTool,
  storeSecretTool,
  updateSecretMetadataTool,
  rotateSecretTool,
  deleteSecretTool,
  revealSecretTool,
  httpRequestTool,
  runCommandTool,
]

/**
 * The tools {@link createKeywardenMcpServer} registers, in order; `run_command` only when
 * configured.
 */
export const TOOL_NAMES: readonly string[] = TOOLS.map((tool) => tool.name)

function isDoorClient(client: VaultClient): client is DoorClient {
  return typeof (client as Partial<DoorClient>).authorize === 'function'
}

/**
 * Creates an MCP server with the Keywarden tools over `client`, restricted to the server's
 * door (see {@link KeywardenMcpServerOptions.door}). The caller connects a transport and owns
 * the client (closing the server does not close it).
 */
export function createKeywardenMcpServer(
  client: VaultClient,
  options: KeywardenMcpServerOptions = {},
): McpServer {
  const server = new McpServer(
    { name: options.name ?? 'keywarden', version: options.version ?? '0.0.0' },
    {
      capabilities: { logging: {} },
      instructions:
        'Keywarden keeps secrets in an encrypted vault. You can list, inspect, audit, store, ' +
        'rotate and delete secrets, but you cannot read values unless the user marked a secret ' +
        'agent-visible (reveal_secret). To use a secret without seeing it, put ' +
        '{{secret:NAME}} in an http_request to one of its allowed hosts.',
    },
  )
  const log = createToolLogger(server, options.log)
  // A client already restricted to this very door (the edge plugin's) keeps its rule cache
  // across requests; anything else is wrapped here, so no tool ever acts unrestricted.
  const door =
    isDoorClient(client) && options.door !== undefined && client.door === options.door
      ? client
      : restrictToDoor(client, {
          door: options.door ?? (() => mcpDoorName(server.server.getClientVersion()?.name)),
          ...(options.policyTtlMs === undefined ? {} : { policyTtlMs: options.policyTtlMs }),
        })
  registerTools(TOOLS, { client: door, server, log }, options)
  return server
}
