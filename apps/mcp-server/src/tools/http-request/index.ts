/**
 * `http_request`: an HTTPS request with secrets substituted toward their allowed hosts. The
 * implementation lives in ../../http-request; this entry only puts it in the tool table.
 * @module
 */
import { registerHttpRequestTool } from '../../http-request/index.ts'
import type { ToolEntry } from '../index.ts'

/** The `http_request` tool. */
export const httpRequestTool: ToolEntry = {
  name: 'http_request',
  register({ server, client, log }, options) {
    registerHttpRequestTool(server, client, log, options.http)
  },
}
