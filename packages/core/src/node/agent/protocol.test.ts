/** The wire helpers shared by the agent's client and server; no sockets here. */
import { describe, expect, it } from 'vitest'
import { isKeywardenError, KeywardenError } from '../../errors/index.ts'
import {
  agentSocketPath,
  decodeResult,
  encodeResult,
  fitsSocketPath,
  fromWireError,
  rootKeyId,
  toWireError,
} from './protocol.ts'

const roundTrip = (method: string, value: unknown) =>
  decodeResult(method, JSON.parse(JSON.stringify(encodeResult(method, value))))

describe('results across the socket', () => {
  it('revives the Dates of each method by field name', () => {
    const now = new Date('2026-11-28T10:00:00.000Z')
    const [metadata] = roundTrip('listSecrets', [
      {
        name: 'a',
        description: null,
        type: 'other',
        version: 1,
        createdAt: now,
        updatedAt: now,
        lastRotatedAt: null,
        expiresAt: now,
        rotationIntervalDays: null,
        rotationDueAt: null,
        previousValidUntil: null,
      },
    ]) as Array<Record<string, unknown>>
    expect(metadata?.createdAt).toEqual(now)
    expect(metadata?.expiresAt).toEqual(now)
    expect(metadata?.lastRotatedAt).toBeNull()
    expect(roundTrip('rotateSecret', { id: 'x', version: 2, previousValidUntil: now })).toEqual({
      id: 'x',
      version: 2,
      previousValidUntil: now,
    })
  })

  it('never turns a value that looks like a date into a Date', () => {
    const secret = { value: '2026-11-28T10:00:00.000Z', version: 1 }
    expect(roundTrip('getSecret', secret)).toEqual(secret)
    const batch = roundTrip('getSecrets', new Map([['a', secret]])) as Map<string, unknown>
    expect(batch.get('a')).toEqual(secret)
  })

  it('keeps a Map with missing names', () => {
    const batch = roundTrip(
      'getSecrets',
      new Map([
        ['a', { value: 'v', version: 1 }],
        ['b', null],
      ]),
    )
    expect(batch).toEqual(
      new Map([
        ['a', { value: 'v', version: 1 }],
        ['b', null],
      ]),
    )
  })
})

describe('errors across the socket', () => {
  it('carry the code, message and a valid secret name only', () => {
    const original = new KeywardenError('SECRET_NOT_FOUND', 'secret a is not in the vault', {
      secretName: 'a',
      cause: new Error('row (hunter2)'),
    })
    const wire = toWireError(original)
    expect(wire).toEqual({ code: 'SECRET_NOT_FOUND', message: original.message, secretName: 'a' })
    const revived = fromWireError(JSON.parse(JSON.stringify(wire)))
    expect(isKeywardenError(revived, 'SECRET_NOT_FOUND')).toBe(true)
    expect(revived.exitCode).toBe(3)
    expect(revived.secretName).toBe('a')
  })

  it('turn an unknown code into INTERNAL', () => {
    expect(fromWireError({ code: 'EVIL', message: 'x' }).code).toBe('INTERNAL')
    expect(fromWireError(null).code).toBe('INTERNAL')
  })
})

describe('keys and paths', () => {
  it('fingerprints a root key without revealing it, case-insensitively', () => {
    const key = 'ab'.repeat(32)
    expect(rootKeyId(key)).toBe(rootKeyId(key.toUpperCase()))
    expect(rootKeyId(key)).not.toContain(key.slice(0, 8))
    expect(rootKeyId(key)).not.toBe(rootKeyId('cd'.repeat(32)))
  })

  it('knows when a home is too deep for a unix socket', () => {
    expect(fitsSocketPath(agentSocketPath('/home/alice/.keywarden'))).toBe(true)
    expect(fitsSocketPath(agentSocketPath(`/tmp/${'x'.repeat(120)}`))).toBe(false)
  })
})
