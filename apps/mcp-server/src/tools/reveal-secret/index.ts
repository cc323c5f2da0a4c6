/**
 * `reveal_secret`: reveal a secret value.
 * @module
 */
import { KeywardenError } from '@keywarden/core'
import { z } from 'zod'
import { ok } from '../../results/index.ts'
import { defineTool } from '../index.ts'
import { nameInput } from '../shapes/index.ts'

/** The `reveal_secret` tool. */
export const revealSecretTool = defineTool({
  name: 'reveal_secret',
  title: 'Reveal a secret value',
  description:
    "Returns the value of a secret the user marked agent-visible (keywarden edit NAME --agent-visible). Refused for every other secret, for protected secrets and Keywarden's own credentials, and where the door policy (keywarden policy) does not allow reveals.",
  inputSchema: z.strictObject({ name: nameInput }),
  outputSchema: z.object({
    name: z.string(),
    value: z.string(),
    version: z.number().nullable(),
  }),
  annotations: { readOnlyHint: true, openWorldHint: false },
  async handler({ client, log }, { name }) {
    // The door policy first (Keywarden's own credentials and protected secrets never leave
    // through an agent door), then the secret's own flag.
    const metadata = await client.authorize('reveal', name)
    if (metadata === null) {
      throw new KeywardenError('SECRET_NOT_FOUND', `secret ${name} is not in the vault`, {
        secretName: name,
      })
    }
    if (!metadata.agentVisible) {
      // The database never saw this request: the client commits the refusal before answering.
      await client.commitAccess({
        secretName: name,
        accessType: 'denied',
        success: false,
        errorMessage: 'reveal_secret: not agent-visible',
      })
      log('warning', `reveal_secret refused for ${name}: not agent-visible`)
      throw new KeywardenError(
        'ACCESS_DENIED',
        `${name} is not agent-visible; the user can allow it with \`keywarden edit ${name} --agent-visible\``,
        { secretName: name },
      )
    }
    const secret = await client.getSecret(name)
    // Audit first: the reveal is on record before the value leaves the process.
    await client.commitAccess({ secretName: name, accessType: 'reveal', success: true })
    return ok({ name, value: secret.value, version: secret.version }, `${name}: ${secret.value}`)
  },
})
