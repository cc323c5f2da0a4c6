import { describe, expect, it } from 'vitest'
import { createFingerprinter } from './index.ts'

describe('createFingerprinter', () => {
  it('equal values match within one report, and a new report keys them afresh', () => {
    const one = createFingerprinter()
    const other = createFingerprinter()
    expect(one('hunter2')).toBe(one('hunter2'))
    expect(one('hunter2')).not.toBe(one('hunter3'))
    expect(one('hunter2')).toMatch(/^[0-9a-f]{12}$/)
    // Without the run's key, a guess cannot be confirmed against a printed fingerprint.
    expect(other('hunter2')).not.toBe(one('hunter2'))
  })
})
