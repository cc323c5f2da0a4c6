/**
 * The monitoring routes: per-secret usage metrics (`secret_metrics()` in SQL) and alerts on
 * suspicious access or overdue secrets (`secret_alerts(since)`). Read-only and value-free: the
 * SQL computes them from metadata and the audit log. Sending new alerts to the webhook is the
 * cron route's job, so a GPT asking about alerts never notifies anyone.
 * @module
 */
import { createRoute, type OpenAPIHono, z } from '@hono/zod-openapi'
import { secretAlertJson, secretMetricJson, type VaultClient } from '@keywarden/core'
import { parseSince, secretAlertShape, secretMetricShape } from '@keywarden/mcp-server'
import type { MiddlewareHandler } from 'hono'
import { errorResponses, PROTECTED_ERRORS } from '../errors/index.ts'
import { namedSchema } from '../schemas/index.ts'
import { security } from '../vault/index.ts'

const SecretMetricSchema = namedSchema(secretMetricShape, 'SecretMetric')

const SecretAlertSchema = namedSchema(secretAlertShape, 'SecretAlert')

/** What the monitoring routes need. */
export interface MonitoringRouteDeps {
  client: VaultClient
  auth: MiddlewareHandler
}

/** Registers `GET /metrics` and `GET /alerts`. */
export function registerMonitoringRoutes(app: OpenAPIHono, { client, auth }: MonitoringRouteDeps) {
  app.openapi(
    createRoute({
      method: 'get',
      path: '/metrics',
      operationId: 'secretMetrics',
      summary: 'Usage metrics per secret',
      description:
        'Per secret: accesses in the last 24 hours and 7 days, failed-access rate, the accessors (services) that used it, time since its last rotation, last access, rotation due date and expiry. Never values.',
      security,
      middleware: [auth] as const,
      responses: {
        200: {
          description: 'The metrics, by secret name',
          content: {
            'application/json': {
              schema: z.object({ count: z.number().int(), metrics: z.array(SecretMetricSchema) }),
            },
          },
        },
        ...errorResponses(...PROTECTED_ERRORS),
      },
    }),
    async (c) => {
      const metrics = (await client.secretMetrics()).map(secretMetricJson)
      return c.json({ count: metrics.length, metrics }, 200)
    },
  )

  app.openapi(
    createRoute({
      method: 'get',
      path: '/alerts',
      operationId: 'secretAlerts',
      summary: 'Security alerts',
      description:
        'Alerts since `since` (90m, 24h, 30d or an ISO date; default 24h): failed-access bursts, an accessor new to a secret, access spikes, secrets overdue for rotation or expired. Each has a kind, severity, secret, accessor and evidence.',
      security,
      middleware: [auth] as const,
      request: {
        query: z.object({
          since: z
            .string()
            .max(64)
            .optional()
            .openapi({ param: { name: 'since', in: 'query' }, example: '24h' }),
        }),
      },
      responses: {
        200: {
          description: 'The alerts, oldest first',
          content: {
            'application/json': {
              schema: z.object({ count: z.number().int(), alerts: z.array(SecretAlertSchema) }),
            },
          },
        },
        ...errorResponses(...PROTECTED_ERRORS),
      },
    }),
    async (c) => {
      const { since } = c.req.valid('query')
      const alerts = (
        await client.secretAlerts(since === undefined ? {} : { since: parseSince(since) })
      ).map(secretAlertJson)
      return c.json({ count: alerts.length, alerts }, 200)
    },
  )
}
