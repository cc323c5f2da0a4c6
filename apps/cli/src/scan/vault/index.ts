/**
 * Whether each value found is already in the vault, told without showing it: values are
 * compared in this process, and only the verdict leaves it.
 *
 * Reading a value is audited by the vault, one row per secret read. So only the names the
 * findings point at (their variables, `GITHUB_TOKEN` → `github_token`) are read, in one
 * `getSecrets` call, and only those the vault lists; `all` reads every secret instead, to
 * match values that have no variable (a `.netrc` password, a Docker credential).
 */
import type { VaultClient } from '@keywarden/core'

/** `same`: the vault holds this value under the name; `differs`: another value; `absent`: no
 * such secret; `unknown`: not compared (no name to compare with, or the vault was not read). */
export type VaultState = 'same' | 'differs' | 'absent' | 'unknown'

/** A value to compare, under the name it would have in the vault (if it has one). */
export interface Candidate {
  name?: string
  value: string
}

/** The verdict for one candidate. */
export interface Comparison {
  state: VaultState
  /** A secret of the vault holding exactly this value, when one of those read does. */
  sameAs?: string
}

/** Compares every candidate with the vault; the result is in the candidates' order. */
export async function compareWithVault(
  client: VaultClient,
  candidates: readonly Candidate[],
  options: { all?: boolean } = {},
): Promise<Comparison[]> {
  const listed = new Set((await client.listSecrets()).map((secret) => secret.name))
  const names = options.all
    ? [...listed]
    : [...new Set(candidates.flatMap(({ name }) => (name && listed.has(name) ? [name] : [])))]
  const read = names.length > 0 ? await client.getSecrets(names) : new Map()
  // Only what the vault itself served: the client's environment fallback is not the vault.
  const values = new Map<string, string>()
  for (const [name, result] of read) if (result.source !== 'env') values.set(name, result.value)
  return candidates.map(({ name, value }) => {
    const sameAs = [...values].find(([, stored]) => stored === value)?.[0]
    const match = sameAs === undefined ? {} : { sameAs }
    let state: VaultState
    if (name === undefined)
      state = sameAs !== undefined ? 'same' : options.all ? 'absent' : 'unknown'
    else if (!listed.has(name)) state = 'absent'
    else state = values.get(name) === value ? 'same' : 'differs'
    return { state, ...match }
  })
}
