/**
 * A secret `keywarden scan` found, as the detector, the locator and the vault comparison
 * describe it together. `value` stays in this process: every output is built field by field
 * from the others.
 */
import type { Detection } from './detect/index.ts'
import type { Place } from './locate/index.ts'
import type { ScanTarget } from './sources/index.ts'
import type { Comparison } from './vault/index.ts'

/** One finding. */
export interface Finding extends Detection, Place {
  /** The whole assigned value when there is one ({@link Place.value}), else the match. */
  value: string
  /** The name it has (or would have) in the vault: its variable in lower case, when valid. */
  name?: string
  fingerprint: string
  vault: Comparison
}

/** A file that was read, with what was found in it. */
export interface ScannedFile extends ScanTarget {
  /** The bytes read, to rewrite exactly what was scanned and to notice a change meanwhile. */
  original: Buffer
  findings: Finding[]
}
