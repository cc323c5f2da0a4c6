/**
 * `POST /cron/rotation-check`: the rotation reminder job and new-alert notifications, for a
 * scheduler (a Supabase scheduled function, or pg_cron with pg_net) rather than for ChatGPT.
 *
 * - It has its own bearer token (`cron_bearer_token`, else `CRON_BEARER_TOKEN`), checked by the
 *   same middleware as the plugin token, so the scheduler's token opens nothing else and the
 *   plugin token (which a GPT holds) cannot trigger notifications.
 * - It is kept out of the OpenAPI document: a GPT Action has one authentication scheme, the
 *   plugin token, which this route refuses, so listing it would only offer ChatGPT an operation
 *   it can never call.
 * - One notification per secret per window, and each alert once: the claims live in the vault
 *   (`runRotationCheck`, `notifyNewAlerts`), so a retried or doubled schedule sends nothing twice.
 * - The answer is counts and secret names only: no values, no alert evidence, no webhook URL.
 * @module
 */
import { createRoute, type OpenAPIHono, z } from '@hono/zod-openapi'
import {
  createWebhookNotifier,
  notifyNewAlerts,
  runRotationCheck,
  type VaultClient,
} from '@keywarden/core'
import type { MiddlewareHandler } from 'hono'
import { errorResponses, PROTECTED_ERRORS } from '../errors/index.ts'

const RotationCheckSchema = z.object({
  webhook_configured: z.boolean(),
  reminders: z.object({
    due: z.array(z.string()),
    sent: z.array(z.string()),
    skipped: z.array(z.string()),
    failed: z.array(z.string()),
  }),
  alerts: z.object({
    found: z.number().int(),
    sent: z.number().int(),
    skipped: z.number().int(),
    failed: z.number().int(),
  }),
})

/** What the cron route needs. */
export interface CronRouteDeps {
  client: VaultClient
  /** The middleware checking the cron token (not the plugin token). */
  auth: MiddlewareHandler
  /** `KEYWARDEN_WEBHOOK_URL`; without it the route reports what is due and sends nothing. */
  webhookUrl?: string
}

/** Registers `POST /cron/rotation-check`, hidden from the OpenAPI document. */
export function registerCronRoutes(app: OpenAPIHono, { client, auth, webhookUrl }: CronRouteDeps) {
  const webhook = webhookUrl ? createWebhookNotifier({ url: webhookUrl }) : undefined

  app.openapi(
    createRoute({
      method: 'post',
      path: '/cron/rotation-check',
      operationId: 'rotationCheck',
      hide: true,
      summary: 'Rotation reminders and new alerts (scheduler only)',
      description:
        'Sends one webhook reminder per secret due within `days` (default 7) per window, and each new alert once. Protected by the cron token, not the plugin token.',
      middleware: [auth] as const,
      request: {
        query: z.object({
          days: z.coerce.number().int().min(0).max(3650).default(7),
        }),
      },
      responses: {
        200: {
          description: 'What was sent, skipped as already sent, or failed (retried next run)',
          content: { 'application/json': { schema: RotationCheckSchema } },
        },
        ...errorResponses(...PROTECTED_ERRORS),
      },
    }),
    async (c) => {
      const { days } = c.req.valid('query')
      const target = { client, ...(webhook ? { webhook } : {}) }
      // One after the other: a reminder and an alert about the same secret arrive in that order.
      const reminders = await runRotationCheck({ ...target, days })
      const alerts = await notifyNewAlerts(target)
      return c.json(
        {
          webhook_configured: webhook !== undefined,
          reminders: {
            due: reminders.due.map((secret) => secret.name),
            sent: reminders.notified,
            skipped: reminders.alreadyNotified,
            failed: reminders.failed,
          },
          // Counts only: alert keys carry accessor names, which this answer has no need to show.
          alerts: {
            found: alerts.alerts.length,
            sent: alerts.notified.length,
            skipped: alerts.alreadyNotified.length,
            failed: alerts.failed.length,
          },
        },
        200,
      )
    },
  )
}
