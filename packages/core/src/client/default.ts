/**
 * The seed's import style, `import { getSecret } from '@keywarden/core'`: module-level
 * functions bound to one client configured from the environment, created on first use.
 */
import { createVaultClient, type SecretResult, type VaultClient } from './index.ts'

let defaultClient: VaultClient | undefined

/** The process-wide client, configured from the environment on first use. */
export function getDefaultVaultClient(): VaultClient {
  defaultClient ??= createVaultClient()
  return defaultClient
}

// These are async so that a configuration error from creating the client (a bad
// KEYWARDEN_ROOT_KEY, a malformed URL) rejects the returned promise like every other failure,
// instead of throwing synchronously past a caller's `.catch()`.

/** `getDefaultVaultClient().getSecret(name)`: cache → vault → environment. */
export async function getSecret(
  name: string,
  options?: { version?: 'current' | 'previous' },
): Promise<SecretResult> {
  return getDefaultVaultClient().getSecret(name, options)
}

/** `getDefaultVaultClient().getSecrets(names)`: one round trip for the uncached names. */
export async function getSecrets(names: readonly string[]): Promise<Map<string, SecretResult>> {
  return getDefaultVaultClient().getSecrets(names)
}

/** Drops one name, or everything, from the default client's cache. */
export function clearSecretCache(name?: string): void {
  defaultClient?.clearSecretCache(name)
}

/** Flushes the default client's audit buffer and closes its store; the next call makes a new one. */
export async function closeDefaultVaultClient(): Promise<void> {
  const client = defaultClient
  defaultClient = undefined
  await client?.close()
}
