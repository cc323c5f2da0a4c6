/**
 * The vault home's trust check on real directories, with real modes and (as root) real
 * owners. The embedded store's own suite shows that the in-process path applies it.
 */
import { chmod, chown, mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { rejection } from '../../testing/expect.ts'
import { checkVaultHome } from './index.ts'

/** Whether this process can give a directory to another user (root can). */
const CAN_CHOWN = process.getuid?.() === 0
/** `nobody` on Debian; any uid other than ours does. */
const OTHER_UID = 65534
// Outside CI a developer who is not root cannot make another user's directory: that case is
// skipped, and says so in its name. In CI it runs (and fails loudly if it cannot chown).
const SKIP_CHOWN = !CAN_CHOWN && !process.env.CI
const CHOWN_NOTE = SKIP_CHOWN ? ' [skipped: needs root to chown to another user]' : ''

const permissions = async (path: string) => (await stat(path)).mode & 0o777

describe('checkVaultHome', () => {
  let parent: string
  let count = 0
  const fresh = async (mode = 0o700) => {
    const dir = join(parent, `home-${count++}`)
    await mkdir(dir)
    await chmod(dir, mode)
    return dir
  }

  beforeAll(async () => {
    parent = await mkdtemp(join(tmpdir(), 'kw-home-'))
  })
  afterAll(async () => {
    await rm(parent, { recursive: true, force: true })
  })

  it('reports a missing home, and creates it 0700 when asked', async () => {
    const home = join(parent, 'missing')
    expect(await checkVaultHome(home)).toBe(false)
    expect(await checkVaultHome(home, { create: true })).toBe(true)
    expect(await permissions(home)).toBe(0o700)
  })

  it('accepts a 0700 home of this user with a 0700 data/ and a 0600 root.key', async () => {
    const home = await fresh()
    await mkdir(join(home, 'data'), { mode: 0o700 })
    await writeFile(join(home, 'root.key'), 'x\n', { mode: 0o600 })
    const warnings: string[] = []
    expect(await checkVaultHome(home, { warn: (line) => warnings.push(line) })).toBe(true)
    expect(warnings).toEqual([])
  })

  it('refuses a home, data/ or root.key that group or others can write', async () => {
    for (const mode of [0o720, 0o702, 0o777]) {
      const home = await fresh(mode)
      const error = await rejection(checkVaultHome(home), 'CONFIGURATION_ERROR')
      expect(error.message).toContain('writable by other users')
      expect(error.message).toContain(`chmod 700 ${home}`)
      // Refused, not repaired: someone else may already have changed it.
      expect(await permissions(home)).toBe(mode)
    }
    const withData = await fresh()
    await mkdir(join(withData, 'data'))
    await chmod(join(withData, 'data'), 0o777)
    await rejection(checkVaultHome(withData), 'CONFIGURATION_ERROR')
    const withKey = await fresh()
    await writeFile(join(withKey, 'root.key'), 'x\n')
    await chmod(join(withKey, 'root.key'), 0o622)
    const keyError = await rejection(checkVaultHome(withKey), 'CONFIGURATION_ERROR')
    expect(keyError.message).toContain(`chmod 600 ${join(withKey, 'root.key')}`)
  })

  it('refuses a root.key that others can read', async () => {
    const home = await fresh()
    await writeFile(join(home, 'root.key'), 'x\n')
    await chmod(join(home, 'root.key'), 0o644)
    const error = await rejection(checkVaultHome(home), 'CONFIGURATION_ERROR')
    expect(error.message).toMatch(/readable by other users/)
  })

  it('tightens a home and data/ that others can read to 0700, and says so', async () => {
    const home = await fresh(0o755)
    await mkdir(join(home, 'data'))
    await chmod(join(home, 'data'), 0o750)
    const warnings: string[] = []
    expect(await checkVaultHome(home, { warn: (line) => warnings.push(line) })).toBe(true)
    expect(await permissions(home)).toBe(0o700)
    expect(await permissions(join(home, 'data'))).toBe(0o700)
    expect(warnings).toEqual([
      expect.stringMatching(new RegExp(`${home} was readable by other users \\(mode 755\\).*0700`)),
      expect.stringMatching(/data was readable by other users \(mode 750\).*0700/),
    ])
  })

  it.skipIf(SKIP_CHOWN)(
    `refuses a home, data/ or root.key of another user${CHOWN_NOTE}`,
    async () => {
      const foreign = await fresh(0o700)
      await chown(foreign, OTHER_UID, OTHER_UID)
      const error = await rejection(checkVaultHome(foreign), 'CONFIGURATION_ERROR')
      expect(error.message).toContain(`belongs to another user (uid ${OTHER_UID}`)

      const home = await fresh()
      await writeFile(join(home, 'root.key'), 'x\n', { mode: 0o600 })
      await chown(join(home, 'root.key'), OTHER_UID, OTHER_UID)
      await rejection(checkVaultHome(home), 'CONFIGURATION_ERROR')
    },
  )
})
