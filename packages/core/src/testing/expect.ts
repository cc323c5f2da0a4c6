/**
 * Test-only: waiting for a condition without fixed sleeps, and expecting a typed error.
 */
import { expect } from 'vitest'
import { isKeywardenError, type KeywardenError, type KeywardenErrorCode } from '../errors/index.ts'

/** Polls `probe` until `done` holds, failing after `timeoutMs`. No fixed sleeps. */
export async function until<T>(
  what: string,
  probe: () => T | Promise<T>,
  done: (value: T) => boolean,
  timeoutMs = 15_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await probe()
    if (done(value)) return value
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

/** Awaits `promise`, expects a KeywardenError with `code`, and returns it. */
export async function rejection(
  promise: Promise<unknown>,
  code: KeywardenErrorCode,
): Promise<KeywardenError> {
  const error: unknown = await promise.then(
    () => undefined,
    (reason: unknown) => reason,
  )
  expect(isKeywardenError(error), `expected a KeywardenError ${code}, got ${String(error)}`).toBe(
    true,
  )
  expect((error as KeywardenError).code).toBe(code)
  return error as KeywardenError
}
