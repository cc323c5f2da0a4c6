/**
 * Where the configured vault's root key comes from, as `keywarden status` and `keywarden key`
 * show it: a variable, a file or the OS keychain. Never the key itself.
 */
import { type Environment, KeywardenError, resolveStoreConfig } from '@keywarden/core'
import {
  defaultKeywardenHome,
  describeRootKey,
  type KeychainAvailability,
  type RootKeyLocation,
} from '@keywarden/core/node'

/** Where the root key comes from, in the machine-readable shape (`--json`). */
export type RootKeySource =
  | { kind: 'environment'; variable: 'KEYWARDEN_ROOT_KEY' }
  | { kind: 'file'; path: string; variable?: 'KEYWARDEN_ROOT_KEY_FILE' }
  | { kind: 'keychain'; keychain: string; service: string; account: string }
  | { kind: 'missing' }
  | { kind: 'none' }

/** The embedded vault's root key: where it is, and whether a keychain could hold it. */
export interface EmbeddedRootKey {
  home: string
  source: RootKeySource
  keychain: KeychainAvailability
  hasData: boolean
}

/**
 * The embedded vault's home, or a `CONFIGURATION_ERROR` for another store: PostgreSQL's and
 * Supabase's keys are not stored by Keywarden.
 */
export function embeddedHome(env: Environment): string {
  const config = resolveStoreConfig(env)
  if (config.kind !== 'embedded') {
    throw new KeywardenError(
      'CONFIGURATION_ERROR',
      `keywarden key manages the embedded vault's root key; this configuration uses ${config.kind}`,
    )
  }
  return config.home ?? defaultKeywardenHome(env)
}

/** Where the embedded vault's root key comes from: a variable first, as the store reads it. */
export async function embeddedRootKey(env: Environment): Promise<EmbeddedRootKey> {
  const home = embeddedHome(env)
  const report = await describeRootKey(home, { env })
  const config = resolveStoreConfig(env)
  const fromConfig = config.kind === 'embedded' ? configuredSource(config) : undefined
  return {
    home,
    source: fromConfig ?? stored(report.location, report.hasData),
    keychain: report.keychain,
    hasData: report.hasData,
  }
}

function configuredSource(config: {
  rootKey?: string
  rootKeyFile?: string
}): RootKeySource | undefined {
  if (config.rootKeyFile !== undefined) {
    return { kind: 'file', path: config.rootKeyFile, variable: 'KEYWARDEN_ROOT_KEY_FILE' }
  }
  if (config.rootKey !== undefined) return { kind: 'environment', variable: 'KEYWARDEN_ROOT_KEY' }
  return undefined
}

function stored(location: RootKeyLocation | undefined, hasData: boolean): RootKeySource {
  if (location) return location
  return hasData ? { kind: 'missing' } : { kind: 'none' }
}

/** One line for people: where the key is. */
export function describeSource(source: RootKeySource): string {
  switch (source.kind) {
    case 'environment':
      return 'KEYWARDEN_ROOT_KEY (from the environment)'
    case 'file':
      return source.variable === undefined
        ? `file ${source.path}`
        : `file ${source.path} (${source.variable})`
    case 'keychain':
      return `keychain: ${source.keychain} (service ${source.service}, account ${source.account})`
    case 'missing':
      return 'MISSING: restore it with keywarden key restore FILE'
    case 'none':
      return 'none yet (made by the first command that opens the vault)'
  }
}

/** Refuses to manage the stored key while a variable overrides it (the change would not show). */
export function refuseWhenConfigured(source: RootKeySource, action: string): void {
  if (source.kind === 'environment' || (source.kind === 'file' && source.variable)) {
    const variable = source.variable
    throw new KeywardenError(
      'CONFIGURATION_ERROR',
      `${variable} is set and takes precedence over the vault's stored key; unset it to ${action}`,
    )
  }
}
