/**
 * The incident report over a realistic audit history on the real PostgreSQL server: accessors
 * of the last 30 days (events, not rows), the whole trail, and the revocation step per type.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createVaultClient, type VaultClient } from '../client/index.ts'
import { SECRET_TYPES } from '../store/index.ts'
import { createPostgresStore } from '../store/postgres.ts'
import { createPostgresTestDatabase, type PostgresTestDatabase } from '../testing/databases.ts'
import { rejection } from '../testing/expect.ts'
import { buildIncidentReport, incidentMessage, revocationStep } from './index.ts'

const DAY = 86_400_000

let db: PostgresTestDatabase
let vault: VaultClient

beforeAll(async () => {
  db = await createPostgresTestDatabase()
  vault = createVaultClient({
    store: createPostgresStore({ connectionString: db.url, rootKey: db.rootKey, listen: false }),
    env: {},
    accessedBy: 'incident-test',
  })
})

afterAll(async () => {
  await vault?.close()
  await db?.drop()
})

describe('buildIncidentReport', () => {
  it('lists the last 30 days of accessors, the whole trail, and where to revoke', async () => {
    const value = 'ghp_leaked_incident_value'
    await vault.storeSecret('leaked_token', value, { type: 'github_token' })
    const now = new Date(Date.now() + DAY)
    // A backdated history needs the table's owner: log_secret_access_batch takes the server's
    // clock.
    const owner = await db.connect()
    try {
      const history = [
        // 31 days back: in the trail, not among the accessors.
        {
          secret_name: 'leaked_token',
          accessed_by: 'svc-retired',
          access_type: 'read',
          success: true,
          created_at: new Date(now.getTime() - 31 * DAY).toISOString(),
        },
        {
          secret_name: 'leaked_token',
          accessed_by: 'svc-ci',
          access_type: 'cache_hit',
          success: true,
          created_at: new Date(now.getTime() - 2 * DAY).toISOString(),
          event_count: 12,
        },
        {
          secret_name: 'leaked_token',
          accessed_by: 'edge:203.0.113.9',
          access_type: 'read',
          success: false,
          created_at: new Date(now.getTime() - DAY).toISOString(),
        },
        // Another secret's row never shows up.
        {
          secret_name: 'other_token',
          accessed_by: 'svc-other',
          access_type: 'read',
          success: true,
          created_at: new Date(now.getTime() - DAY).toISOString(),
        },
      ]
      await owner.query(
        `INSERT INTO public.secret_access_log
           (secret_name, accessed_by, access_type, success, created_at, event_count)
         SELECT e.secret_name, e.accessed_by, e.access_type, e.success, e.created_at,
                coalesce(e.event_count, 1)
           FROM jsonb_to_recordset($1::jsonb) AS e (secret_name text, accessed_by text,
                access_type text, success boolean, created_at timestamptz, event_count integer)`,
        [JSON.stringify(history)],
      )
    } finally {
      await owner.end()
    }

    const report = await buildIncidentReport(vault, 'leaked_token', { now })
    expect(report).toMatchObject({ name: 'leaked_token', type: 'github_token', version: 1 })
    expect(
      report.accessors.map((entry) => [entry.accessedBy, entry.accesses, entry.failures]),
    ).toEqual([
      ['svc-ci', 12, 0],
      ['edge:203.0.113.9', 1, 1],
      ['incident-test', 1, 0],
    ])
    const trail = await vault.queryAudit({ secretName: 'leaked_token', limit: 100_000 })
    expect(report.auditTrail).toEqual(trail)
    expect(report.auditTrail.map((row) => row.accessedBy)).toContain('svc-retired')
    expect(report.auditTrail.every((row) => row.secretName === 'leaked_token')).toBe(true)
    expect(report.auditTrailTruncated).toBe(false)
    expect(report.revocation.urls).toContain('https://github.com/settings/tokens')
    expect(JSON.stringify(report)).not.toContain(value)
    expect(JSON.stringify(incidentMessage(report, 2))).not.toContain(value)

    await rejection(buildIncidentReport(vault, 'never_stored'), 'SECRET_NOT_FOUND')
  })

  it('gives every type a revocation step', () => {
    for (const type of SECRET_TYPES) {
      expect(revocationStep(type).instruction.length).toBeGreaterThan(10)
    }
    expect(revocationStep('service_key').urls.join(' ')).toContain('supabase.com')
  })
})
