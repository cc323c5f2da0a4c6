/**
 * `store_secret`: store a secret.
 * @module
 */
import { SECRET_LIMITS } from '@keywarden/core'
import { z } from 'zod'
import { ok } from '../../results/index.ts'
import { defineTool } from '../index.ts'
import { nameInput, secretTypes } from '../shapes/index.ts'

/** The `store_secret` tool. */
export const storeSecretTool = defineTool({
  name: 'store_secret',
  title: 'Store a secret',
  description:
    "Creates a secret, or replaces the value of an existing one as a new version. The value is never echoed back. It does not make the secret readable by agents; only the user can (keywarden edit NAME --agent-visible). Keywarden's own credentials and protected secrets are refused, and changing an existing secret needs the user's door policy (keywarden policy set DOOR NAME --allow write).",
  inputSchema: z.strictObject({
    name: nameInput,
    value: z.string().describe('The secret value'),
    description: z
      .string()
      .max(SECRET_LIMITS.descriptionLength)
      .optional()
      .describe(`What the secret is for (at most ${SECRET_LIMITS.descriptionLength} characters)`),
    type: z
      .enum(secretTypes)
      .optional()
      .describe('What the secret is; sets its default rotation interval'),
  }),
  outputSchema: z.object({
    name: z.string(),
    id: z.string(),
    stored: z.boolean(),
    version: z.number().int(),
    outcome: z.enum(['created', 'replaced', 'unchanged']),
  }),
  // Replacing an existing secret's value is not purely additive.
  annotations: {
    readOnlyHint: false,
    destructiveHint: true,
    idempotentHint: false,
    openWorldHint: false,
  },
  async handler({ client }, { name, value, description, type }) {
    const { id, outcome, version } = await client.storeSecretReporting(name, value, {
      ...(description === undefined ? {} : { description }),
      ...(type === undefined ? {} : { type }),
    })
    const said = {
      created: `Created ${name} (version ${version}).`,
      replaced: `Replaced the value of ${name} (version ${version}).`,
      unchanged: `${name} already had this value: unchanged (version ${version}).`,
    }[outcome]
    return ok({ name, id, stored: true, version, outcome }, said)
  },
})
