/**
 * `update_secret_metadata`: change a secret's description, type, expiry or rotation interval
 * without its value.
 * @module
 */
import { metadataPatchInput, SECRET_LIMITS } from '@keywarden/core'
import { z } from 'zod'
import { ok } from '../../results/index.ts'
import { defineTool } from '../index.ts'
import { nameInput, secretTypes } from '../shapes/index.ts'

/** The `update_secret_metadata` tool. */
export const updateSecretMetadataTool = defineTool({
  name: 'update_secret_metadata',
  title: "Change a secret's metadata",
  description:
    "Changes a secret's description, type, expiry or rotation interval without its value (no new version); fields left out keep their value. Who may read the secret and where it may go (agent visibility, allowed hosts and commands, the protected mark) are the user's to set (keywarden edit NAME). Keywarden's own credentials and protected secrets are refused, and it needs the user's door policy (keywarden policy set DOOR NAME --allow write).",
  inputSchema: z.strictObject({
    name: nameInput,
    description: z
      .string()
      .max(SECRET_LIMITS.descriptionLength)
      .optional()
      .describe(`What the secret is for (at most ${SECRET_LIMITS.descriptionLength} characters)`),
    type: z
      .enum(secretTypes)
      .optional()
      .describe('What the secret is; sets its default rotation interval'),
    expires_at: z
      .string()
      .optional()
      .describe('When it expires: an ISO 8601 date in the future, e.g. 2027-03-01T00:00:00Z'),
    rotation_interval_days: z
      .number()
      .int()
      .min(1)
      .max(SECRET_LIMITS.rotationIntervalDays)
      .optional()
      .describe('Days between rotations'),
  }),
  outputSchema: z.object({ name: z.string(), version: z.number().int(), updated: z.boolean() }),
  annotations: {
    readOnlyHint: false,
    destructiveHint: false,
    idempotentHint: true,
    openWorldHint: false,
  },
  async handler({ client }, { name, ...patch }) {
    const version = await client.updateSecretMetadata(name, metadataPatchInput(patch))
    return ok(
      { name, version, updated: true },
      `Updated the metadata of ${name}; the value is unchanged (version ${version}).`,
    )
  },
})
