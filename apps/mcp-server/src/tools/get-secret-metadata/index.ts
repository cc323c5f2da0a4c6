/**
 * `get_secret_metadata`: get secret metadata.
 * @module
 */
import { secretMetadataJson } from '@keywarden/core'
import { z } from 'zod'
import { ok } from '../../results/index.ts'
import { describeSecret, findMetadata, UNTRUSTED_NOTE } from '../common/index.ts'
import { defineTool } from '../index.ts'
import { nameInput, secretMetadataShape } from '../shapes/index.ts'

/** The `get_secret_metadata` tool. */
export const getSecretMetadataTool = defineTool({
  name: 'get_secret_metadata',
  title: 'Get secret metadata',
  description:
    "One secret's metadata: type, version, dates, rotation, whether agents may read it and the hosts it may be sent to. Never the value.",
  inputSchema: z.strictObject({ name: nameInput }),
  outputSchema: secretMetadataShape,
  annotations: { readOnlyHint: true, openWorldHint: false },
  async handler({ client }, { name }) {
    const secret = secretMetadataJson(await findMetadata(client, name))
    return ok(
      secret,
      secret.description ? `${UNTRUSTED_NOTE}\n${describeSecret(secret)}` : describeSecret(secret),
    )
  },
})
