/**
 * `delete_secret`: delete a secret.
 * @module
 */

import { KeywardenError } from '@keywarden/core'
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js'
import type { ElicitResult } from '@modelcontextprotocol/sdk/types.js'
import { z } from 'zod'
import { ok, ToolError } from '../../results/index.ts'
import { defineTool } from '../index.ts'
import { nameInput } from '../shapes/index.ts'

/** The `delete_secret` tool. */
export const deleteSecretTool = defineTool({
  name: 'delete_secret',
  title: 'Delete a secret',
  description:
    "Deletes a secret and its value for good. When the client supports elicitation the user is asked to confirm; otherwise it requires confirm: true, so ask the user first. Keywarden's own credentials and protected secrets are refused, and changing an existing secret needs the user's door policy (keywarden policy set DOOR NAME --allow write).",
  inputSchema: z.strictObject({
    name: nameInput,
    confirm: z
      .boolean()
      .optional()
      .describe('Needed when the client cannot ask the user: true once the user agreed'),
  }),
  outputSchema: z.object({ name: z.string(), deleted: z.boolean() }),
  annotations: {
    readOnlyHint: false,
    destructiveHint: true,
    idempotentHint: true,
    openWorldHint: false,
  },
  async handler({ client, server, log }, { name, confirm }) {
    await confirmDeletion(server, name, confirm)
    const deleted = await client.deleteSecret(name)
    if (deleted) log('info', `deleted secret ${name}`)
    return ok(
      { name, deleted },
      deleted ? `Deleted ${name}.` : `${name} was not in the vault; nothing deleted.`,
    )
  },
})

/**
 * Gets the user's consent to delete `name`: through elicitation when the client supports it
 * (the model's `confirm` does not replace the user's answer then), else `confirm: true`.
 */
async function confirmDeletion(
  server: McpServer,
  name: string,
  confirm: boolean | undefined,
): Promise<void> {
  if (server.server.getClientCapabilities()?.elicitation?.form === undefined) {
    if (confirm === true) return
    throw new KeywardenError(
      'INVALID_ARGUMENT',
      `deleting ${name} needs confirm: true; ask the user before deleting`,
    )
  }
  let answer: ElicitResult
  try {
    answer = await server.server.elicitInput({
      mode: 'form',
      message: `Delete the secret ${name} from the Keywarden vault for good? Agents and programs that use it will stop working.`,
      requestedSchema: {
        type: 'object',
        properties: {
          confirm: { type: 'boolean', title: `Delete ${name}`, description: 'Check to delete' },
        },
        required: ['confirm'],
      },
    })
  } catch {
    throw new ToolError(
      'ELICITATION_FAILED',
      `the client could not ask the user to confirm deleting ${name}; nothing was deleted`,
    )
  }
  if (answer.action !== 'accept' || answer.content?.confirm !== true) {
    throw new ToolError(
      'DECLINED',
      `the user did not agree to delete ${name} (${answer.action === 'accept' ? 'not confirmed' : answer.action}); nothing was deleted`,
    )
  }
}
