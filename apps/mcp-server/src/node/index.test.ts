/**
 * The Node process runner behind run_command, with real processes. Masking, limits and audit
 * are the tool's and are tested in ../server/index.test.ts; here: what the runner itself owes.
 */
import { mkdtemp, rm, symlink } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import type { CommandRequest } from '../run-command/index.ts'
import { childEnvironment, createNodeCommandRunner, resolveExecutable } from './index.ts'

function request(overrides: Partial<CommandRequest> & { output?: string[] }): CommandRequest {
  const output = overrides.output ?? []
  return {
    command: process.execPath,
    args: [],
    env: {},
    signal: new AbortController().signal,
    onOutput: (stream, text) => output.push(`${stream}:${text}`),
    ...overrides,
  }
}

describe('childEnvironment', () => {
  it('keeps the environment but not what reaches the vault', () => {
    expect(
      childEnvironment({
        PATH: '/bin',
        HOME: '/home/me',
        KEYWARDEN_ROOT_KEY: 'k',
        KEYWARDEN_DATABASE_URL: 'postgres://vault@db/keywarden',
        SUPABASE_SERVICE_ROLE_KEY: 'jwt',
        SUPABASE_DB_URL: 'postgres://y',
        POSTGRES_URL: 'postgres://z',
        // The vault's URL under another name goes too; an unrelated database's stays.
        DATABASE_URL: 'postgres://vault@db/keywarden',
        APP_DATABASE_URL: 'postgres://app@elsewhere/app',
        SUPABASE_URL: 'https://p.supabase.co',
      }),
    ).toEqual({
      PATH: '/bin',
      HOME: '/home/me',
      APP_DATABASE_URL: 'postgres://app@elsewhere/app',
      SUPABASE_URL: 'https://p.supabase.co',
    })
  })
})

describe('createNodeCommandRunner', () => {
  it('runs without a shell, adds the variables to its base environment, and reports the exit', async () => {
    const output: string[] = []
    const runner = createNodeCommandRunner({ env: { BASE: 'base', PATH: process.env.PATH } })
    const exit = await runner.run(
      request({
        args: [
          '-e',
          'console.log(process.env.BASE, process.env.ADDED, process.argv[1]); process.exit(3)',
          '$HOME;|',
        ],
        env: { ADDED: 'added' },
        output,
      }),
    )
    expect(exit).toEqual({ exitCode: 3, signal: null })
    expect(output.join('')).toBe('stdout:base added $HOME;|\n')
  })

  it('kills the process on abort', async () => {
    const controller = new AbortController()
    const runner = createNodeCommandRunner()
    const running = runner.run(
      request({
        args: ['-e', 'console.log("up"); setTimeout(() => {}, 60_000)'],
        signal: controller.signal,
      }),
    )
    controller.abort()
    expect(await running).toEqual({ exitCode: null, signal: 'SIGKILL' })
  })

  it('refuses a link whose name hides a code-running executable', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kw-link-'))
    try {
      const disguised = join(dir, 'innocent-tool')
      await symlink('/bin/sh', disguised)
      const runner = createNodeCommandRunner({ env: { PATH: dir } })
      const request = {
        args: ['-c', 'echo ran'],
        env: {},
        signal: new AbortController().signal,
        onOutput: () => {},
      }
      for (const command of [disguised, 'innocent-tool']) {
        await expect(runner.run({ ...request, command })).rejects.toMatchObject({
          code: 'ACCESS_DENIED',
          message: expect.stringMatching(/^\S*innocent-tool is (dash|bash|sh), which runs code/),
        })
      }
      expect(await resolveExecutable('innocent-tool', dir)).toMatch(/\/(dash|bash|sh)$/)
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })

  it('says when a command cannot be found', async () => {
    await expect(
      createNodeCommandRunner().run(request({ command: 'keywarden-no-such-command' })),
    ).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: 'command not found: keywarden-no-such-command',
    })
  })
})
