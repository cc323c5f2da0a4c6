/**
 * `keywarden key`: where the embedded vault's root key is, moving a `root.key` file into the
 * OS keychain, and the recovery copy (export, restore). The key is printed only by `export`,
 * only to a terminal, and otherwise only ever written to a 0600 file.
 */
import { chmod, writeFile } from 'node:fs/promises'
import { resolve } from 'node:path'
import { KeywardenError } from '@keywarden/core'
import {
  checkVaultHome,
  moveRootKeyToKeychain,
  type RootKeyLocation,
  readRootKey,
  readSecretFile,
  restoreRootKey,
} from '@keywarden/core/node'
import type { CommandContext, CommandModule } from '../context.ts'
import { UsageError } from '../errors.ts'
import { readSecretValue } from '../input.ts'
import { describeSource, embeddedRootKey, refuseWhenConfigured } from '../root-key.ts'

export const options: CommandModule['options'] = {
  out: { type: 'string' },
}

export const help = `Usage: keywarden key [where | move | export [--out FILE] | restore [FILE]] [--json]

The embedded vault's root key decrypts every secret in it. It lives in the OS keychain (macOS
Keychain, Windows Credential Manager, Linux Secret Service) where one is available, as service
"keywarden", account <the vault home's path>; else in <home>/root.key (0600).
KEYWARDEN_ROOT_KEY or KEYWARDEN_ROOT_KEY_FILE, when set, take precedence over both;
KEYWARDEN_KEYCHAIN=off keeps new keys in the file.

Tasks:
  where           where the key is, and whether a keychain is available (the default)
  move            moves <home>/root.key into the keychain: stores it, reads it back, compares,
                  then overwrites and deletes the file
  export          a recovery copy: shown once on a terminal, or --out FILE (a new 0600 file).
                  Keep it offline (a password manager, paper): without the key, the vault's
                  secrets cannot be read by anyone, you included
  restore [FILE]  stores a recovery copy (FILE, a 0600 file; else stdin or a hidden prompt) in
                  the keychain, else in <home>/root.key. Refused when another key is stored.

If the key is lost while the vault holds data, every command fails (exit 1) saying how to
restore it; a new key is never made, since it would open none of the existing secrets.

Options:
  --out FILE   export: write the copy to FILE (created 0600; an existing file is refused)
  --json       where: {"home", "root_key": {"kind": "keychain" | "file" | "environment" |
               "missing" | "none", ...}, "keychain": {"available", ...}, "has_data"};
               move, restore: {"home", "root_key"}; export --out: {"home", "file"}

Examples:
  keywarden key
  keywarden key move
  keywarden key export --out /media/usb/keywarden-root.key
  keywarden key restore /media/usb/keywarden-root.key`

export const run: CommandModule['run'] = async (context, { positionals, values }) => {
  const [task = 'where', ...extra] = positionals
  const file = typeof values.out === 'string' ? values.out : undefined
  if (file !== undefined && task !== 'export') {
    throw new UsageError('--out goes with keywarden key export')
  }
  const arity = task === 'restore' ? 1 : 0
  if (extra.length > arity) {
    throw new UsageError(`too many arguments for keywarden key ${task}; see keywarden key --help`)
  }
  switch (task) {
    case 'where':
      return where(context)
    case 'move':
      return move(context)
    case 'export':
      return exportCopy(context, file)
    case 'restore':
      return restore(context, extra[0])
    default:
      throw new UsageError(`unknown key task ${task}; see keywarden key --help`)
  }
}

async function where(context: CommandContext): Promise<number> {
  const { home, source, keychain, hasData } = await embeddedRootKey(context.env)
  const { out } = context
  if (out.json) {
    out.printJson({ home, root_key: source, keychain, has_data: hasData })
    return 0
  }
  out.line(`Vault     ${home}`)
  out.line(
    `Root key  ${source.kind === 'missing' ? out.paint.red(describeSource(source)) : describeSource(source)}`,
  )
  out.line(
    `Keychain  ${keychain.available ? `${keychain.keychain} (available)` : `not available (${keychain.reason})`}`,
  )
  if (source.kind === 'file' && source.variable === undefined && keychain.available) {
    out.note(`move it into the ${keychain.keychain} with: keywarden key move`)
  }
  return 0
}

/** The stored key's home, which must exist and pass the trust check; refused when overridden. */
async function storedKeyHome(context: CommandContext, action: string): Promise<string> {
  const { home, source } = await embeddedRootKey(context.env)
  refuseWhenConfigured(source, action)
  if (!(await checkVaultHome(home))) {
    throw new KeywardenError('CONFIGURATION_ERROR', `there is no vault in ${home}`)
  }
  return home
}

function printLocation(
  context: CommandContext,
  home: string,
  done: string,
  location: RootKeyLocation,
) {
  if (context.out.json) context.out.printJson({ home, root_key: location })
  else context.out.line(`${done}: ${describeSource(location)}`)
}

async function move(context: CommandContext): Promise<number> {
  const home = await storedKeyHome(context, 'move the stored key')
  const location = await moveRootKeyToKeychain(home, { env: context.env })
  printLocation(context, home, `the root key of ${home} is in`, location)
  if (!context.out.json) {
    context.out.note('keep a recovery copy offline: keywarden key export --out FILE')
  }
  return 0
}

async function exportCopy(context: CommandContext, file: string | undefined): Promise<number> {
  const home = await storedKeyHome(context, 'export the stored key')
  if (file === undefined && context.io.stdout.isTTY !== true) {
    // A key piped or redirected lands in logs and scrollback nobody meant to keep.
    throw new UsageError(
      'keywarden key export shows the key only on a terminal; write it to a file with --out FILE',
    )
  }
  if (file === undefined && context.out.json) {
    throw new UsageError(
      'keywarden key export --json needs --out FILE (the key is not printed as JSON)',
    )
  }
  const { key } = await readRootKey(home, { env: context.env })
  if (file === undefined) {
    context.out.note(`the root key of ${home}; store it offline, it is not shown again:`)
    context.out.line(key)
    return 0
  }
  const path = resolve(file)
  try {
    // 'wx': never over an existing file, which might be another vault's copy.
    await writeFile(path, `${key}\n`, { mode: 0o600, flag: 'wx' })
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') {
      throw new KeywardenError('CONFIGURATION_ERROR', `${path} exists; choose a new file`)
    }
    throw error
  }
  await chmod(path, 0o600)
  if (context.out.json) context.out.printJson({ home, file: path })
  else context.out.line(`wrote a recovery copy of the root key of ${home} to ${path} (0600)`)
  return 0
}

async function restore(context: CommandContext, file: string | undefined): Promise<number> {
  const home = await storedKeyHome(context, 'restore the stored key')
  const key =
    file === undefined
      ? await readSecretValue(context.io, 'Root key (64 hex characters): ')
      : await readSecretFile(resolve(file), 'the recovery copy')
  const location = await restoreRootKey(home, key, { env: context.env })
  printLocation(context, home, `restored the root key of ${home} to`, location)
  return 0
}
