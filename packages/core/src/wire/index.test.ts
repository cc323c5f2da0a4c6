import { describe, expect, it } from 'vitest'
import type { AuditRecord, SecretAlert, SecretMetadata } from '../store/index.ts'
import {
  auditRecordJson,
  boundedUntrustedText,
  secretAlertJson,
  secretMetadataJson,
  UNTRUSTED_TEXT_MAX,
} from './index.ts'

const created = new Date('2026-11-01T10:00:00.000Z')

describe('wire shapes', () => {
  it('answers metadata with snake_case keys, ISO dates and nulls kept', () => {
    const metadata: SecretMetadata = {
      name: 'github_token',
      description: null,
      type: 'github_token',
      version: 2,
      createdAt: created,
      updatedAt: created,
      lastRotatedAt: null,
      expiresAt: null,
      rotationIntervalDays: 90,
      rotationDueAt: new Date('2027-01-30T10:00:00.000Z'),
      previousValidUntil: null,
      agentVisible: false,
      allowedHosts: ['api.github.com'],
      allowedCommands: [],
      protected: false,
    }
    const json = secretMetadataJson(metadata)
    expect(json).toEqual({
      name: 'github_token',
      description: null,
      type: 'github_token',
      version: 2,
      created_at: '2026-11-01T10:00:00.000Z',
      updated_at: '2026-11-01T10:00:00.000Z',
      last_rotated_at: null,
      expires_at: null,
      rotation_interval_days: 90,
      rotation_due_at: '2027-01-30T10:00:00.000Z',
      previous_valid_until: null,
      agent_visible: false,
      allowed_hosts: ['api.github.com'],
      allowed_commands: [],
      protected: false,
    })
    // A copy: a door that changes its answer cannot change the client's metadata.
    json.allowed_hosts.push('evil.example')
    expect(metadata.allowedHosts).toEqual(['api.github.com'])
  })

  it('names audit and alert fields as the SQL API does', () => {
    const record: AuditRecord = {
      id: 7,
      secretName: 'api_key',
      accessedBy: 'cli',
      accessType: 'read',
      success: false,
      errorMessage: 'not found',
      createdAt: created,
      eventCount: 3,
      secretVersion: null,
      source: 'vault',
    }
    expect(Object.keys(auditRecordJson(record))).toEqual([
      'id',
      'secret_name',
      'accessed_by',
      'access_type',
      'success',
      'error_message',
      'created_at',
      'event_count',
      'secret_version',
      'source',
    ])
    const alert: SecretAlert = {
      key: 'new_accessor:api_key:cli',
      kind: 'new_accessor',
      severity: 'medium',
      secretName: 'api_key',
      accessedBy: 'cli',
      occurredAt: created,
      evidence: { first_at: created.toISOString() },
    }
    expect(secretAlertJson(alert)).toMatchObject({
      secret_name: 'api_key',
      accessed_by: 'cli',
      occurred_at: '2026-11-01T10:00:00.000Z',
    })
  })
})

describe('untrusted text', () => {
  it('is cut at the limit without splitting a character, and loses its control characters', () => {
    expect(boundedUntrustedText('short')).toBe('short')
    const long = '😀'.repeat(UNTRUSTED_TEXT_MAX + 5)
    const cut = boundedUntrustedText(long)
    expect(Array.from(cut)).toHaveLength(UNTRUSTED_TEXT_MAX)
    expect(cut.endsWith('😀…')).toBe(true)
    expect(boundedUntrustedText('a\rb\u001b[2Jc\u2028d\ne\tf')).toBe('a b [2Jc d\ne\tf')
    expect(boundedUntrustedText('x'.repeat(10), 4)).toBe('xxx…')
  })
})
