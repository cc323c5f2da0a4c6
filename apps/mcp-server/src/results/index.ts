/**
 * Tool results and errors, shared by every Keywarden MCP tool: a successful result carries
 * `structuredContent` plus a text rendering; a failure is an `isError` result whose text is
 * `CODE: message`. Only messages written to be shown reach the model: a
 * {@link KeywardenError}'s (never its `cause`, whose driver errors can echo input rows) or a
 * {@link ToolError}'s. Anything else becomes a bare `INTERNAL`.
 * @module
 */
import { isKeywardenError, type VaultClient } from '@keywarden/core'
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js'
import type { ToolLogger } from '../logging/index.ts'

/**
 * A failure outside the vault that a tool reports with a code of its own, e.g. `TIMEOUT` or
 * `REQUEST_FAILED` from `http_request`. Its message must hold no secret value.
 */
export class ToolError extends Error {
  /** A stable upper-case code, shown before the message. */
  readonly code: string

  constructor(code: string, message: string) {
    super(message)
    this.name = 'ToolError'
    this.code = code
  }
}

/**
 * The annotations of a tool that acts outside the vault (an HTTP request, a command): it may
 * change things there (a POST, a `git push`), not idempotently, in a world that is open.
 */
export const OPEN_WORLD_ACTION = {
  readOnlyHint: false,
  destructiveHint: true,
  idempotentHint: false,
  openWorldHint: true,
} as const

/** The `CODE: message` text of an error, or `INTERNAL: …` when nobody vetted its message. */
export function errorText(error: unknown): string {
  if (isKeywardenError(error) || error instanceof ToolError)
    return `${error.code}: ${error.message}`
  return 'INTERNAL: unexpected error in the Keywarden MCP server'
}

/** A tool error result; see {@link errorText}. */
export function toolError(error: unknown): CallToolResult {
  return { isError: true, content: [{ type: 'text', text: errorText(error) }] }
}

/**
 * Runs a tool's work and turns any error into a tool error result, logged as a warning: a
 * tool call never becomes a protocol error, and the server keeps answering.
 */
export async function guarded(
  tool: string,
  log: ToolLogger,
  work: () => Promise<CallToolResult>,
): Promise<CallToolResult> {
  try {
    return await work()
  } catch (error) {
    log('warning', `${tool}: ${errorText(error)}`)
    return toolError(error)
  }
}

/** A successful result: `structured` as `structuredContent`, plus `text` for display. */
export function ok<T extends Record<string, unknown>>(structured: T, text: string): CallToolResult {
  return { structuredContent: structured, content: [{ type: 'text', text }] }
}

/**
 * Records that a front door uses (or was refused the use of) secrets on an agent's behalf:
 * one `use` row per secret, committed before this resolves (audit first: call it before the
 * values leave the process, or before the refusal is answered). It rejects when the rows
 * cannot be written, and the caller then stops. The value's read itself is audited by the vault.
 */
export async function auditUse(
  client: VaultClient,
  names: readonly string[],
  outcome: { success: boolean; errorMessage?: string },
): Promise<void> {
  await client.commitAccess(
    names.map((secretName) => ({ secretName, accessType: 'use', ...outcome })),
  )
}
