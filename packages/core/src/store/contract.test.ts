/**
 * The store contract (DESIGN.md, "The core client" and "Testing"): one suite, run through the
 * SecretStore interface against every store — embedded PGlite, the real PostgreSQL server and
 * supabase-js over the PostgREST test double. Each store gets one fresh database for the whole
 * file; tests stay independent by using names of their own.
 */
import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { AuditEvent } from '../audit/index.ts'
import { isKeywardenError, type KeywardenError } from '../errors/index.ts'
import { LATEST_SCHEMA_VERSION } from '../migrate/index.ts'
import { randomRootKey } from '../testing/databases.ts'
import { rejection } from '../testing/expect.ts'
import { createTestStore, storeCases, type TestStore } from '../testing/stores.ts'
import type { SecretStore } from './index.ts'
import { createPostgresStore } from './postgres.ts'

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/
const DAY_MS = 86_400_000
/** How long a test waits for a notification before failing: generous, never a sleep. */
const NOTIFICATION_TIMEOUT_MS = 10_000

/** A unique name per call, so tests sharing a database never share a secret. */
let sequence = 0
function fresh(base: string): string {
  sequence += 1
  return `${base}_${sequence}`
}

/** A value that must never show up in an error or a listing. */
function canary(label: string): string {
  sequence += 1
  return `canary-${label}-${sequence}-${Math.random().toString(36).slice(2)}`
}

/** Fails if `secret` appears in the error's message or its JSON. */
function expectNoTrace(error: KeywardenError, secret: string): void {
  expect(error.message).not.toContain(secret)
  expect(JSON.stringify(error)).not.toContain(secret)
}

/** Within `slackMs` of `[from, to]`: for database timestamps compared with the local clock. */
function expectBetween(date: Date | null, from: number, to: number, slackMs = 5_000): void {
  expect(date).toBeInstanceOf(Date)
  const time = date?.getTime() ?? Number.NaN
  expect(time).toBeGreaterThanOrEqual(from - slackMs)
  expect(time).toBeLessThanOrEqual(to + slackMs)
}

/**
 * `days` days after `from`. PostgreSQL adds days in the server's time zone, so across a
 * daylight-saving change the result is an hour off a multiple of 24 hours.
 */
function expectDaysAfter(date: Date | null | undefined, from: Date | undefined, days: number) {
  expect(date).toBeInstanceOf(Date)
  const offset = (date?.getTime() ?? Number.NaN) - (from?.getTime() ?? Number.NaN) - days * DAY_MS
  expect(Math.abs(offset)).toBeLessThanOrEqual(3_600_000)
}

/** A subscription that remembers what it heard and can wait for a name. */
interface Changes {
  readonly heard: readonly string[]
  /** Resolves when `name` is heard after this call; rejects after a generous timeout. */
  next(name: string): Promise<void>
  stop(): Promise<void>
}

async function listen(store: SecretStore): Promise<Changes> {
  const subscribe = store.subscribe
  if (!subscribe) throw new Error(`the ${store.kind} store cannot subscribe`)
  const heard: string[] = []
  const waiters = new Set<{ name: string; resolve(): void }>()
  const stop = await subscribe.call(store, (name) => {
    heard.push(name)
    for (const waiter of waiters) {
      if (waiter.name === name) {
        waiters.delete(waiter)
        waiter.resolve()
      }
    }
  })
  return {
    heard,
    next(name) {
      return new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.delete(waiter)
          reject(new Error(`no notification for ${name} within ${NOTIFICATION_TIMEOUT_MS} ms`))
        }, NOTIFICATION_TIMEOUT_MS)
        const waiter = {
          name,
          resolve() {
            clearTimeout(timer)
            resolve()
          },
        }
        waiters.add(waiter)
      })
    },
    stop,
  }
}

/** Valid values: non-empty, at most 65536 UTF-8 bytes, no NUL (PostgreSQL text cannot hold it). */
const validValue = fc
  .oneof(
    fc.string({ unit: 'binary', minLength: 1 }),
    fc.string({ unit: 'grapheme', minLength: 1, maxLength: 200 }),
    fc.string({ unit: 'binary', minLength: 16_000, maxLength: 20_000 }),
  )
  .map((value) => value.replaceAll('\u0000', ''))
  .filter((value) => value !== '' && Buffer.byteLength(value, 'utf8') <= 65_536)

describe.each(await storeCases())('the $label store', ({ kind, server }) => {
  let t: TestStore
  // The embedded store is replaced when a test reopens its home.
  const store = () => t.store
  /** The compatible vault (its key is the session's `keywarden.root_key`), not supabase_vault. */
  const compatibleVault = server !== 'supabase-like'

  beforeAll(async () => {
    t = await createTestStore(kind, { server })
  })

  afterAll(async () => {
    await t?.cleanup()
  })

  // --- values and versions --------------------------------------------------------------------

  it('stores and reads a value, counting versions only when the value changes', async () => {
    const name = fresh('round_trip')
    const id = await store().storeSecret(name, 'first-value', {}, 'test')
    expect(id).toMatch(UUID)
    expect(await store().getSecret(name, 'test')).toEqual({ value: 'first-value', version: 1 })

    // The same value again: no new version, the same vault row.
    expect(await store().storeSecret(name, 'first-value', {}, 'test')).toBe(id)
    expect(await store().getSecret(name, 'test')).toEqual({ value: 'first-value', version: 1 })

    await store().storeSecret(name, 'second-value', {}, 'test')
    expect(await store().getSecret(name, 'test')).toEqual({ value: 'second-value', version: 2 })
    await store().storeSecret(name, 'third-value', {}, 'test')
    expect(await store().getSecret(name, 'test')).toEqual({ value: 'third-value', version: 3 })
  })

  it('changes metadata without the value or a new version (update_secret_metadata)', async () => {
    const name = fresh('edit_meta')
    const value = canary('edit')
    await store().storeSecret(name, value, { description: 'before' }, 'test')
    const expiresAt = new Date(Date.now() + 30 * DAY_MS)
    const version = await store().updateSecretMetadata(
      name,
      {
        description: 'after',
        type: 'api_key',
        expiresAt,
        rotationIntervalDays: 10,
        agentVisible: true,
        allowedHosts: ['api.example.com'],
        allowedCommands: ['terraform'],
        protected: true,
      },
      'test',
    )
    expect(version).toBe(1)
    const listed = (await store().listSecrets('test')).find((secret) => secret.name === name)
    expect(listed).toMatchObject({
      description: 'after',
      type: 'api_key',
      version: 1,
      expiresAt,
      rotationIntervalDays: 10,
      agentVisible: true,
      allowedHosts: ['api.example.com'],
      allowedCommands: ['terraform'],
      protected: true,
    })
    // What is left out keeps its value.
    await store().updateSecretMetadata(name, { agentVisible: false }, 'test')
    expect(
      (await store().listSecrets('test')).find((secret) => secret.name === name),
    ).toMatchObject({ description: 'after', agentVisible: false, protected: true })
    expect(await store().getSecret(name, 'test')).toEqual({ value, version: 1 })
    await rejection(
      store().updateSecretMetadata(fresh('edit_missing'), { description: 'x' }, 'test'),
      'SECRET_NOT_FOUND',
    )
    await rejection(
      store().updateSecretMetadata(name, { expiresAt: new Date(Date.now() - DAY_MS) }, 'test'),
      'INVALID_ARGUMENT',
    )
    await rejection(
      store().updateSecretMetadata(name, { allowedHosts: ['https://x'] }, 'test'),
      'INVALID_ARGUMENT',
    )
  })

  it('refuses to rotate a secret to the value it already has, naming no value', async () => {
    const name = fresh('rotate_same')
    const value = canary('same')
    await store().storeSecret(name, value, {}, 'test')
    const error = await rejection(
      store().rotateSecret(name, value, 3600, 'test'),
      'INVALID_ARGUMENT',
    )
    expectNoTrace(error, value)
    expect(await store().getSecret(name, 'test')).toEqual({ value, version: 1 })
  })

  it('reports the schema version this release ships', async () => {
    expect(await store().schemaVersion?.()).toBe(LATEST_SCHEMA_VERSION)
  })

  it('runs OAuth operations through public.oauth_call, refusals as answers', async () => {
    const client = (await store().oauthCall('register_client', {
      client_name: `Contract ${fresh('client')}`,
      redirect_uris: ['https://client.example/callback'],
    })) as { client_id: string; door: string }
    expect(client.door).toMatch(/^oauth:contract-client_\d+$/)
    expect(await store().oauthCall('get_client', { client_id: client.client_id })).toMatchObject({
      client_id: client.client_id,
      redirect_uris: ['https://client.example/callback'],
    })
    expect(await store().oauthCall('get_client', { client_id: 'kwc_nobody' })).toMatchObject({
      error: 'invalid_client',
    })
    expect(await store().oauthCall('pending_requests', {})).toEqual([])
    await rejection(
      store().oauthCall('verify_access_token', { access_hash: 'raw' }),
      'INVALID_ARGUMENT',
    )
  })

  it('reads a missing secret as null', async () => {
    expect(await store().getSecret(fresh('missing'), 'test')).toBeNull()
    expect(await store().getSecret(fresh('missing'), 'test', 'previous')).toBeNull()
  })

  it('reads many secrets in one call, null for the missing ones, once per name', async () => {
    const first = fresh('many_a')
    const second = fresh('many_b')
    const missing = fresh('many_missing')
    await store().storeSecret(first, 'value-a', {}, 'test')
    await store().storeSecret(second, 'value-b', {}, 'test')
    await store().storeSecret(second, 'value-b2', {}, 'test')

    const values = await store().getSecrets([first, missing, second, first], 'test')
    expect(values).toBeInstanceOf(Map)
    expect([...values.keys()]).toEqual([first, missing, second])
    expect(values.get(first)).toEqual({ value: 'value-a', version: 1 })
    expect(values.get(second)).toEqual({ value: 'value-b2', version: 2 })
    expect(values.has(missing)).toBe(true)
    expect(values.get(missing)).toBeNull()

    expect(await store().getSecrets([], 'test')).toEqual(new Map())
  })

  it('keeps the 64 KiB limit in UTF-8 bytes, not characters', async () => {
    const name = fresh('largest')
    const largest = 'é'.repeat(32_768) // 65536 bytes
    await store().storeSecret(name, largest, {}, 'test')
    expect((await store().getSecret(name, 'test'))?.value).toBe(largest)

    const error = await rejection(
      store().storeSecret(name, `${largest}x`, {}, 'test'),
      'INVALID_VALUE',
    )
    expect(error.message).toContain('65537')
    expect((await store().getSecret(name, 'test'))?.value).toBe(largest)
  })

  // --- rotation -------------------------------------------------------------------------------

  it('rotates with a grace period that serves the previous value, and without one', async () => {
    const name = fresh('rotated')
    const firstId = await store().storeSecret(name, 'old-value', {}, 'test')

    const before = Date.now()
    const rotated = await store().rotateSecret(name, 'new-value', 3_600, 'test')
    const after = Date.now()
    expect(rotated.id).toMatch(UUID)
    expect(rotated.id).not.toBe(firstId)
    expect(rotated.version).toBe(2)
    expectBetween(rotated.previousValidUntil, before + 3_600_000, after + 3_600_000)

    expect(await store().getSecret(name, 'test')).toEqual({ value: 'new-value', version: 2 })
    expect(await store().getSecret(name, 'test', 'previous')).toEqual({
      value: 'old-value',
      version: 1,
    })
    const listed = (await store().listSecrets('test')).find((secret) => secret.name === name)
    expect(listed?.version).toBe(2)
    expectBetween(listed?.lastRotatedAt ?? null, before, after)
    expect(listed?.previousValidUntil?.getTime()).toBe(rotated.previousValidUntil?.getTime())

    const dropped = await store().rotateSecret(name, 'newest-value', 0, 'test')
    expect(dropped).toEqual({
      id: expect.stringMatching(UUID),
      version: 3,
      previousValidUntil: null,
    })
    expect(await store().getSecret(name, 'test')).toEqual({ value: 'newest-value', version: 3 })
    expect(await store().getSecret(name, 'test', 'previous')).toBeNull()
  })

  it('refuses to rotate a secret that does not exist', async () => {
    const name = fresh('never_stored')
    const value = canary('rotate')
    const error = await rejection(store().rotateSecret(name, value, 60, 'test'), 'SECRET_NOT_FOUND')
    expect(error.secretName).toBe(name)
    expectNoTrace(error, value)
    expect(await store().getSecret(name, 'test')).toBeNull()
  })

  it('deletes a secret once', async () => {
    const name = fresh('deleted')
    await store().storeSecret(name, 'doomed', {}, 'test')
    await store().rotateSecret(name, 'doomed-2', 3_600, 'test')
    expect(await store().deleteSecret(name, 'test')).toBe(true)
    expect(await store().getSecret(name, 'test')).toBeNull()
    expect(await store().getSecret(name, 'test', 'previous')).toBeNull()
    expect(await store().deleteSecret(name, 'test')).toBe(false)
    expect((await store().listSecrets('test')).map((secret) => secret.name)).not.toContain(name)
  })

  // --- metadata -------------------------------------------------------------------------------

  it('lists names and metadata with their types, never values', async () => {
    const github = fresh('meta_github')
    const service = fresh('meta_service')
    const signing = fresh('meta_signing')
    const custom = fresh('meta_custom')
    const values = [canary('github'), canary('service'), canary('signing'), canary('custom')]
    const expiresAt = new Date(Date.now() + 30 * DAY_MS)
    const before = Date.now()
    await store().storeSecret(
      github,
      values[0] ?? '',
      { description: 'GitHub PAT', type: 'github_token', expiresAt },
      'test',
    )
    await store().storeSecret(service, values[1] ?? '', { type: 'service_key' }, 'test')
    await store().storeSecret(signing, values[2] ?? '', { type: 'signing_key' }, 'test')
    await store().storeSecret(
      custom,
      values[3] ?? '',
      { type: 'api_key', rotationIntervalDays: 30 },
      'test',
    )
    const after = Date.now()

    const listed = await store().listSecrets('test')
    for (const value of values) expect(JSON.stringify(listed)).not.toContain(value)
    const byName = new Map(listed.map((secret) => [secret.name, secret]))

    const gh = byName.get(github)
    expect(gh).toEqual({
      name: github,
      description: 'GitHub PAT',
      type: 'github_token',
      version: 1,
      createdAt: expect.any(Date),
      updatedAt: expect.any(Date),
      lastRotatedAt: null,
      expiresAt: expect.any(Date),
      rotationIntervalDays: 90,
      rotationDueAt: expect.any(Date),
      previousValidUntil: null,
      agentVisible: false,
      allowedHosts: [],
      allowedCommands: [],
      protected: false,
    })
    expect(gh?.expiresAt?.getTime()).toBe(expiresAt.getTime())
    expectBetween(gh?.createdAt ?? null, before, after)
    expectBetween(gh?.updatedAt ?? null, before, after)
    expectDaysAfter(gh?.rotationDueAt, gh?.createdAt, 90)

    expect(byName.get(service)).toMatchObject({
      type: 'service_key',
      description: null,
      rotationIntervalDays: 180,
      expiresAt: null,
    })
    expect(byName.get(signing)).toMatchObject({
      type: 'signing_key',
      rotationIntervalDays: null,
      rotationDueAt: null,
    })
    const mine = byName.get(custom)
    expect(mine).toMatchObject({ type: 'api_key', rotationIntervalDays: 30 })
    expectDaysAfter(mine?.rotationDueAt, mine?.createdAt, 30)

    // Storing again changes what is given and keeps what is left out.
    await store().storeSecret(github, values[0] ?? '', { description: 'GitHub PAT (CI)' }, 'test')
    const again = (await store().listSecrets('test')).find((secret) => secret.name === github)
    expect(again).toMatchObject({
      description: 'GitHub PAT (CI)',
      type: 'github_token',
      version: 1,
      rotationIntervalDays: 90,
    })
    expect(again?.expiresAt?.getTime()).toBe(expiresAt.getTime())
  })

  it('round-trips agent access metadata, keeping what is left out', async () => {
    const name = fresh('agent_access')
    const access = async () => {
      const listed = (await store().listSecrets('test')).find((secret) => secret.name === name)
      return { agentVisible: listed?.agentVisible, allowedHosts: listed?.allowedHosts }
    }
    await store().storeSecret(name, 'agent-value', {}, 'test')
    expect(await access()).toEqual({ agentVisible: false, allowedHosts: [] })

    const hosts = ['api.github.com', '*.example.com', 'localhost:8443']
    await store().storeSecret(
      name,
      'agent-value',
      { agentVisible: true, allowedHosts: hosts },
      'test',
    )
    expect(await access()).toEqual({ agentVisible: true, allowedHosts: hosts })

    await store().storeSecret(name, 'agent-value-2', { description: 'kept' }, 'test')
    expect(await access()).toEqual({ agentVisible: true, allowedHosts: hosts })

    await rejection(
      store().storeSecret(
        name,
        'agent-value-3',
        { allowedHosts: ['https://x.example.com'] },
        'test',
      ),
      'INVALID_ARGUMENT',
    )

    await store().storeSecret(
      name,
      'agent-value-2',
      { agentVisible: false, allowedHosts: [] },
      'test',
    )
    expect(await access()).toEqual({ agentVisible: false, allowedHosts: [] })
    expect(await store().getSecret(name, 'test')).toEqual({ value: 'agent-value-2', version: 2 })
  })

  it('finds secrets that expire within the window, and not those outside it', async () => {
    const soon = fresh('expires_soon')
    const later = fresh('expires_later')
    const past = fresh('expired')
    const now = Date.now()
    await store().storeSecret(soon, 'v', { expiresAt: new Date(now + 3 * DAY_MS) }, 'test')
    await store().storeSecret(later, 'v', { expiresAt: new Date(now + 30 * DAY_MS) }, 'test')
    await store().storeSecret(past, 'v', { expiresAt: new Date(now - DAY_MS) }, 'test')

    const expiring = await store().checkExpiringSecrets(7, 'test')
    const byName = new Map(expiring.map((secret) => [secret.name, secret]))
    expect(byName.get(soon)).toEqual({
      name: soon,
      type: 'other',
      reason: 'expires',
      dueAt: new Date(now + 3 * DAY_MS),
      expiresAt: new Date(now + 3 * DAY_MS),
      rotationDueAt: null,
      overdue: false,
      riskLevel: 'medium',
      reminderWindow: expect.stringMatching(/^expires:.*Z:upcoming$/),
    })
    expect(byName.get(past)).toMatchObject({ reason: 'expires', overdue: true })
    // An injected instant: four days on, `soon` is overdue too.
    const later4 = await store().checkExpiringSecrets(0, 'test', new Date(now + 4 * DAY_MS))
    expect(later4.find((secret) => secret.name === soon)?.overdue).toBe(true)
    expect(byName.has(later)).toBe(false)

    const wider = await store().checkExpiringSecrets(31, 'test')
    expect(wider.map((secret) => secret.name)).toContain(later)
  })

  // --- rotation lifecycle and monitoring -------------------------------------------------------

  it('stages a rotation that is not served until promoted, and discards one', async () => {
    const name = fresh('staged')
    await store().storeSecret(name, 'staged-current', { type: 'github_token' }, 'test')
    const stagedAt = await store().stageRotation(name, 'staged-pending', 'test')
    expect(stagedAt).toBeInstanceOf(Date)
    expect(await store().getSecret(name, 'test')).toEqual({ value: 'staged-current', version: 1 })
    expect(await store().getStagedSecret(name, 'test')).toBe('staged-pending')
    const metric = (await store().secretMetrics()).find((entry) => entry.name === name)
    expect(metric?.rotationStagedAt).toBeInstanceOf(Date)

    const promoted = await store().promoteRotation(name, 60, 'test')
    expect(promoted.version).toBe(2)
    expect(promoted.previousValidUntil).toBeInstanceOf(Date)
    expect(await store().getSecret(name, 'test')).toEqual({ value: 'staged-pending', version: 2 })
    expect(await store().getSecret(name, 'test', 'previous')).toEqual({
      value: 'staged-current',
      version: 1,
    })
    expect(await store().getStagedSecret(name, 'test')).toBeNull()
    await rejection(store().promoteRotation(name, 60, 'test'), 'SECRET_NOT_FOUND')

    await store().stageRotation(name, 'staged-dropped', 'test')
    expect(await store().discardRotation(name, 'test')).toBe(true)
    expect(await store().discardRotation(name, 'test')).toBe(false)
    expect(await store().getSecret(name, 'test')).toEqual({ value: 'staged-pending', version: 2 })
  })

  it('reports metrics and alerts at an injected instant, with Dates and evidence', async () => {
    const name = fresh('watched')
    // Due for rotation within a second, so the alert below is overdue a minute later.
    await store().storeSecret(
      name,
      'watched-value',
      { type: 'api_key', rotationIntervalDays: 0.00001 },
      'test',
    )
    // Audit rows carry the database's clock: the instant evaluated is a minute after them.
    const now = new Date(Date.now() + 60_000)
    const failures = Array.from({ length: 6 }, () => ({
      secret_name: name,
      accessed_by: `${name}-prober`,
      access_type: 'read',
      success: false,
      created_at: new Date().toISOString(),
    }))
    await store().logAccessBatch([
      ...failures,
      {
        secret_name: name,
        accessed_by: 'svc',
        access_type: 'cache_hit',
        success: true,
        created_at: new Date().toISOString(),
        // 6 + 4 uses: within one hour, not above 10 — so no access_spike on top.
        event_count: 4,
      },
    ])
    const metric = (await store().secretMetrics(now)).find((entry) => entry.name === name)
    expect(metric).toMatchObject({
      type: 'api_key',
      riskLevel: 'high',
      accesses24h: 10,
      failed7d: 6,
      failureRate: 0.6,
      accessors7d: ['svc', `${name}-prober`],
      rotationStagedAt: null,
    })
    expect(
      Math.abs((metric?.lastAccessedAt?.getTime() ?? 0) - (now.getTime() - 60_000)),
    ).toBeLessThan(30_000)
    expect(metric?.rotationDueAt).toBeInstanceOf(Date)

    const alerts = (await store().secretAlerts({ since: new Date(now.getTime() - DAY_MS), now }))
      .filter((alert) => alert.secretName === name)
      .sort((a, b) => a.kind.localeCompare(b.kind))
    expect(alerts.map((alert) => [alert.kind, alert.severity, alert.accessedBy])).toEqual([
      ['failed_access_burst', 'high', `${name}-prober`],
      ['rotation_overdue', 'high', null],
    ])
    expect(alerts[0]?.occurredAt).toBeInstanceOf(Date)
    expect(alerts[0]?.evidence).toMatchObject({ failures_in_hour: 6 })
    expect(JSON.stringify(alerts)).not.toContain('watched-value')
  })

  it('claims each notification once and takes released ones back', async () => {
    const claim = { kind: 'rotation_reminder', secretName: fresh('claimed'), windowKey: 'w' }
    expect(await store().claimNotifications([claim, claim], 'test')).toEqual([claim])
    expect(await store().claimNotifications([claim], 'test')).toEqual([])
    expect(await store().releaseNotifications([claim])).toBe(1)
    expect(await store().claimNotifications([claim], 'test')).toEqual([claim])
  })

  // --- audit ----------------------------------------------------------------------------------

  it('writes client audit events and queries them back, newest first, with filters', async () => {
    const name = fresh('audited')
    const other = fresh('audited_other')
    // The client's times are kept apart; created_at is the database's clock at the write.
    const clientTime = new Date(Date.now() - 60_000).toISOString()
    const first: AuditEvent[] = [
      {
        secret_name: name,
        accessed_by: 'agent:one',
        access_type: 'cache_hit',
        success: true,
        created_at: clientTime,
        event_count: 5,
        secret_version: 1,
        source: 'cache',
      },
    ]
    const second: AuditEvent[] = [
      {
        secret_name: other,
        accessed_by: 'agent:four',
        access_type: 'denied',
        success: false,
        created_at: clientTime,
      },
      {
        secret_name: name,
        accessed_by: 'agent:two',
        access_type: 'env_fallback',
        success: true,
        created_at: clientTime,
        source: 'env',
      },
      {
        secret_name: name,
        accessed_by: 'agent:three',
        access_type: 'error',
        success: false,
        error_message: 'VAULT_UNAVAILABLE: the vault is unavailable',
        created_at: clientTime,
      },
    ]
    const before = Date.now()
    expect(await store().logAccessBatch(first)).toBe(1)
    const [written] = await store().queryAudit({ secretName: name })
    expect(written?.createdAt.getTime()).toBeGreaterThanOrEqual(before - 5_000)
    // Milliseconds cut off the microseconds: one more is after the first batch, before the next.
    const between = new Date((written?.createdAt.getTime() ?? 0) + 1)
    await new Promise((resolve) => setTimeout(resolve, 5))
    expect(await store().logAccessBatch(second)).toBe(3)

    const all = await store().queryAudit({ secretName: name })
    expect(all.map((record) => record.accessType)).toEqual(['error', 'env_fallback', 'cache_hit'])
    expect(all[2]).toEqual({
      id: expect.any(Number),
      secretName: name,
      accessedBy: 'agent:one',
      accessType: 'cache_hit',
      success: true,
      errorMessage: null,
      createdAt: written?.createdAt,
      eventCount: 5,
      secretVersion: 1,
      source: 'cache',
    })
    expect(all[1]).toMatchObject({ eventCount: 1, source: 'env', secretVersion: null })
    expect(all[0]).toMatchObject({
      success: false,
      errorMessage: 'VAULT_UNAVAILABLE: the vault is unavailable',
      source: null,
    })

    const failed = await store().queryAudit({ secretName: name, failedOnly: true })
    expect(failed.map((record) => record.accessedBy)).toEqual(['agent:three'])
    const since = await store().queryAudit({ secretName: name, since: between })
    expect(since.map((record) => record.accessedBy)).toEqual(['agent:three', 'agent:two'])
    const newest = await store().queryAudit({ secretName: name, limit: 1 })
    expect(newest.map((record) => record.accessedBy)).toEqual(['agent:three'])

    // Without a name filter, every secret's rows come.
    const everything = await store().queryAudit({ since: between, limit: 100_000 })
    const names = everything.map((record) => record.secretName)
    expect(names).toContain(name)
    expect(names).toContain(other)
    expect(names.indexOf(name)).toBeLessThan(names.indexOf(other))
  })

  it("answers the dashboard's aggregations as JSON arrays, the same on every store", async () => {
    const name = fresh('dashboard')
    await store().storeSecret(name, 'value', {}, 'mcp:dash')
    await store().getSecret(name, 'mcp:dash')
    await store().getSecret(`${name}_absent`, 'mcp:dash')
    const range = {
      p_from: new Date(Date.now() - DAY_MS).toISOString(),
      p_to: new Date(Date.now() + 60_000).toISOString(),
    }
    const accessors = await store().dashboardQuery('audit_accessors', { ...range, p_secret: name })
    expect(accessors).toMatchObject([
      { secret_name: name, accessed_by: 'mcp:dash', door: 'mcp', events: 2, failures: 0 },
    ])
    const activity = await store().dashboardQuery('audit_activity', {
      ...range,
      p_bucket: 'day',
      p_group: 'secret',
      p_secret: name,
    })
    expect(activity.reduce((sum, point) => sum + Number(point.events), 0)).toBe(2)
    const failures = await store().dashboardQuery('audit_failures', {
      ...range,
      p_secret: `${name}_absent`,
    })
    expect(failures).toMatchObject([{ accessed_by: 'mcp:dash', access_type: 'read', events: 1 }])
  })

  it('verifies the audit log chain, and checks an anchor', async () => {
    const name = fresh('verified')
    await store().storeSecret(name, 'value', {}, 'agent:verify')
    const result = await store().verifyAuditLog()
    expect(result).toMatchObject({ intact: true, firstBrokenId: null, reason: null })
    expect(result.rowsChecked).toBeGreaterThan(0)
    expect(result.lastHash).toMatch(/^[0-9a-f]{64}$/)
    const anchor = { id: result.lastId as number, hash: result.lastHash as string }
    await store().getSecret(name, 'agent:verify')
    expect((await store().verifyAuditLog(anchor)).intact).toBe(true)
    const forged = { id: anchor.id, hash: '0'.repeat(64) }
    expect(await store().verifyAuditLog(forged)).toMatchObject({
      intact: false,
      firstBrokenId: anchor.id,
      reason: 'anchor_mismatch',
    })
  })

  it('records who stored, read, rotated and deleted, and never the value', async () => {
    const name = fresh('who')
    const values = [canary('who1'), canary('who2')]
    await store().storeSecret(name, values[0] ?? '', {}, 'agent:store')
    await store().getSecret(name, 'agent:read')
    await store().getSecrets([name], 'agent:read-many')
    await store().rotateSecret(name, values[1] ?? '', 60, 'agent:rotate')
    await store().getSecret(name, 'agent:read-previous', 'previous')
    await store().deleteSecret(name, 'agent:delete')
    await store().getSecret(name, 'agent:read-missing')

    const records = await store().queryAudit({ secretName: name })
    expect(
      records.reverse().map(({ accessType, accessedBy, success, secretVersion }) => ({
        accessType,
        accessedBy,
        success,
        secretVersion,
      })),
    ).toEqual([
      { accessType: 'store', accessedBy: 'agent:store', success: true, secretVersion: 1 },
      { accessType: 'read', accessedBy: 'agent:read', success: true, secretVersion: 1 },
      { accessType: 'read', accessedBy: 'agent:read-many', success: true, secretVersion: 1 },
      { accessType: 'rotate', accessedBy: 'agent:rotate', success: true, secretVersion: 2 },
      { accessType: 'read', accessedBy: 'agent:read-previous', success: true, secretVersion: 1 },
      { accessType: 'delete', accessedBy: 'agent:delete', success: true, secretVersion: null },
      { accessType: 'read', accessedBy: 'agent:read-missing', success: false, secretVersion: null },
    ])
    for (const value of values) expect(JSON.stringify(records)).not.toContain(value)
  })

  // --- errors ---------------------------------------------------------------------------------

  it('maps a name that bypassed client validation to INVALID_NAME, without echoing it', async () => {
    const value = canary('bad-name')
    for (const attempt of [
      () => store().storeSecret('Bad Name', value, {}, 'test'),
      () => store().getSecret('Bad Name', 'test'),
      () => store().getSecrets(['fine_name', 'Bad Name'], 'test'),
      () => store().rotateSecret('Bad Name', value, 60, 'test'),
      () => store().deleteSecret('Bad Name', 'test'),
    ]) {
      const error = await rejection(attempt(), 'INVALID_NAME')
      expect(error.message).not.toContain('Bad Name')
      expect(error.secretName).toBeUndefined()
      expectNoTrace(error, value)
      expectNoTrace(error, 'Bad Name')
    }
  })

  it('maps an empty or oversized value to INVALID_VALUE, without echoing it', async () => {
    const name = fresh('bad_value')
    const empty = await rejection(store().storeSecret(name, '', {}, 'test'), 'INVALID_VALUE')
    expect(empty.secretName).toBe(name)

    const value = canary('oversized')
    const oversized = value.repeat(Math.ceil(65_537 / value.length))
    const error = await rejection(store().storeSecret(name, oversized, {}, 'test'), 'INVALID_VALUE')
    expectNoTrace(error, value)

    await store().storeSecret(name, 'ok', {}, 'test')
    await rejection(store().rotateSecret(name, '', 60, 'test'), 'INVALID_VALUE')
    const rotated = await rejection(
      store().rotateSecret(name, oversized, 60, 'test'),
      'INVALID_VALUE',
    )
    expectNoTrace(rotated, value)
    expect(await store().getSecret(name, 'test')).toEqual({ value: 'ok', version: 1 })
  })

  it('refuses a value PostgreSQL text cannot hold (NUL), without echoing it', async () => {
    const name = fresh('nul')
    const value = `${canary('nul')}\u0000${canary('nul')}`
    const error: unknown = await store()
      .storeSecret(name, value, {}, 'test')
      .then(
        () => undefined,
        (reason: unknown) => reason,
      )
    // Only safety is pinned: the code is INTERNAL today (SQLSTATE 22021, or 22P05 through
    // PostgREST), where INVALID_VALUE would serve callers better.
    expect(isKeywardenError(error)).toBe(true)
    for (const part of value.split('\u0000')) expectNoTrace(error as KeywardenError, part)
    expect(await store().getSecret(name, 'test')).toBeNull()
  })

  it.runIf(compatibleVault)(
    'fails to decrypt under another root key, and reads again under the right one',
    async () => {
      const name = fresh('other_key')
      const value = canary('other-key')
      await store().storeSecret(name, value, {}, 'test')

      const wrongKey = randomRootKey()
      let other: SecretStore
      if (t.kind === 'embedded') other = await t.reopen({ rootKey: wrongKey })
      else other = await t.connect({ rootKey: wrongKey })
      try {
        for (const attempt of [
          () => other.getSecret(name, 'test'),
          () => other.getSecrets([name], 'test'),
          () => other.rotateSecret(name, 'replacement', 60, 'test'),
        ]) {
          const error = await rejection(attempt(), 'DECRYPTION_FAILED')
          expectNoTrace(error, value)
        }
      } finally {
        if (t.kind === 'embedded') await t.reopen()
      }
      expect(await store().getSecret(name, 'test')).toEqual({ value, version: 1 })
    },
  )

  if (kind !== 'embedded' && compatibleVault) {
    it('reports a session without a root key as ROOT_KEY_MISSING', async () => {
      if (t.kind === 'embedded') throw new Error('unreachable')
      const name = fresh('no_key')
      const value = canary('no-key')
      await store().storeSecret(name, value, {}, 'test')

      const keyless = await t.connect({ rootKey: null })
      for (const attempt of [
        () => keyless.getSecret(name, 'test'),
        () => keyless.storeSecret(fresh('no_key'), value, {}, 'test'),
      ]) {
        const error = await rejection(attempt(), 'ROOT_KEY_MISSING')
        expectNoTrace(error, value)
      }
    })
  }

  if (kind !== 'embedded') {
    it('reports a tampered ciphertext as DECRYPTION_FAILED, and keeps serving every other secret', async () => {
      if (t.kind === 'embedded') throw new Error('unreachable')
      const asked = fresh('tamper_asked')
      const broken = fresh('tamper_broken')
      const donor = fresh('tamper_donor')
      const value = canary('tamper')
      await store().storeSecret(asked, 'asked-value', {}, 'test')
      await store().storeSecret(broken, value, {}, 'test')
      await store().storeSecret(donor, 'donor-value', {}, 'test')
      // Behind the API's back, as the superuser (on Supabase, postgres may not UPDATE the vault):
      // another row's ciphertext, bound to that row's id, cannot decrypt here.
      await t.database.asAdmin(
        'UPDATE vault.secrets t SET secret = s.secret FROM vault.secrets s WHERE s.name = $1 AND t.name = $2',
        [donor, broken],
      )
      for (const attempt of [
        () => store().getSecret(broken, 'test'),
        () => store().getSecrets([asked, broken], 'test'),
      ]) {
        const error = await rejection(attempt(), 'DECRYPTION_FAILED')
        expectNoTrace(error, value)
        expectNoTrace(error, 'donor-value')
      }
      // More than five calls: pooled sessions reach PostgreSQL's generic plans, which must still
      // decrypt only what was asked for.
      for (let call = 0; call < 12; call += 1) {
        expect(await store().getSecret(asked, 'test')).toEqual({ value: 'asked-value', version: 1 })
      }
    })
  }

  if (kind === 'supabase' && !compatibleVault) {
    it('goes through PostgREST as Supabase runs it: logged in as authenticator, with its timeouts', async () => {
      if (t.kind !== 'supabase') throw new Error('unreachable')
      await store().getSecret(fresh('as_authenticator'), 'test')
      const sessions = await t.database.asAdmin<{ usename: string; timeouts: string }>(
        `SELECT a.usename, (SELECT pg_catalog.string_agg(c, ',' ORDER BY c)
                              FROM pg_catalog.pg_db_role_setting s, pg_catalog.unnest(s.setconfig) c
                             WHERE s.setrole = a.usesysid) AS timeouts
           FROM pg_catalog.pg_stat_activity a
          WHERE a.datname = current_database() AND a.pid <> pg_catalog.pg_backend_pid()
            AND a.backend_type = 'client backend'`,
      )
      expect(sessions.length).toBeGreaterThan(0)
      expect(new Set(sessions.map((session) => session.usename))).toEqual(
        new Set(['authenticator']),
      )
      expect(sessions[0]?.timeouts).toBe('lock_timeout=8s,statement_timeout=8s')
    })
  }

  // --- any value ------------------------------------------------------------------------------

  it('round-trips any valid value byte for byte', async () => {
    const name = fresh('property')
    let previous: string | undefined
    let version = 0
    await fc.assert(
      fc.asyncProperty(validValue, async (value) => {
        await store().storeSecret(name, value, {}, 'test')
        if (value !== previous) version += 1
        previous = value
        const read = await store().getSecret(name, 'test')
        expect(read).toEqual({ value, version })
        expect(Buffer.from(read?.value ?? '', 'utf8').equals(Buffer.from(value, 'utf8'))).toBe(true)
        const many = await store().getSecrets([name], 'test')
        expect(many.get(name)).toEqual({ value, version })
      }),
      { numRuns: 25 },
    )
  })

  // --- change notifications -------------------------------------------------------------------

  if (kind === 'supabase') {
    it('has no change subscription with Realtime off (PostgREST cannot LISTEN)', () => {
      expect(store().subscribe).toBeUndefined()
    })
  } else {
    it('tells a subscriber which secret changed', async () => {
      const name = fresh('watched')
      const changes = await listen(store())
      try {
        let heard = changes.next(name)
        await store().storeSecret(name, 'v1', {}, 'test')
        await heard

        heard = changes.next(name)
        await store().rotateSecret(name, 'v2', 60, 'test')
        await heard

        heard = changes.next(name)
        await store().updateSecretMetadata(name, { description: 'edited' }, 'test')
        await heard

        heard = changes.next(name)
        await store().deleteSecret(name, 'test')
        await heard
        expect(changes.heard.filter((each) => each === name)).toHaveLength(4)
      } finally {
        await changes.stop()
      }
    })

    it('stops telling a subscriber that unsubscribed', async () => {
      const name = fresh('unwatched')
      const leaving = await listen(store())
      const staying = await listen(store())
      try {
        const warmUp = fresh('warm_up')
        const both = Promise.all([leaving.next(warmUp), staying.next(warmUp)])
        await store().storeSecret(warmUp, 'v', {}, 'test')
        await both

        await leaving.stop()
        const heard = staying.next(name)
        await store().storeSecret(name, 'v', {}, 'test')
        await heard
        // Both listeners are called in the same dispatch, so the one that left would have heard
        // it by now.
        expect(leaving.heard).not.toContain(name)
      } finally {
        await staying.stop()
      }
    })
  }

  if (kind === 'postgres') {
    it('hears changes made by another client of the same database', async () => {
      if (t.kind !== 'postgres') throw new Error('unreachable')
      const name = fresh('elsewhere')
      const elsewhere = await t.connect({ listen: false })
      const changes = await listen(store())
      try {
        let heard = changes.next(name)
        await elsewhere.storeSecret(name, 'v1', {}, 'elsewhere')
        await heard

        heard = changes.next(name)
        await elsewhere.rotateSecret(name, 'v2', 60, 'elsewhere')
        await heard

        heard = changes.next(name)
        await elsewhere.deleteSecret(name, 'elsewhere')
        await heard
      } finally {
        await changes.stop()
      }
    })
  }

  // --- availability ---------------------------------------------------------------------------

  it('answers a ping while the vault is up', async () => {
    await expect(store().ping()).resolves.toBeUndefined()
  })

  if (kind === 'supabase') {
    it('reports VAULT_UNAVAILABLE while the gateway is down, and recovers', async () => {
      if (t.kind !== 'supabase') throw new Error('unreachable')
      const name = fresh('outage')
      await store().storeSecret(name, 'survives', {}, 'test')
      await t.double.pause()
      try {
        await rejection(store().ping(), 'VAULT_UNAVAILABLE')
        await rejection(store().getSecret(name, 'test'), 'VAULT_UNAVAILABLE')
        await rejection(store().getSecrets([name], 'test'), 'VAULT_UNAVAILABLE')
      } finally {
        await t.double.resume()
      }
      await store().ping()
      expect(await store().getSecret(name, 'test')).toEqual({ value: 'survives', version: 1 })
    })
  }

  if (kind === 'postgres') {
    it('reports VAULT_UNAVAILABLE where no server listens, without the password', async () => {
      const password = canary('password')
      const nowhere = createPostgresStore({
        connectionString: `postgres://keywarden:${password}@127.0.0.1:1/keywarden`,
        rootKey: randomRootKey(),
        connectTimeoutMs: 2_000,
      })
      try {
        expect(nowhere.target).not.toContain(password)
        for (const attempt of [
          () => nowhere.ping(),
          () => nowhere.getSecret('github_token', 'test'),
        ]) {
          const error = await rejection(attempt(), 'VAULT_UNAVAILABLE')
          expectNoTrace(error, password)
        }
      } finally {
        await nowhere.close()
      }
    })
  }
})
