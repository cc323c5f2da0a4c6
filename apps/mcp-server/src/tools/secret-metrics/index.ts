/**
 * `secret_metrics`: secret usage metrics.
 * @module
 */
import { secretMetricJson } from '@keywarden/core'
import { z } from 'zod'
import { ok } from '../../results/index.ts'
import { defineTool } from '../index.ts'
import { secretMetricShape } from '../shapes/index.ts'

/** The `secret_metrics` tool. */
export const secretMetricsTool = defineTool({
  name: 'secret_metrics',
  title: 'Secret usage metrics',
  description:
    'Per secret: accesses in the last 24 hours and 7 days, the failed share, the accessors (services) of the last 7 days, the last access, time since rotation, risk level and rotation due date. Never values.',
  inputSchema: z.strictObject({}),
  outputSchema: z.object({ count: z.number(), metrics: z.array(secretMetricShape) }),
  annotations: { readOnlyHint: true, openWorldHint: false },
  async handler({ client }, _input) {
    const metrics = (await client.secretMetrics()).map(secretMetricJson)
    const text =
      metrics.length === 0
        ? 'The vault has no secrets.'
        : metrics
            .map(
              (metric) =>
                `- ${metric.name} (${metric.risk_level}): ${metric.accesses_24h} accesses in 24h, ${metric.accesses_7d} in 7d, ${(metric.failure_rate * 100).toFixed(1)}% failed, ${metric.accessors_7d.length} accessor(s)${metric.rotation_due_at ? `, rotation due ${metric.rotation_due_at}` : ''}`,
            )
            .join('\n')
    return ok({ count: metrics.length, metrics }, text)
  },
})
