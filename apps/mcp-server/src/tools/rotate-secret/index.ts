/**
 * `rotate_secret`: rotate a secret.
 * @module
 */
import { z } from 'zod'
import { ok } from '../../results/index.ts'
import { iso } from '../common/index.ts'
import { defineTool } from '../index.ts'
import { nameInput } from '../shapes/index.ts'

/** The `rotate_secret` tool. */
export const rotateSecretTool = defineTool({
  name: 'rotate_secret',
  title: 'Rotate a secret',
  description:
    "Replaces a secret value with a new one; the previous value stays available to its users for grace_hours (default 24, 0 drops it at once). The value is never echoed back. Keywarden's own credentials and protected secrets are refused, and changing an existing secret needs the user's door policy (keywarden policy set DOOR NAME --allow write).",
  inputSchema: z.strictObject({
    name: nameInput,
    value: z.string().describe('The new secret value'),
    grace_hours: z
      .number()
      .min(0)
      .max(8760)
      .optional()
      .describe('Hours the previous value stays available (default 24; 0 drops it at once)'),
  }),
  outputSchema: z.object({
    name: z.string(),
    version: z.number(),
    previous_valid_until: z.string().nullable(),
  }),
  annotations: {
    readOnlyHint: false,
    destructiveHint: true,
    idempotentHint: false,
    openWorldHint: false,
  },
  async handler({ client }, { name, value, grace_hours }) {
    const result = await client.rotateSecret(
      name,
      value,
      grace_hours === undefined ? {} : { gracePeriodSeconds: Math.round(grace_hours * 3600) },
    )
    const previous = iso(result.previousValidUntil)
    return ok(
      { name, version: result.version, previous_valid_until: previous },
      `Rotated ${name} to version ${result.version}; ${previous ? `the previous value is served until ${previous}` : 'the previous value was dropped'}.`,
    )
  },
})
