/** The webhook the CLI's reminder, alert and incident commands notify, from the environment. */

import type { Environment } from '@keywarden/core'
import { createWebhookNotifier, type WebhookNotifier } from '@keywarden/core'

/** The notifier for `KEYWARDEN_WEBHOOK_URL`, or undefined when it is not set. */
export function webhookFrom(env: Environment): WebhookNotifier | undefined {
  const url = env.KEYWARDEN_WEBHOOK_URL
  return url ? createWebhookNotifier({ url }) : undefined
}
