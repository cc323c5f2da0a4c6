/**
 * Secrets read from files named in the configuration (`KEYWARDEN_ROOT_KEY_FILE`,
 * `KEYWARDEN_DATABASE_PASSWORD_FILE`, `SUPABASE_SERVICE_ROLE_KEY_FILE`).
 *
 * Why: a client such as Claude Desktop gives a server only the environment its config entry
 * holds, and that file must not hold secrets. The entry names 0600 files instead; each is
 * trust-checked like the vault home's `root.key` (the user's own, nobody else may read or
 * write it) before it is read, so a file others could read or swap is refused, not used.
 * @module
 */
import { readFile } from 'node:fs/promises'
import { KeywardenError } from '../../errors/index.ts'
import { checkPrivateFile } from '../home/index.ts'

/**
 * The secret in `path`, trust-checked first: the whole file without its final line break (a
 * file written by `echo` or an editor still works). `what` names it in errors, e.g.
 * `KEYWARDEN_ROOT_KEY_FILE`. An empty file is a configuration error.
 */
export async function readSecretFile(path: string, what: string): Promise<string> {
  await checkPrivateFile(path, `${what}`)
  const text = (await readFile(path, 'utf8')).replace(/\r?\n$/, '')
  if (text === '') {
    throw new KeywardenError('CONFIGURATION_ERROR', `${what} ${path} is empty`)
  }
  return text
}
