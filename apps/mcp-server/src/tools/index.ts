/**
 * The tool table: each Keywarden MCP tool is a module of its own under `tools/<tool-name>/`
 * exporting a {@link ToolEntry}, and {@link registerTools} registers the table's entries in
 * order. A tool's module holds its schemas, annotations and handler, so a change to one tool
 * stays in one file.
 * @module
 */
import type { DoorClient } from '@keywarden/core'
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js'
import type { CallToolResult, ToolAnnotations } from '@modelcontextprotocol/sdk/types.js'
import type { z } from 'zod'
import type { HttpRequestOptions } from '../http-request/index.ts'
import type { ToolLogger } from '../logging/index.ts'
import { guarded } from '../results/index.ts'
import type { RunCommandOptions } from '../run-command/index.ts'

/**
 * What every tool handler gets: the vault client restricted to this server's door (writes and
 * listings already pass the door policy; reveals and uses call `client.authorize`), the server
 * (for elicitation) and the log.
 */
export interface ToolContext {
  client: DoorClient
  server: McpServer
  log: ToolLogger
}

/** The server options that tools read (see `KeywardenMcpServerOptions`). */
export interface ToolOptions {
  http?: HttpRequestOptions
  runCommand?: RunCommandOptions
}

/** One row of the tool table. */
export interface ToolEntry {
  readonly name: string
  /** Registers the tool on `context.server`, or does nothing when `options` turn it off. */
  register(context: ToolContext, options: ToolOptions): void
}

/** A tool defined by its schemas and handler; see {@link defineTool}. */
export interface ToolDefinition<Input extends z.ZodObject, Output extends z.ZodObject> {
  name: string
  title: string
  /** Written by us, never from stored text: a tool description is read as instructions. */
  description: string
  inputSchema: Input
  outputSchema: Output
  annotations: ToolAnnotations
  /** Does the work; a thrown error becomes a `CODE: message` tool error (see ../results). */
  handler(context: ToolContext, input: z.infer<Input>): Promise<CallToolResult>
}

/**
 * A {@link ToolEntry} from a definition: registered with its schemas and annotations, its
 * handler run through `guarded`, so a failure is a tool error and never a protocol error.
 */
export function defineTool<Input extends z.ZodObject, Output extends z.ZodObject>(
  definition: ToolDefinition<Input, Output>,
): ToolEntry {
  return {
    name: definition.name,
    register(context) {
      context.server.registerTool(
        definition.name,
        {
          title: definition.title,
          description: definition.description,
          inputSchema: definition.inputSchema,
          outputSchema: definition.outputSchema,
          annotations: definition.annotations,
        },
        // The SDK has validated `input` against inputSchema before calling.
        ((input: z.infer<Input>) =>
          guarded(definition.name, context.log, () => definition.handler(context, input))) as never,
      )
    },
  }
}

/** Registers every entry of `table`, in order. */
export function registerTools(
  table: readonly ToolEntry[],
  context: ToolContext,
  options: ToolOptions,
): void {
  for (const entry of table) entry.register(context, options)
}
