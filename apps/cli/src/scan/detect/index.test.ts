/**
 * The detector over real files: every token kind planted in a generated home is found at its
 * line with its kind, and a realistic corpus of look-alikes (hashes, UUIDs, images, public
 * keys, placeholders) gives nothing.
 */
import { randomBytes } from 'node:crypto'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { plantFakeHome, randomText } from '../testing/fake-home.ts'
import { createDetector, type Detector } from './index.ts'

let detector: Detector
let home: string

beforeAll(async () => {
  detector = await createDetector()
  home = await mkdtemp(join(tmpdir(), 'kw-detect-'))
})
afterAll(async () => {
  if (home) await rm(home, { recursive: true, force: true })
})

const hex = (n: number) => randomText(n, '0123456789abcdef')
const b64 = (n: number) => randomBytes(n).toString('base64')
const jwt = (claims: object) =>
  [{ alg: 'HS256', typ: 'JWT' }, claims]
    .map((part) => Buffer.from(JSON.stringify(part)).toString('base64url'))
    .concat(randomText(43))
    .join('.')

describe('createDetector', () => {
  it('finds every planted kind at its line, and nothing else, in a generated home', async () => {
    const { planted } = await plantFakeHome(home)
    const files = [...new Set(planted.map((secret) => secret.file))]
    expect(files.length).toBeGreaterThan(15)
    for (const file of files) {
      const content = await readFile(join(home, file), 'utf8')
      const found = await detector.detect(join(home, file), content)
      const want = planted.filter((secret) => secret.file === file)
      expect(
        found.map(({ line, kind }) => ({ file, line, kind })),
        file,
      ).toEqual(want.map(({ line, kind }) => ({ file, line, kind })))
      for (const detection of found) {
        const secret = want.find((w) => w.line === detection.line)
        // The match is the value or, for a URL with a password, its credential part.
        expect(secret?.value.includes(detection.value), `${file}:${detection.line}`).toBe(true)
        expect(detection.value.length).toBeGreaterThan(10)
      }
    }
  })

  it('gives nothing on a realistic corpus without secrets', async () => {
    const corpus: Record<string, string> = {
      'package-lock.json': JSON.stringify(
        {
          name: 'app',
          lockfileVersion: 3,
          packages: Object.fromEntries(
            Array.from({ length: 30 }, (_, i) => [
              `node_modules/pkg-${i}`,
              {
                version: `1.${i}.0`,
                resolved: `https://registry.npmjs.org/pkg-${i}/-/pkg-${i}-1.${i}.0.tgz`,
                integrity: `sha512-${b64(64)}`,
              },
            ]),
          ),
        },
        null,
        2,
      ),
      'yarn.lock': Array.from(
        { length: 20 },
        (_, i) =>
          `"lib-${i}@^2.0.0":\n  version "2.${i}.1"\n  resolved "https://registry.yarnpkg.com/lib-${i}/-/lib-${i}-2.${i}.1.tgz#${hex(40)}"\n  integrity sha1-${b64(20)}\n`,
      ).join('\n'),
      'go.sum': Array.from(
        { length: 20 },
        (_, i) => `github.com/acme/mod${i} v1.${i}.0 h1:${b64(32)}`,
      ).join('\n'),
      'README.md': [
        '# App',
        `![logo](data:image/png;base64,iVBORw0KGgo${b64(900)})`,
        `Commit ${hex(40)} fixed ${hex(7)}; see https://github.com/acme/app/pull/12`,
        'Clone with git@github.com:acme/app.git or https://github.com/acme/app.git',
        `Request id ${crypto.randomUUID()}, trace ${hex(32)}`,
        'Connect with postgres://localhost:5432/app or mysql://db.example.com/app',
        'Set OPENAI_API_KEY=sk-... and GITHUB_TOKEN=ghp_xxxxxxxxxxxx in your .env',
      ].join('\n'),
      '.env.example': [
        'OPENAI_API_KEY=your-openai-key',
        'ANTHROPIC_API_KEY=sk-ant-...',
        'DATABASE_URL=postgresql://localhost/app',
        `NEXT_PUBLIC_SUPABASE_ANON_KEY=${jwt({ iss: 'supabase', role: 'anon', ref: 'x' })}`,
        `NEXT_PUBLIC_SUPABASE_KEY=sb_publishable_${randomText(32)}`,
        'REDIS_URL=redis://127.0.0.1:6379',
        `CACHE_KEY_SALT_HASH=${hex(64)}`,
        `BUILD_ID=${crypto.randomUUID()}`,
      ].join('\n'),
      'id_ed25519.pub': `ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI${b64(32)} me@laptop`,
      'style.css': `.a { color: #${hex(6)}; background: url("https://cdn.example.com/${hex(32)}.png"); }`,
      '.npmrc': [
        'registry=https://registry.npmjs.org/',
        // biome-ignore lint/suspicious/noTemplateCurlyInString: npm's reference syntax
        '//registry.npmjs.org/:_authToken=${NPM_TOKEN}',
      ].join('\n'),
      'hosts.yml': 'github.com:\n    git_protocol: ssh\n    user: me\n',
      // Not a .netrc or a Docker config: their rules look at their own files only.
      'notes.txt': `password ${randomText(20)}\n{"auths":{"x":{"auth":"${b64(20)}"}}}`,
      '.zshrc': [
        'export PATH="$HOME/.cargo/bin:/usr/local/go/bin:$PATH"',
        'export GOPRIVATE=github.com/acme/*',
        `export KUBECONFIG=$HOME/.kube/config`,
        'export HOMEBREW_GITHUB_API_TOKEN="$(security find-generic-password -s gh -w)"',
        'alias k=kubectl',
      ].join('\n'),
    }
    for (const [name, content] of Object.entries(corpus)) {
      const found = await detector.detect(join(home, 'corpus', name), content)
      expect(
        found.map(({ line, kind }) => `${name}:${line} ${kind}`),
        name,
      ).toEqual([])
    }
  })

  it('Supabase: a service-role JWT and an sb_secret_ key, never an anon or publishable key', async () => {
    const service = jwt({ iss: 'supabase', role: 'service_role', ref: 'abc' })
    const anon = jwt({ iss: 'supabase', role: 'anon', ref: 'abc' })
    const secret = `sb_secret_${randomText(32)}`
    const content = `A=${anon}\nB=${service}\nC=sb_publishable_${randomText(32)}\nD=${secret}\n`
    const found = await detector.detect('/p/.env', content)
    expect(found.map(({ line, kind, value }) => ({ line, kind, value }))).toEqual([
      { line: 2, kind: 'supabase/SUPABASE_SERVICE_ROLE_KEY', value: service },
      { line: 4, kind: 'supabase/SUPABASE_SECRET_KEY', value: secret },
    ])
  })

  it('a secretlint-disable-line comment opts a line out', async () => {
    const token = `sb_secret_${randomText(32)}`
    const found = await detector.detect(
      '/p/.env',
      `A=${token} # secretlint-disable-line\nB=${token}\n`,
    )
    expect(found.map(({ line }) => line)).toEqual([2])
  })
})
