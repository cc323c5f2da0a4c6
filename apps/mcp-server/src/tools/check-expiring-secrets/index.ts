/**
 * `check_expiring_secrets`: check expiring secrets.
 * @module
 */
import { expiringSecretJson } from '@keywarden/core'
import { z } from 'zod'
import { ok } from '../../results/index.ts'
import { defineTool } from '../index.ts'
import { expiringSecretShape } from '../shapes/index.ts'

/** The `check_expiring_secrets` tool. */
export const checkExpiringSecretsTool = defineTool({
  name: 'check_expiring_secrets',
  title: 'Check expiring secrets',
  description:
    'Secrets that expire or are due for rotation within the next `days` days (default 7), including overdue ones.',
  inputSchema: z.strictObject({
    days: z.number().int().min(0).max(3650).optional().describe('The window in days'),
  }),
  outputSchema: z.object({ days: z.number(), secrets: z.array(expiringSecretShape) }),
  annotations: { readOnlyHint: true, openWorldHint: false },
  async handler({ client }, { days = 7 }) {
    const secrets = (await client.checkExpiringSecrets(days)).map(expiringSecretJson)
    const text =
      secrets.length === 0
        ? `Nothing expires or is due for rotation in the next ${days} days.`
        : secrets
            .map(
              (secret) =>
                `- ${secret.name}: ${secret.reason === 'expires' ? 'expires' : 'rotation due'} ${secret.due_at}${secret.overdue ? ' (overdue)' : ''}`,
            )
            .join('\n')
    return ok({ days, secrets }, text)
  },
})
