/**
 * The fingerprint a finding shows instead of its value: equal values in one report get equal
 * fingerprints, so duplicates can be matched, and nothing else can be learnt from it.
 */
import { createHmac, randomBytes } from 'node:crypto'

/** Hex characters shown: 48 bits, plenty to tell a report's values apart. */
const LENGTH = 12

/**
 * A fingerprinter for one report: HMAC-SHA256 under a key drawn for this run and then
 * forgotten. Unkeyed, a short hash of a weak password would confirm a guess (`hunter2`) to
 * anyone reading a CI log; keyed with a forgotten key, it can only be compared with the other
 * fingerprints of the same report.
 */
export function createFingerprinter(key: Uint8Array = randomBytes(32)): (value: string) => string {
  return (value) => createHmac('sha256', key).update(value, 'utf8').digest('hex').slice(0, LENGTH)
}
