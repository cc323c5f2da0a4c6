/**
 * The rotation lifecycle's jobs, written once for every front door (CLI `keywarden remind` /
 * `alerts`, the edge plugin's cron route, the MCP tools): the reminder run, new-alert
 * notifications, and verification checks for staged values. Runtime-neutral: `fetch` only.
 * @module
 */
import type { SecretVerifier, VaultClient } from '../client/index.ts'
import type { Environment } from '../config/index.ts'
import {
  alertMessage,
  reminderMessage,
  type WebhookMessage,
  type WebhookNotifier,
} from '../notify/index.ts'
import type { ExpiringSecret, NotificationClaim, SecretAlert, SecretType } from '../store/index.ts'

/** The claim kind of rotation reminders. */
export const REMINDER_KIND = 'rotation_reminder'

/** The claim kind of alert notifications. */
export const ALERT_KIND = 'alert'

/** Options for {@link runRotationCheck}. */
export interface RotationCheckOptions {
  client: VaultClient
  /** Where reminders go; without one, the run only reports what is due and claims nothing. */
  webhook?: WebhookNotifier
  /** The reminder window in days (default 7). */
  days?: number
  /** The instant to evaluate at (tests). Default: the database's now(). */
  now?: Date
}

/** What a reminder run did. */
export interface RotationCheckResult {
  /** Every secret due within the window (or overdue). */
  due: ExpiringSecret[]
  /** Names notified by this run. */
  notified: string[]
  /** Names already notified for their current window (by this or any other sender). */
  alreadyNotified: string[]
  /** Names whose delivery failed; their claims were given back for the next run. */
  failed: string[]
}

/**
 * The reminder job: finds what falls due within `days`, claims each secret's reminder window in
 * the database (so concurrent or repeated runs send one notification per secret per window),
 * and sends the claimed ones. A failed delivery is released, so the next run retries it.
 */
export async function runRotationCheck(
  options: RotationCheckOptions,
): Promise<RotationCheckResult> {
  const due = await options.client.checkExpiringSecrets(options.days ?? 7, {
    ...(options.now ? { now: options.now } : {}),
  })
  const claims = due.map((secret) => ({
    kind: REMINDER_KIND,
    secretName: secret.name,
    windowKey: secret.reminderWindow,
  }))
  const sent = await notifyClaimed(options.client, options.webhook, claims, (claim) =>
    reminderMessage(due.find((secret) => secret.name === claim.secretName) as ExpiringSecret),
  )
  return { due, ...sent }
}

/** Options for {@link notifyNewAlerts}. */
export interface AlertNotificationOptions {
  client: VaultClient
  webhook?: WebhookNotifier
  since?: Date
  now?: Date
}

/** What an alert run found and sent. */
export interface AlertNotificationResult {
  alerts: SecretAlert[]
  /** Alert keys notified by this run: the new alerts. */
  notified: string[]
  alreadyNotified: string[]
  failed: string[]
}

/**
 * Computes the alerts and sends each one not notified before ("new" is tracked in the same
 * claim table as reminders, keyed by the alert's key).
 */
export async function notifyNewAlerts(
  options: AlertNotificationOptions,
): Promise<AlertNotificationResult> {
  const alerts = await options.client.secretAlerts({
    ...(options.since ? { since: options.since } : {}),
    ...(options.now ? { now: options.now } : {}),
  })
  const claims = alerts.map((alert) => ({
    kind: ALERT_KIND,
    secretName: alert.secretName ?? '*',
    windowKey: alert.key,
  }))
  const sent = await notifyClaimed(options.client, options.webhook, claims, (claim) =>
    alertMessage(alerts.find((alert) => alert.key === claim.windowKey) as SecretAlert),
  )
  return { alerts, ...sent }
}

/** Claims, sends what this caller claimed (one at a time), and releases failed deliveries. */
async function notifyClaimed(
  client: VaultClient,
  webhook: WebhookNotifier | undefined,
  claims: NotificationClaim[],
  message: (claim: NotificationClaim) => WebhookMessage,
): Promise<{ notified: string[]; alreadyNotified: string[]; failed: string[] }> {
  const label = (claim: NotificationClaim) =>
    claim.kind === ALERT_KIND ? claim.windowKey : claim.secretName
  if (!webhook || claims.length === 0) return { notified: [], alreadyNotified: [], failed: [] }
  const claimed = await client.claimNotifications(claims)
  const identity = (claim: NotificationClaim) =>
    `${claim.kind}\0${claim.secretName}\0${claim.windowKey}`
  const mine = new Set(claimed.map(identity))
  const alreadyNotified = claims.filter((claim) => !mine.has(identity(claim))).map(label)
  const notified: string[] = []
  const failed: NotificationClaim[] = []
  for (const claim of claimed) {
    const delivery = await webhook.send(message(claim))
    if (delivery.delivered) notified.push(label(claim))
    else failed.push(claim)
  }
  await client.releaseNotifications(failed)
  return { notified, alreadyNotified, failed: failed.map(label) }
}

/** Options for {@link verifyGitHubToken}. */
export interface GitHubVerifierOptions {
  /** The REST API root (`GITHUB_API_URL`, for GitHub Enterprise). Default `https://api.github.com`. */
  apiUrl?: string
  fetch?: typeof fetch
  /** Default 10 s. */
  timeoutMs?: number
}

/**
 * Checks a GitHub token by `GET {apiUrl}/user` with it: a 200 means GitHub accepts it. The
 * result names the account (login) on success and the status on failure, never the token.
 */
export function verifyGitHubToken(options: GitHubVerifierOptions = {}): SecretVerifier {
  const apiUrl = (options.apiUrl ?? 'https://api.github.com').replace(/\/+$/, '')
  const doFetch = options.fetch ?? globalThis.fetch
  const timeoutMs = options.timeoutMs ?? 10_000
  return async ({ value }) => {
    try {
      const response = await doFetch(`${apiUrl}/user`, {
        headers: {
          authorization: `Bearer ${value}`,
          accept: 'application/vnd.github+json',
          'user-agent': 'keywarden',
        },
        signal: AbortSignal.timeout(timeoutMs),
      })
      const body = (await response.json().catch(() => ({}))) as { login?: unknown }
      if (!response.ok) return { ok: false, detail: `GitHub answered HTTP ${response.status}` }
      const login = typeof body.login === 'string' ? body.login : 'an account'
      return { ok: true, detail: `GitHub accepts it as ${login}` }
    } catch {
      return { ok: false, detail: `GitHub at ${new URL(apiUrl).host} could not be reached` }
    }
  }
}

/**
 * The verification check for a secret type, or undefined when the type has none (only
 * `github_token` has one: other providers' keys have no common "who am I" endpoint).
 */
export function verifierForType(
  type: SecretType,
  env: Environment,
  options: { fetch?: typeof fetch } = {},
): SecretVerifier | undefined {
  if (type !== 'github_token') return undefined
  return verifyGitHubToken({
    ...(env.GITHUB_API_URL ? { apiUrl: env.GITHUB_API_URL } : {}),
    ...(options.fetch ? { fetch: options.fetch } : {}),
  })
}
