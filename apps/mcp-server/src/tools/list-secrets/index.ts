/**
 * `list_secrets`: list secrets.
 * @module
 */
import { secretMetadataJson } from '@keywarden/core'
import { z } from 'zod'
import { ok } from '../../results/index.ts'
import { describeSecret, UNTRUSTED_NOTE } from '../common/index.ts'
import { defineTool } from '../index.ts'
import { secretMetadataShape } from '../shapes/index.ts'

/** The `list_secrets` tool. */
export const listSecretsTool = defineTool({
  name: 'list_secrets',
  title: 'List secrets',
  description: 'Lists the secrets in the vault with their metadata. Never returns values.',
  inputSchema: z.strictObject({}),
  outputSchema: z.object({ count: z.number(), secrets: z.array(secretMetadataShape) }),
  annotations: { readOnlyHint: true, openWorldHint: false },
  async handler({ client }, _input) {
    const secrets = (await client.listSecrets()).map(secretMetadataJson)
    const text =
      secrets.length === 0
        ? 'The vault has no secrets.'
        : `${UNTRUSTED_NOTE}\n${secrets.length} secret${secrets.length === 1 ? '' : 's'}:\n${secrets
            .map((secret) => `- ${describeSecret(secret)}`)
            .join('\n')}`
    return ok({ count: secrets.length, secrets }, text)
  },
})
