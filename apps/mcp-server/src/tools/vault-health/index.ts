/**
 * `vault_health`: vault health.
 * @module
 */
import { z } from 'zod'
import { ok } from '../../results/index.ts'
import { defineTool } from '../index.ts'

/** The `vault_health` tool. */
export const vaultHealthTool = defineTool({
  name: 'vault_health',
  title: 'Vault health',
  description:
    'Whether the vault is reachable, which tier serves secrets, cache and audit-buffer statistics.',
  inputSchema: z.strictObject({}),
  outputSchema: z.object({
    secret_source: z.enum(['vault', 'env', 'none']),
    backend: z.object({
      kind: z.string(),
      target: z.string(),
      reachable: z.boolean(),
      error: z.string().optional(),
    }),
    accessed_by: z.string(),
    cache: z.looseObject({ ttl_ms: z.number() }),
    audit: z.looseObject({}),
    change_notifications: z.boolean(),
    schema_version: z
      .string()
      .nullable()
      .describe('The latest migration applied to the vault database; null when unknown'),
  }),
  annotations: { readOnlyHint: true, openWorldHint: false },
  async handler({ client }, _input) {
    const health = await client.health()
    const text = `secret source: ${health.secret_source}; backend ${health.backend.kind} (${health.backend.target}) ${health.backend.reachable ? 'reachable' : `unreachable${health.backend.error ? `: ${health.backend.error}` : ''}`}`
    return ok({ ...health }, text)
  },
})
