/**
 * Webhook notifications: Slack-compatible JSON (`{ text, blocks }`, which Slack incoming
 * webhooks, Mattermost, Discord's `/slack` endpoint and most chat bridges accept), POSTed with
 * `fetch`, retried with exponential backoff a bounded number of times, each attempt under a
 * timeout. `send` never throws: a failed delivery is a result, so a caller's own work (a secret
 * read, a CLI command) never waits on or fails with a chat service.
 *
 * Messages are built here from metadata only — names, types, times, counts — never from a value.
 * Runtime-neutral.
 * @module
 */
import type { ExpiringSecret, SecretAlert } from '../store/index.ts'

/** The JSON body posted to the webhook. */
export interface WebhookMessage {
  /** The plain-text fallback every receiver shows. */
  text: string
  /** Slack Block Kit blocks, for receivers that render them. */
  blocks?: unknown[]
}

/** Options for {@link createWebhookNotifier}. */
export interface WebhookOptions {
  /** The webhook URL (`KEYWARDEN_WEBHOOK_URL`); never logged, it often carries a token. */
  url: string
  /** Attempts in all, first included (default 4). */
  attempts?: number
  /** The wait before the first retry, doubled for each next one (default 500 ms). */
  backoffMs?: number
  /** Each attempt's time limit (default 5 s). */
  timeoutMs?: number
  /** A fetch to use instead of the global one. */
  fetch?: typeof fetch
  /** How to wait between attempts (tests). Default: a timer. */
  sleep?: (ms: number) => Promise<void>
}

/** What a delivery did. */
export interface WebhookDelivery {
  delivered: boolean
  attempts: number
  /** The last HTTP status, when a response came. */
  status?: number
  /** Why the last attempt failed, without the URL. */
  error?: string
}

/** Sends messages to one webhook. */
export interface WebhookNotifier {
  send(message: WebhookMessage): Promise<WebhookDelivery>
}

/** Creates a notifier for `options.url`. */
export function createWebhookNotifier(options: WebhookOptions): WebhookNotifier {
  const attempts = Math.max(1, options.attempts ?? 4)
  const backoffMs = options.backoffMs ?? 500
  const timeoutMs = options.timeoutMs ?? 5_000
  const doFetch = options.fetch ?? globalThis.fetch
  const sleep =
    options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)))
  const body = (message: WebhookMessage) => JSON.stringify(message)

  return {
    async send(message) {
      let last: WebhookDelivery = { delivered: false, attempts: 0 }
      for (let attempt = 1; attempt <= attempts; attempt++) {
        if (attempt > 1) await sleep(backoffMs * 2 ** (attempt - 2))
        const { retryable, ...outcome } = await postOnce(
          doFetch,
          options.url,
          body(message),
          timeoutMs,
        )
        last = { ...outcome, attempts: attempt }
        if (outcome.delivered || !retryable) break
      }
      return last
    },
  }
}

async function postOnce(
  doFetch: typeof fetch,
  url: string,
  body: string,
  timeoutMs: number,
): Promise<Omit<WebhookDelivery, 'attempts'> & { retryable: boolean }> {
  const controller = new AbortController()
  const timer = setTimeout(() => controller.abort(), timeoutMs)
  try {
    const response = await doFetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body,
      signal: controller.signal,
    })
    // The body is not needed; reading it frees the connection.
    await response.arrayBuffer().catch(() => undefined)
    if (response.ok) return { delivered: true, status: response.status, retryable: false }
    return {
      delivered: false,
      status: response.status,
      error: `HTTP ${response.status}`,
      // A 4xx other than 408/429 will fail the same way again.
      retryable: response.status >= 500 || response.status === 408 || response.status === 429,
    }
  } catch (error) {
    const timedOut = controller.signal.aborted
    return {
      delivered: false,
      error: timedOut ? `no answer within ${timeoutMs} ms` : networkError(error),
      retryable: true,
    }
  } finally {
    clearTimeout(timer)
  }
}

// The error's class and code, never its message: undici's messages can quote the URL.
function networkError(error: unknown): string {
  const cause = (error as { cause?: { code?: unknown } } | undefined)?.cause
  const code = typeof cause?.code === 'string' ? cause.code : undefined
  return code ? `network error (${code})` : 'network error'
}

/** A section block of Slack mrkdwn. */
function section(text: string) {
  return { type: 'section', text: { type: 'mrkdwn', text } }
}

/** The reminder for a secret that falls due (or is overdue) for rotation or expiry. */
export function reminderMessage(secret: ExpiringSecret): WebhookMessage {
  const what = secret.reason === 'expires' ? 'expires' : 'is due for rotation'
  const when = secret.overdue
    ? `${secret.reason === 'expires' ? 'expired' : 'was due'} ${secret.dueAt.toISOString()}`
    : `${what} on ${secret.dueAt.toISOString()}`
  const text = `Keywarden: ${secret.name} (${secret.type}, ${secret.riskLevel} risk) ${when}. Rotate it with \`keywarden rotate ${secret.name}\`.`
  return {
    text,
    blocks: [
      section(`*${secret.overdue ? 'Overdue' : 'Rotation reminder'}*: \`${secret.name}\``),
      section(
        `Type \`${secret.type}\`, risk *${secret.riskLevel}*; ${when}.\nRotate: \`keywarden rotate ${secret.name}\``,
      ),
    ],
  }
}

/** The notification for a new alert. */
export function alertMessage(alert: SecretAlert): WebhookMessage {
  const subject = [
    alert.secretName ? `secret ${alert.secretName}` : undefined,
    alert.accessedBy ? `accessor ${alert.accessedBy}` : undefined,
  ]
    .filter(Boolean)
    .join(', ')
  const text = `Keywarden alert (${alert.severity}): ${alert.kind.replaceAll('_', ' ')} — ${subject} at ${alert.occurredAt.toISOString()}`
  return {
    text,
    blocks: [
      section(`*${alert.severity.toUpperCase()}*: ${alert.kind.replaceAll('_', ' ')}`),
      section(`${subject}\n\`\`\`${JSON.stringify(alert.evidence)}\`\`\``),
    ],
  }
}
