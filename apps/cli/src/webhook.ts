/** The webhook the CLI's reminder, alert and incident commands notify, from the environment. */

import type { Environment } from '@keywarden/core'
import { createWebhookNotifier, KeywardenError, type WebhookNotifier } from '@keywarden/core'

/**
 * The notifier for `KEYWARDEN_WEBHOOK_URL`, or undefined when it is not set.
 * @throws {KeywardenError} CONFIGURATION_ERROR when it is not an http(s) URL; the URL is not
 *   shown, since a webhook URL (Slack's, for one) is itself a secret.
 */
export function webhookFrom(env: Environment): WebhookNotifier | undefined {
  const url = env.KEYWARDEN_WEBHOOK_URL
  if (!url) return undefined
  if (!URL.canParse(url) || !['http:', 'https:'].includes(new URL(url).protocol)) {
    throw new KeywardenError(
      'CONFIGURATION_ERROR',
      'KEYWARDEN_WEBHOOK_URL is not an http(s) URL: set it to the full webhook address, e.g. https://hooks.slack.com/services/…',
    )
  }
  return createWebhookNotifier({ url })
}
