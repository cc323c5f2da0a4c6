/**
 * The server's log: notable events (refusals, failed tool calls) go to the MCP client as
 * `notifications/message` (MCP logging) and, when the host gives one, to a local sink such
 * as stderr. Messages are built from codes, names and hosts, never from values.
 * @module
 */
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js'

/** The MCP log levels the server uses. */
export type LogLevel = 'info' | 'warning' | 'error'

/** Writes one log message. */
export type ToolLogger = (level: LogLevel, message: string) => void

/** The logger name clients see beside each message. */
export const LOGGER_NAME = 'keywarden'

/**
 * A logger that sends each message to the connected client (when it has not raised its
 * level above this one) and to `local`, e.g. a stderr writer.
 */
export function createToolLogger(server: McpServer, local?: (line: string) => void): ToolLogger {
  return (level, message) => {
    local?.(`${level}: ${message}`)
    if (!server.isConnected()) return
    // A client that went away must not turn a log line into a failed tool call.
    server.sendLoggingMessage({ level, logger: LOGGER_NAME, data: message }).catch(() => {})
  }
}
