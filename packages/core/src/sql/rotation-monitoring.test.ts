/**
 * Migration 5's contract: rotation policy, staged rotation, grace period end, reminder windows
 * and their claims, secret_metrics and secret_alerts — on the real PostgreSQL server and on
 * PGlite. Time is injected through `p_now` (and audit histories are inserted by the table's
 * owner with their `created_at`: log_secret_access_batch takes the server's clock); nothing
 * sleeps.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { until } from '../testing/expect.ts'
import { type SqlBackend, sqlBackends, sqlError } from '../testing/sql-backends.ts'

const HOUR = 3_600_000
const DAY = 24 * HOUR

let sequence = 0
function fresh(base: string): string {
  sequence += 1
  return `${base}_${sequence}`
}

/** One audit row of a history, inserted as the owner. */
interface Event {
  secret_name: string
  accessed_by: string
  access_type?: string
  success?: boolean
  created_at: Date
  event_count?: number
  error_message?: string
}

interface Alert {
  alert_key: string
  kind: string
  severity: string
  secret_name: string | null
  accessed_by: string | null
  occurred_at: Date
  evidence: Record<string, unknown>
}

interface Expiring {
  name: string
  reason: string
  due_at: Date
  overdue: boolean
  risk_level: string
  reminder_window: string
}

interface Metric {
  name: string
  risk_level: string
  accesses_24h: string | number
  accesses_7d: string | number
  failed_7d: string | number
  failure_rate: string | number
  distinct_accessors_7d: number
  accessors_7d: string[]
  last_accessed_at: Date | null
  seconds_since_rotation: string | number
  rotation_staged_at: Date | null
}

const at = (base: Date, ms: number) => new Date(base.getTime() + ms)

describe.each(await sqlBackends())('rotation and monitoring on $kind', ({ create }) => {
  let db: SqlBackend

  beforeAll(async () => {
    db = await create()
  })

  afterAll(async () => {
    await db?.close()
  })

  const store = (name: string, value: string, type = 'other', extra = '') =>
    db.query(`SELECT public.store_secret($1, $2, secret_type => $3${extra})`, [name, value, type])

  const get = async (name: string, version = 'current') =>
    (
      await db.query<{ value: string | null }>('SELECT public.get_secret($1, NULL, $2) AS value', [
        name,
        version,
      ])
    )[0]?.value

  const created = async (name: string) =>
    (
      await db.query<{ created_at: Date }>(
        'SELECT created_at FROM public.list_secret_names() WHERE name = $1',
        [name],
      )
    )[0]?.created_at as Date

  /** A timestamp column as exact text (microseconds included). */
  const exactly = async (name: string, column: 'rotation_due_at' | 'expires_at') =>
    (
      await db.query<{ at: string }>(
        `SELECT ${column}::text AS at FROM public.list_secret_names() WHERE name = $1`,
        [name],
      )
    )[0]?.at as string

  // Backdated rows need the owner: no API role may choose an audit row's time.
  const seed = (events: Event[]) =>
    db.query(
      `INSERT INTO public.secret_access_log
         (secret_name, accessed_by, access_type, success, created_at, event_count, error_message)
       SELECT e.secret_name, e.accessed_by, e.access_type, e.success, e.created_at, e.event_count,
              e.error_message
         FROM pg_catalog.jsonb_to_recordset($1::jsonb) AS e (secret_name text, accessed_by text,
              access_type text, success boolean, created_at timestamptz, event_count integer,
              error_message text)`,
      [
        JSON.stringify(
          events.map((event) => ({ access_type: 'read', success: true, event_count: 1, ...event })),
        ),
      ],
      { role: 'owner' },
    )

  /** `p_now` as `base + offset`, computed in SQL: JavaScript dates would drop the microseconds. */
  const expiring = async (name: string, days: number, base: string, offset = '0') =>
    db.query<Expiring>(
      'SELECT * FROM public.check_expiring_secrets($1, p_now => $2::timestamptz + $4::interval) WHERE name = $3',
      [days, base, name, offset],
    )

  const alerts = async (since: Date, now: Date) =>
    db.query<Alert>('SELECT * FROM public.secret_alerts($1, $2)', [
      since.toISOString(),
      now.toISOString(),
    ])

  const metrics = async (name: string, now: Date) =>
    (
      await db.query<Metric>('SELECT * FROM public.secret_metrics($1) WHERE name = $2', [
        now.toISOString(),
        name,
      ])
    )[0] as Metric

  // --- policy, due dates and reminder windows -------------------------------------------------

  it('derives the interval and risk from the type, with the per-secret interval override', async () => {
    const names = {
      github_token: fresh('policy_gh'),
      api_key: fresh('policy_api'),
      service_key: fresh('policy_service'),
      signing_key: fresh('policy_signing'),
      other: fresh('policy_other'),
    }
    for (const [type, name] of Object.entries(names)) await store(name, 'policy-value', type)
    const overridden = fresh('policy_override')
    await store(overridden, 'policy-value', 'signing_key', ", rotation_interval => '30 days'")
    const now = at(await created(names.github_token), 400 * DAY)
    const rows = await db.query<{ name: string; risk_level: string; due: number | null }>(
      `SELECT m.name, m.risk_level,
              extract(epoch FROM m.rotation_due_at - l.created_at)::int / 86400 AS due
         FROM public.secret_metrics($1) m JOIN public.list_secret_names() l USING (name)
        WHERE m.name = ANY($2)`,
      [now.toISOString(), [...Object.values(names), overridden]],
    )
    const byName = Object.fromEntries(rows.map((row) => [row.name, [row.risk_level, row.due]]))
    expect(byName).toEqual({
      [names.github_token]: ['high', 90],
      [names.api_key]: ['high', 90],
      [names.service_key]: ['medium', 180],
      [names.signing_key]: ['critical', null],
      [names.other]: ['medium', null],
      [overridden]: ['critical', 30],
    })
  })

  it('puts a due rotation in its reminder window at the boundary, then overdue, with one key each', async () => {
    const name = fresh('due_gh')
    await store(name, 'due-value', 'github_token')
    const due = await exactly(name, 'rotation_due_at')

    expect(await expiring(name, 7, due, '-7 days -1 microsecond')).toEqual([])
    const [upcoming] = await expiring(name, 7, due, '-7 days')
    expect(upcoming).toMatchObject({ reason: 'rotation_due', overdue: false, risk_level: 'high' })
    expect(upcoming?.reminder_window).toMatch(/^rotation_due:\d{4}-.*Z:upcoming$/)
    // The same window for every instant until the due date, whatever the caller's `days`.
    const [later] = await expiring(name, 30, due, '-1 microsecond')
    expect(later?.reminder_window).toBe(upcoming?.reminder_window)

    const [overdue] = await expiring(name, 0, due)
    expect((await expiring(name, 1, due, '-1 microsecond'))[0]?.overdue).toBe(false)
    expect(overdue?.overdue).toBe(true)
    expect(overdue?.reminder_window).toBe(
      upcoming?.reminder_window.replace(':upcoming', ':overdue'),
    )

    // A rotation moves the due date, so the next reminder is a new window.
    await db.query("SELECT public.rotate_secret($1, 'due-value-2')", [name])
    const [rotated] = await expiring(name, 400, due)
    expect(rotated?.reminder_window).not.toBe(upcoming?.reminder_window)
    expect(rotated?.overdue).toBe(false)
  })

  it('alerts on overdue rotation and expiry from the due instant on, not before', async () => {
    const name = fresh('overdue_api')
    const expiresAt = new Date(Date.now() + 10 * DAY)
    await db.query(
      "SELECT public.store_secret($1, 'x-value', secret_type => 'api_key', expires_at => $2)",
      [name, expiresAt.toISOString()],
    )
    const due = await exactly(name, 'rotation_due_at')
    const expiry = await exactly(name, 'expires_at')
    const kinds = async (base: string, offset = '0') =>
      (
        await db.query<Alert>(
          `SELECT * FROM public.secret_alerts(p_now => $1::timestamptz + $2::interval)
            WHERE secret_name = $3`,
          [base, offset, name],
        )
      ).map((alert) => [alert.kind, alert.severity])
    expect(await kinds(expiry, '-1 microsecond')).toEqual([])
    expect(await kinds(expiry)).toEqual([['secret_expired', 'critical']])
    expect(await kinds(due, '-1 microsecond')).toEqual([['secret_expired', 'critical']])
    expect(await kinds(due)).toEqual([
      ['secret_expired', 'critical'],
      ['rotation_overdue', 'high'],
    ])
  })

  // --- the grace period and staged rotation ---------------------------------------------------

  it('ends the grace period at exactly previous_valid_until: purged from the decrypted view too', async () => {
    const name = fresh('grace_end')
    await store(name, 'old-grace-value')
    const [rotation] = await db.query<{ until: string }>(
      "SELECT previous_valid_until::text AS until FROM public.rotate_secret($1, 'new-grace-value', grace_period => '2 hours')",
      [name],
    )
    const until = rotation?.until as string
    const [took] = await db.query<{ took: string }>(
      'SELECT ($1::timestamptz - last_rotated_at)::text AS took FROM public.list_secret_names() WHERE name = $2',
      [until, name],
    )
    // The per-call override sets the grace period.
    expect(took?.took).toBe('02:00:00')
    const decryptedNames = async () =>
      (
        await db.query<{ name: string }>(
          'SELECT name FROM vault.decrypted_secrets WHERE name LIKE $1 ORDER BY name',
          [`${name}%`],
        )
      ).map((row) => row.name)

    const purge = async (offset: string) =>
      (
        await db.query<{ purged: number }>(
          'SELECT public.purge_expired_previous($1::timestamptz + $2::interval) AS purged',
          [until, offset],
        )
      )[0]?.purged
    expect(await purge('-1 microsecond')).toBe(0)
    expect(await get(name, 'previous')).toBe('old-grace-value')
    expect(await decryptedNames()).toEqual([name, `${name}@previous`])

    expect(await purge('0')).toBeGreaterThanOrEqual(1)
    expect(await get(name, 'previous')).toBeNull()
    expect(await decryptedNames()).toEqual([name])
    expect(await get(name)).toBe('new-grace-value')
  })

  it('stages a value that is never served as current, then promotes it with a grace period', async () => {
    const name = fresh('staged')
    await store(name, 'staged-old')
    const heard: string[] = []
    const unlisten = await db.listen('keywarden_secrets', (payload) => heard.push(payload))
    try {
      await db.query("SELECT public.stage_rotation($1, 'staged-new')", [name])
      expect(await get(name)).toBe('staged-old')
      expect(
        (
          await db.query<{ v: string }>('SELECT secret_value AS v FROM public.get_secrets($1)', [
            [name],
          ])
        )[0]?.v,
      ).toBe('staged-old')
      expect(
        (
          await db.query<{ value: string }>('SELECT public.get_staged_secret($1) AS value', [name])
        )[0]?.value,
      ).toBe('staged-new')
      const listed = await db.query<{ name: string; version: number }>(
        'SELECT name, version FROM public.list_secret_names() WHERE name LIKE $1',
        [`${name}%`],
      )
      expect(listed).toEqual([{ name, version: 1 }])
      const metric = await metrics(name, new Date(Date.now() + HOUR))
      expect(metric.rotation_staged_at).toBeInstanceOf(Date)

      const [promoted] = await db.query<{ secret_version: number; previous_valid_until: Date }>(
        "SELECT * FROM public.promote_staged_rotation($1, grace_period => '1 hour')",
        [name],
      )
      expect(promoted?.secret_version).toBe(2)
      expect(await get(name)).toBe('staged-new')
      expect(await get(name, 'previous')).toBe('staged-old')
      expect(
        (
          await db.query<{ value: string | null }>('SELECT public.get_staged_secret($1) AS value', [
            name,
          ])
        )[0]?.value,
      ).toBeNull()
      // Promotion is a change (NOTIFY); staging was not. A marker proves delivery has caught up.
      const marker = fresh('staged_marker')
      await store(marker, 'marker')
      await until('the marker notification', () => heard.includes(marker), Boolean)
      expect(heard.filter((entry) => entry === name)).toEqual([name])

      const missing = await sqlError(
        db.query('SELECT * FROM public.promote_staged_rotation($1)', [name]),
      )
      expect(missing.code).toBe('KW404')
    } finally {
      await unlisten()
    }
  })

  it('discards a staged value, and deleting a secret removes its staged value', async () => {
    const name = fresh('discard')
    await store(name, 'discard-old')
    const discard = async () =>
      (
        await db.query<{ done: boolean }>('SELECT public.discard_staged_rotation($1) AS done', [
          name,
        ])
      )[0]?.done
    expect(await discard()).toBe(false)
    await db.query("SELECT public.stage_rotation($1, 'discard-new')", [name])
    expect(await discard()).toBe(true)
    expect(await get(name)).toBe('discard-old')

    await db.query("SELECT public.stage_rotation($1, 'discard-newer')", [name])
    await db.query('SELECT public.delete_secret($1)', [name])
    const left = await db.query('SELECT name FROM vault.secrets WHERE name LIKE $1', [`${name}%`])
    expect(left).toEqual([])
    expect((await sqlError(db.query("SELECT public.stage_rotation($1, 'v')", [name]))).code).toBe(
      'KW404',
    )
  })

  // --- notification claims ------------------------------------------------------------------

  it('claims a (kind, secret, window) once, even for concurrent callers; a release gives it back', async () => {
    const secret = fresh('claimed')
    const claims = JSON.stringify([{ kind: 'reminder', secret_name: secret, window_key: 'w:1' }])
    const claim = () =>
      db.query<{ window_key: string }>('SELECT * FROM public.claim_notifications($1::jsonb)', [
        claims,
      ])
    const results = await Promise.all(Array.from({ length: 12 }, claim))
    expect(results.flat()).toEqual([{ kind: 'reminder', secret_name: secret, window_key: 'w:1' }])
    expect(await claim()).toEqual([])

    const [released] = await db.query<{ n: number }>(
      'SELECT public.release_notifications($1::jsonb) AS n',
      [claims],
    )
    expect(released?.n).toBe(1)
    expect(await claim()).toHaveLength(1)

    const bad = await sqlError(
      db.query('SELECT * FROM public.claim_notifications($1::jsonb)', [
        JSON.stringify([{ kind: 'Bad Kind', secret_name: secret, window_key: 'w' }]),
      ]),
    )
    expect(bad.code).toBe('KW012')
  })

  // --- metrics --------------------------------------------------------------------------------

  it('counts events, not rows, in the 24-hour and 7-day windows ending at p_now', async () => {
    const name = fresh('metered')
    await store(name, 'metered-value')
    const now = new Date('2031-03-10T12:00:00Z')
    await seed([
      // Aggregated cache hits: one row, 40 events, exactly 24 h before p_now (outside 24 h).
      {
        secret_name: name,
        accessed_by: 'svc-a',
        access_type: 'cache_hit',
        created_at: at(now, -DAY),
        event_count: 40,
      },
      { secret_name: name, accessed_by: 'svc-a', created_at: at(now, -DAY + 1), event_count: 3 },
      { secret_name: name, accessed_by: 'svc-b', success: false, created_at: at(now, -HOUR) },
      // Exactly 7 days before: outside the 7-day window.
      { secret_name: name, accessed_by: 'svc-c', created_at: at(now, -7 * DAY) },
      // After p_now: not yet.
      { secret_name: name, accessed_by: 'svc-d', created_at: at(now, 1) },
    ])
    const metric = await metrics(name, now)
    expect(Number(metric.accesses_24h)).toBe(4)
    expect(Number(metric.accesses_7d)).toBe(44)
    expect(Number(metric.failed_7d)).toBe(1)
    expect(Number(metric.failure_rate)).toBeCloseTo(1 / 44, 4)
    expect(metric.accessors_7d).toEqual(['svc-a', 'svc-b'])
    expect(metric.distinct_accessors_7d).toBe(2)
    expect(metric.last_accessed_at).toEqual(at(now, -DAY + 1))
    expect(Number(metric.seconds_since_rotation)).toBe(
      Math.floor((now.getTime() - (await created(name)).getTime()) / 1000),
    )
  })

  // --- alerts from realistic histories --------------------------------------------------------

  it('fires failed_access_burst for more than 5 failures by one accessor within an hour, and not for 5', async () => {
    const base = new Date('2031-04-01T10:10:00Z')
    const attacker = fresh('edge:203.0.113.7')
    const slow = fresh('edge:198.51.100.2')
    const five = fresh('edge:192.0.2.1')
    const aggregated = fresh('svc-aggregated')
    const failure = (accessed_by: string, ms: number, event_count = 1): Event => ({
      secret_name: 'plugin_bearer_token',
      accessed_by,
      access_type: 'auth_failure',
      success: false,
      created_at: at(base, ms),
      event_count,
    })
    await seed([
      // Six failures, the last exactly one hour after the first: fires.
      ...[0, 10, 20, 30, 40, 60].map((minutes) => failure(attacker, minutes * 60_000)),
      // Six failures spread over an hour and a millisecond: never six within one hour.
      ...[0, 10, 20, 30, 40].map((minutes) => failure(slow, minutes * 60_000)),
      failure(slow, HOUR + 1),
      // Five: not more than five.
      ...[0, 1, 2, 3, 4].map((minutes) => failure(five, minutes * 60_000)),
      // One row carrying six failed reads.
      {
        secret_name: 'openai_api_key',
        accessed_by: aggregated,
        success: false,
        created_at: base,
        event_count: 6,
      },
    ])
    const fired = (await alerts(at(base, -HOUR), at(base, 2 * HOUR))).filter(
      (alert) => alert.kind === 'failed_access_burst',
    )
    const byAccessor = fired.map((alert) => alert.accessed_by)
    expect(byAccessor).toContain(attacker)
    expect(byAccessor).toContain(aggregated)
    expect(byAccessor).not.toContain(slow)
    expect(byAccessor).not.toContain(five)
    const alert = fired.find((entry) => entry.accessed_by === attacker)
    expect(alert).toMatchObject({ severity: 'high', secret_name: 'plugin_bearer_token' })
    expect(alert?.evidence).toMatchObject({ failures_in_hour: 6, window_seconds: 3600 })
    expect(alert?.occurred_at).toEqual(at(base, HOUR))
    // Before the sixth failure there was no burst yet.
    const early = await alerts(at(base, -HOUR), at(base, HOUR - 1))
    expect(early.map((entry) => entry.accessed_by)).not.toContain(attacker)
  })

  it("rates a burst of the owner's own CLI slips low, and any refusal or other door high", async () => {
    const slips = async (accessedBy: string, base: Date, last: Partial<Event> = {}) => {
      const secret = fresh('typo_name')
      await seed(
        [0, 1, 2, 3, 4, 5].map((minutes) => ({
          secret_name: secret,
          accessed_by: accessedBy,
          success: false,
          created_at: at(base, minutes * 60_000),
          error_message:
            minutes === 4
              ? 'no staged rotation'
              : minutes === 5
                ? 'SECRET_NOT_FOUND: secret not found'
                : 'secret not found',
          ...(minutes === 5 ? last : {}),
        })),
      )
      const fired = await alerts(at(base, -HOUR), at(base, HOUR))
      return fired.find(
        (alert) => alert.kind === 'failed_access_burst' && alert.secret_name === secret,
      )
    }
    // The owner mistyping names at the CLI: still a burst to see, but no high alert.
    expect(await slips('cli', new Date('2031-06-01T10:00:00Z'))).toMatchObject({
      severity: 'low',
      accessed_by: 'cli',
    })
    // One refusal among them makes it high again.
    expect(
      await slips('cli', new Date('2031-06-02T10:00:00Z'), {
        access_type: 'denied',
        error_message: 'ACCESS_DENIED: the door policy does not let cli read it',
      }),
    ).toMatchObject({ severity: 'high' })
    // The same misses from an agent are probing for names: high.
    expect(
      await slips(fresh('mcp:claude-desktop'), new Date('2031-06-03T10:00:00Z')),
    ).toMatchObject({ severity: 'high' })
  })

  it('fires new_accessor when an accessor first uses a secret others already used, and only then', async () => {
    const secret = fresh('shared_token')
    const base = new Date('2031-05-01T00:00:00Z')
    await seed([
      ...Array.from({ length: 10 }, (_, day) => ({
        secret_name: secret,
        accessed_by: 'svc-known',
        created_at: at(base, day * DAY),
      })),
      { secret_name: secret, accessed_by: 'svc-old-friend', created_at: at(base, DAY) },
      // In the window: a known reader again, an old reader again, and a newcomer.
      { secret_name: secret, accessed_by: 'svc-known', created_at: at(base, 10 * DAY + HOUR) },
      { secret_name: secret, accessed_by: 'svc-old-friend', created_at: at(base, 10 * DAY + HOUR) },
      {
        secret_name: secret,
        accessed_by: 'svc-newcomer',
        access_type: 'cache_hit',
        created_at: at(base, 10 * DAY + 2 * HOUR),
        event_count: 3,
      },
      // A failed attempt is not a use.
      {
        secret_name: secret,
        accessed_by: 'svc-denied',
        success: false,
        created_at: at(base, 10 * DAY + 2 * HOUR),
      },
    ])
    const found = (await alerts(at(base, 10 * DAY), at(base, 11 * DAY))).filter(
      (alert) => alert.kind === 'new_accessor' && alert.secret_name === secret,
    )
    expect(found.map((alert) => alert.accessed_by)).toEqual(['svc-newcomer'])
    expect(found[0]?.evidence).toMatchObject({
      uses: 3,
      known_accessors: ['svc-known', 'svc-old-friend'],
    })
    // The very first reader of a secret is nobody's newcomer.
    const first = fresh('first_read')
    await seed([
      { secret_name: first, accessed_by: 'svc-first', created_at: at(base, 10 * DAY + HOUR) },
    ])
    const none = (await alerts(at(base, 10 * DAY), at(base, 11 * DAY))).filter(
      (alert) => alert.secret_name === first,
    )
    expect(none).toEqual([])
  })

  it('fires access_spike above 10× the trailing hourly median, not at 10×, not without history', async () => {
    const spiky = fresh('spiky')
    const steady = fresh('steady')
    const young = fresh('young')
    const start = new Date('2031-06-01T00:00:00Z')
    const spikeHour = at(start, 170 * HOUR)
    const baseline = (secret: string): Event[] =>
      Array.from({ length: 170 }, (_, hour) => ({
        secret_name: secret,
        accessed_by: 'svc-steady',
        access_type: 'cache_hit',
        created_at: at(start, hour * HOUR + 5 * 60_000),
        event_count: 3,
      }))
    await seed([
      ...baseline(spiky),
      ...baseline(steady),
      // 31 > 10 × 3: a spike, mostly from one accessor.
      {
        secret_name: spiky,
        accessed_by: 'svc-burst',
        created_at: at(spikeHour, 60_000),
        event_count: 30,
      },
      { secret_name: spiky, accessed_by: 'svc-steady', created_at: at(spikeHour, 120_000) },
      // 30 = 10 × 3: not above.
      {
        secret_name: steady,
        accessed_by: 'svc-burst',
        created_at: at(spikeHour, 60_000),
        event_count: 30,
      },
      // Plenty, but the secret has less than a day of history.
      { secret_name: young, accessed_by: 'svc-new', created_at: at(spikeHour, -10 * HOUR) },
      {
        secret_name: young,
        accessed_by: 'svc-new',
        created_at: at(spikeHour, 60_000),
        event_count: 500,
      },
    ])
    const spikes = (await alerts(spikeHour, at(spikeHour, HOUR))).filter(
      (alert) => alert.kind === 'access_spike',
    )
    const mine = spikes.filter((alert) => [spiky, steady, young].includes(alert.secret_name ?? ''))
    expect(mine).toHaveLength(1)
    expect(mine[0]).toMatchObject({
      secret_name: spiky,
      accessed_by: 'svc-burst',
      severity: 'high',
      occurred_at: spikeHour,
    })
    expect(mine[0]?.evidence).toMatchObject({ uses: 31, trailing_median: 3, trailing_hours: 168 })
    expect(mine[0]?.alert_key).toBe(`access_spike:${spiky}:2031-06-08T02:00:00.000000Z`)
  })

  it('refuses a since after now or more than 90 days back (KW012)', async () => {
    const now = new Date()
    expect((await sqlError(alerts(at(now, 1), now))).code).toBe('KW012')
    expect((await sqlError(alerts(at(now, -91 * DAY), now))).code).toBe('KW012')
  })

  it('grants the new functions to service_role only', async () => {
    const functions = [
      'public.stage_rotation(text, text, text)',
      'public.get_staged_secret(text, text)',
      'public.promote_staged_rotation(text, interval, text)',
      'public.discard_staged_rotation(text, text)',
      'public.purge_expired_previous(timestamptz)',
      'public.check_expiring_secrets(integer, text, timestamptz)',
      'public.claim_notifications(jsonb, text)',
      'public.release_notifications(jsonb)',
      'public.secret_metrics(timestamptz)',
      'public.secret_alerts(timestamptz, timestamptz)',
    ]
    const rows = await db.query<{ role: string; allowed: boolean }>(
      `SELECT r AS role, bool_or(pg_catalog.has_function_privilege(r, f, 'EXECUTE')) AS allowed
         FROM unnest($1::text[]) AS f, unnest(ARRAY['service_role', 'anon', 'authenticated']) AS r
        GROUP BY r ORDER BY r`,
      [functions],
      { role: 'owner' },
    )
    expect(rows).toEqual([
      { role: 'anon', allowed: false },
      { role: 'authenticated', allowed: false },
      { role: 'service_role', allowed: true },
    ])
    const all = await db.query<{ allowed: boolean }>(
      `SELECT bool_and(pg_catalog.has_function_privilege('service_role', f, 'EXECUTE')) AS allowed
         FROM unnest($1::text[]) AS f`,
      [functions],
      { role: 'owner' },
    )
    expect(all[0]?.allowed).toBe(true)
  })
})
