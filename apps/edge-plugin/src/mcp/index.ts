/**
 * `/mcp`: the Keywarden MCP tools (the same factory as `keywarden-mcp`) over MCP Streamable
 * HTTP, for clients that connect to remote MCP servers.
 *
 * Stateless: each POST gets a fresh server and transport (the SDK refuses to reuse a stateless
 * transport since 1.26), answers in JSON rather than an SSE stream, and is closed afterwards, so
 * nothing outlives the request — which is what an edge function can offer. Without sessions there
 * is no stream to open with GET and nothing to end with DELETE: both answer 405, as the
 * Streamable HTTP specification allows.
 * @module
 */
import { createRoute, type OpenAPIHono, z } from '@hono/zod-openapi'
import type { DoorClient } from '@keywarden/core'
import { createKeywardenMcpServer } from '@keywarden/mcp-server'
import { WebStandardStreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js'
import type { Context, MiddlewareHandler } from 'hono'
import { errorResponses, PROTECTED_ERRORS } from '../errors/index.ts'
import { withSecureHeaders } from '../secure-headers/index.ts'

/** What the MCP route needs. */
export interface McpRouteDeps {
  /** The `edge` door's client, for the static bearer. */
  client: DoorClient
  auth: MiddlewareHandler
  /** The door client of a request's OAuth connection (`oauth:<client name>`), if it has one. */
  connectionOf?: (c: Context) => DoorClient | undefined
  /** Announced at initialize. */
  version: string
  /** Called after each request: its tools may have changed secrets. */
  onRequestDone?: () => void
}

const JsonRpc = z.record(z.string(), z.unknown()).openapi('JsonRpcMessage')

const description =
  'MCP Streamable HTTP endpoint (JSON-RPC 2.0) with the Keywarden tools, for MCP clients. Stateless: POST only.'

/** Registers `POST /mcp`, and `GET`/`DELETE /mcp` answering 405. */
export function registerMcpRoutes(app: OpenAPIHono, deps: McpRouteDeps) {
  const security = [{ bearerAuth: [] }]
  app.openapi(
    createRoute({
      method: 'post',
      path: '/mcp',
      operationId: 'mcp',
      summary: 'MCP endpoint',
      description,
      security,
      middleware: [deps.auth] as const,
      'x-openai-isConsequential': true,
      responses: {
        200: {
          description: 'JSON-RPC responses',
          content: { 'application/json': { schema: JsonRpc } },
        },
        202: { description: 'Notifications accepted' },
        ...errorResponses(...PROTECTED_ERRORS),
      },
    }),
    async (c) => {
      const client = deps.connectionOf?.(c) ?? deps.client
      const server = createKeywardenMcpServer(client, {
        door: client.door,
        name: 'keywarden-edge',
        version: deps.version,
      })
      const transport = new WebStandardStreamableHTTPServerTransport({
        sessionIdGenerator: undefined,
        enableJsonResponse: true,
      })
      try {
        await server.connect(transport)
        return await withSecureHeaders(await transport.handleRequest(c.req.raw))
      } finally {
        await server.close()
        deps.onRequestDone?.()
      }
    },
  )

  for (const method of ['get', 'delete'] as const) {
    app.openapi(
      createRoute({
        method,
        path: '/mcp',
        operationId: `mcp${method === 'get' ? 'Get' : 'Delete'}`,
        summary: `MCP ${method.toUpperCase()} (not offered)`,
        description: `${description} ${method.toUpperCase()} answers 405.`,
        security,
        middleware: [deps.auth] as const,
        responses: {
          405: {
            description: 'Not offered by a stateless server',
            content: { 'application/json': { schema: JsonRpc } },
          },
          ...errorResponses(...PROTECTED_ERRORS),
        },
      }),
      (c) =>
        c.json(
          {
            jsonrpc: '2.0',
            error: {
              code: -32000,
              message: 'Method not allowed: this MCP endpoint is stateless (POST only)',
            },
            id: null,
          },
          405,
          { Allow: 'POST' },
        ),
    )
  }
}
