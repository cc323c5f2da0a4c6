// Part of `npm test`: the packages as users install them. Packs every workspace (`npm pack`),
// installs the tarballs into an empty global prefix in a temporary directory outside the
// repository (`npm install -g --prefix`, as `npm install -g @keywarden/cli` does from the
// registry), and runs each bin from there with nothing of the monorepo on PATH or in the
// environment: `keywarden` set/get/run and scan, `keywarden-mcp` over stdio, `keywarden-edge` over HTTP,
// `npx` of the CLI from its tarball, then `changeset status` and `npm publish --dry-run` per
// package. Exits 1 on any failure; the last line is `pack-smoke: N passed, M failed`.
//
// Needs the built `dist/` (`npm run build`; `npm test` builds first) and the npm registry for
// third-party dependencies (`--prefer-offline` uses the npm cache first).
import { execFile, spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { once } from 'node:events'
import { mkdir, mkdtemp, readdir, readFile, realpath, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { delimiter, join, relative, sep } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { promisify } from 'node:util'

const execFileAsync = promisify(execFile)
const root = await realpath(fileURLToPath(new URL('..', import.meta.url)))
const WORKSPACES = ['packages/core', 'apps/cli', 'apps/mcp-server', 'apps/edge-plugin']
/** A value no output may show unmasked, except `keywarden get` (which prints it). */
const VALUE = `kw-smoke-${randomBytes(12).toString('hex')}`

const work = await realpath(await mkdtemp(join(tmpdir(), 'kw-pack-smoke-')))
if (!relative(root, work).startsWith('..')) throw new Error(`${work} is inside ${root}`)
const tarballs = join(work, 'tarballs')
const prefix = join(work, 'prefix')
const home = join(work, 'home')
const bin = join(prefix, 'bin')
await mkdir(tarballs)

/**
 * The environment of everything run from the prefix: this one without what `npm test` and the
 * repository add (npm_* variables, node_modules/.bin and other paths inside the repository on
 * PATH, Keywarden's own settings, a database to fall back on), with the prefix's bin first.
 */
const cleanEnv = (() => {
  const env = {}
  for (const [key, value] of Object.entries(process.env)) {
    if (/^(npm_|KEYWARDEN_|PG|SUPABASE_|POSTGRES_|PLUGIN_|NODE_PATH$|INIT_CWD$)/i.test(key))
      continue
    env[key] = value
  }
  const outside = (process.env.PATH ?? '')
    .split(delimiter)
    .filter((entry) => entry !== '' && !`${entry}${sep}`.startsWith(`${root}${sep}`))
  env.PATH = [bin, ...outside].join(delimiter)
  env.KEYWARDEN_HOME = home
  // A failure shows its cause (a stack names code, never values).
  env.KEYWARDEN_DEBUG = '1'
  env.npm_config_update_notifier = 'false'
  env.npm_config_fund = 'false'
  env.npm_config_audit = 'false'
  return env
})()

/** Runs a command from the temporary directory; rejects with its output when it fails. */
async function sh(command, args, { input, env = cleanEnv, cwd = work, timeout = 120_000 } = {}) {
  const child = execFileAsync(command, args, { cwd, env, timeout, maxBuffer: 16 << 20 })
  child.child.stdin.end(input)
  try {
    return await child
  } catch (error) {
    const output = `${error.stdout ?? ''}${error.stderr ?? ''}`.trim().split('\n').slice(-15)
    throw new Error(
      `${command} ${args.join(' ')} failed (${error.code}):\n  ${output.join('\n  ')}`,
    )
  }
}

function assert(condition, message) {
  if (!condition) throw new Error(message)
}

/** One line on stdout. */
const say = (line) => process.stdout.write(`${line}\n`)

const results = { passed: 0, failed: 0 }
/** Runs one check; a failure is reported and counted, and the next checks still run. */
async function check(name, fn) {
  const started = Date.now()
  try {
    await fn()
    results.passed++
    say(`  ok   ${name} (${Date.now() - started} ms)`)
  } catch (error) {
    results.failed++
    say(`  FAIL ${name}\n    ${String(error?.message ?? error).replaceAll('\n', '\n    ')}`)
  }
}

/** The packed manifests, by package name. */
const packed = new Map()

await check('npm pack every workspace', async () => {
  const args = ['pack', ...WORKSPACES.flatMap((dir) => ['-w', dir])]
  const { stdout } = await sh('npm', [...args, '--pack-destination', tarballs, '--json'], {
    cwd: root,
    env: { ...process.env, npm_config_update_notifier: 'false' },
  })
  for (const entry of JSON.parse(stdout)) {
    const files = new Set(entry.files.map((file) => file.path))
    const { stdout: json } = await sh('tar', [
      '-xOzf',
      join(tarballs, entry.filename),
      'package/package.json',
    ])
    packed.set(entry.name, { ...JSON.parse(json), tarball: join(tarballs, entry.filename), files })
  }
  assert(packed.size === WORKSPACES.length, `packed ${packed.size} of ${WORKSPACES.length}`)
  for (const [name, manifest] of packed) {
    for (const file of ['LICENSE', 'README.md', 'package.json'])
      assert(manifest.files.has(file), `${name}'s tarball has no ${file}`)
    assert(manifest.private !== true, `${name} is private`)
    assert(manifest.license === 'MIT', `${name} has no MIT license field`)
    assert(manifest.repository?.directory, `${name} has no repository.directory`)
    assert(manifest.engines?.node === '>=20.19', `${name}'s engines.node is not >=20.19`)
    for (const file of Object.values(manifest.bin ?? {}))
      assert(
        manifest.files.has(file.replace(/^\.\//, '')),
        `${name}'s tarball lacks its bin ${file}`,
      )
    for (const [dependency, range] of Object.entries(manifest.dependencies ?? {})) {
      const internal = packed.get(dependency)
      if (dependency.startsWith('@keywarden/'))
        assert(internal && range === `^${internal.version}`, `${name} wants ${dependency}@${range}`)
    }
  }
  const license = await readFile(join(root, 'LICENSE'), 'utf8')
  for (const [name, { tarball }] of packed) {
    const { stdout: shipped } = await sh('tar', ['-xOzf', tarball, 'package/LICENSE'])
    assert(shipped === license, `${name}'s LICENSE differs from the repository's`)
  }
})

await check('npm install -g --prefix <empty prefix> <every tarball>', async () => {
  const files = (await readdir(tarballs)).map((file) => join(tarballs, file))
  await sh('npm', ['install', '-g', '--prefix', prefix, '--prefer-offline', ...files])
  for (const name of ['keywarden', 'keywarden-mcp', 'keywarden-edge']) {
    const { stdout } = await sh(name, ['--version'])
    assert(stdout.trim() === packed.get(packageOf(name))?.version, `${name} --version: ${stdout}`)
  }
})

function packageOf(binName) {
  for (const [name, manifest] of packed) if (manifest.bin?.[binName]) return name
}

await check('keywarden set, get and run on a fresh KEYWARDEN_HOME', async () => {
  await sh('keywarden', ['set', 'smoke_token', '--description', 'pack smoke'], { input: VALUE })
  const { stdout } = await sh('keywarden', ['get', 'smoke_token'])
  assert(stdout === `${VALUE}\n` || stdout === VALUE, 'get did not print the stored value')
  const child =
    "const v = process.env.SMOKE_TOKEN; process.stdout.write('len=' + v.length + ' ' + v)"
  const run = await sh('keywarden', ['run', '--only', 'smoke_token', '--', 'node', '-e', child])
  assert(run.stdout.startsWith(`len=${VALUE.length} `), `run: ${run.stdout}`)
  assert(!run.stdout.includes(VALUE), 'run did not mask the value in the output')
})

await check(
  'keywarden scan loads secretlint and finds planted tokens, values unshown',
  async () => {
    const scanHome = join(work, 'scan-home')
    const project = join(scanHome, 'project')
    await mkdir(project, { recursive: true })
    // Built from parts at run time: no token-shaped literal in the repository.
    const random = (n) => randomBytes(n).toString('base64url').replace(/[-_]/g, 'x').slice(0, n)
    const github = ['gh', 'p_'].join('') + random(36)
    const supabase = ['sb', '_secret_'].join('') + random(32)
    await writeFile(
      join(scanHome, '.zshrc'),
      `export PATH=$HOME/bin:$PATH\nexport GITHUB_TOKEN=${github}\n`,
    )
    await writeFile(join(project, '.env'), `PORT=3000\nSUPABASE_SECRET_KEY=${supabase}\n`)
    const { stdout, stderr } = await sh('keywarden', ['scan', '--dir', project, '--json'], {
      env: { ...cleanEnv, HOME: scanHome },
    })
    const kinds = JSON.parse(stdout).findings.map((finding) => finding.kind)
    assert(
      kinds.includes('github/GITHUB_TOKEN') && kinds.includes('supabase/SUPABASE_SECRET_KEY'),
      `scan found ${kinds.join(', ')}`,
    )
    for (const value of [github, supabase]) {
      assert(!stdout.includes(value) && !stderr.includes(value), 'scan printed a value')
    }
  },
)

// The config editors (jsonc-parser, toml-patch) load from the installed tarball's dependencies.
await check('keywarden mcp-config --wrap edits a Codex TOML and a Cursor JSONC file', async () => {
  const files = {
    codex: [
      'config.toml',
      `# mine\n[mcp_servers.probe]\ncommand = "node"\nenv = { SMOKE_API_KEY = "${VALUE}x" }\n`,
    ],
    cursor: [
      'mcp.json',
      `// mine\n{ "mcpServers": { "probe": { "command": "node", "env": { "SMOKE_API_KEY": "${VALUE}x" } } } }\n`,
    ],
  }
  for (const [client, [name, text]] of Object.entries(files)) {
    const file = join(work, name)
    await writeFile(file, text)
    await sh('keywarden', ['mcp-config', '--client', client, '--wrap', '--yes', '--config', file])
    const written = await readFile(file, 'utf8')
    assert(!written.includes(VALUE), `${client}: the token is still in ${name}`)
    assert(
      written.includes('mine') && written.includes('keywarden'),
      `${client}: ${name} lost its comment or was not wrapped`,
    )
  }
})

// The root key goes to the OS keychain through @napi-rs/keyring, a native module with a
// prebuilt binary per platform (npm optional dependencies): the installed tarball must load it.
// Where this run has no keychain (no D-Bus session on Linux, KEYWARDEN_KEYCHAIN=off) the key
// is in the 0600 file.
const keychainHere =
  !/^(off|0)$/i.test(process.env.KEYWARDEN_KEYCHAIN ?? '') &&
  (process.platform !== 'linux' || Boolean(process.env.DBUS_SESSION_BUS_ADDRESS))
await check(
  `keywarden key: the root key is in the ${keychainHere ? 'keychain' : 'file'}`,
  async () => {
    const env = {
      ...cleanEnv,
      ...(process.env.KEYWARDEN_KEYCHAIN
        ? { KEYWARDEN_KEYCHAIN: process.env.KEYWARDEN_KEYCHAIN }
        : {}),
    }
    const { stdout } = await sh('keywarden', ['key', '--json'], { env })
    const { root_key: rootKey, keychain } = JSON.parse(stdout)
    assert(
      rootKey.kind === (keychainHere ? 'keychain' : 'file'),
      `root key in ${rootKey.kind} (keychain: ${JSON.stringify(keychain)})`,
    )
  },
)

await check('keywarden-mcp answers tools/list and tools/call over stdio', async () => {
  const server = spawn('keywarden-mcp', [], { cwd: work, env: cleanEnv, stdio: 'pipe' })
  let stderr = ''
  server.stderr.setEncoding('utf8').on('data', (chunk) => {
    stderr += chunk
  })
  const answers = new Map()
  const waiting = new Map()
  createInterface({ input: server.stdout }).on('line', (line) => {
    const message = JSON.parse(line)
    if (message.id === undefined) return
    answers.set(message.id, message)
    waiting.get(message.id)?.(message)
  })
  let nextId = 1
  const request = (method, params) => {
    const id = nextId++
    server.stdin.write(`${JSON.stringify({ jsonrpc: '2.0', id, method, params })}\n`)
    return new Promise((resolve, reject) => {
      if (answers.has(id)) resolve(answers.get(id))
      waiting.set(id, resolve)
      setTimeout(() => reject(new Error(`no answer to ${method}; stderr: ${stderr}`)), 20_000)
    })
  }
  try {
    const init = await request('initialize', {
      protocolVersion: '2025-06-18',
      capabilities: {},
      clientInfo: { name: 'pack-smoke', version: '1.0.0' },
    })
    assert(init.result?.serverInfo?.name === 'keywarden', `initialize: ${JSON.stringify(init)}`)
    server.stdin.write(
      `${JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' })}\n`,
    )
    const list = await request('tools/list', {})
    const names = list.result?.tools?.map((tool) => tool.name) ?? []
    assert(names.includes('list_secrets'), `tools/list: ${names.join(', ')}`)
    const call = await request('tools/call', { name: 'list_secrets', arguments: {} })
    const text = JSON.stringify(call.result)
    assert(call.result && !call.result.isError, `list_secrets failed: ${text}`)
    assert(text.includes('smoke_token') && !text.includes(VALUE), `list_secrets: ${text}`)
    const health = await request('tools/call', { name: 'vault_health', arguments: {} })
    const version = health.result?.structuredContent?.schema_version
    assert(/^\d{14}$/.test(version ?? ''), `vault_health: ${JSON.stringify(health.result)}`)
  } finally {
    server.stdin.end()
    if (server.exitCode === null) await once(server, 'exit')
  }
})

await check('keywarden-edge answers /health and an authenticated /secrets', async () => {
  const token = randomBytes(24).toString('hex')
  const server = spawn('keywarden-edge', [], {
    cwd: work,
    env: { ...cleanEnv, PORT: '0', PLUGIN_BEARER_TOKEN: token },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let output = ''
  const listening = new Promise((resolve, reject) => {
    const onData = (chunk) => {
      output += chunk
      const url = /listening on (\S+)/.exec(output)?.[1]
      if (url) resolve(url)
    }
    server.stdout.setEncoding('utf8').on('data', onData)
    server.stderr.setEncoding('utf8').on('data', onData)
    server.once('exit', (code) => reject(new Error(`keywarden-edge exited ${code}: ${output}`)))
    setTimeout(() => reject(new Error(`keywarden-edge did not listen: ${output}`)), 20_000)
  })
  try {
    const base = await listening
    const health = await fetch(`${base}/health`)
    assert(health.status === 200, `/health answered ${health.status}`)
    const refused = await fetch(`${base}/secrets`)
    assert(refused.status === 401, `/secrets without a token answered ${refused.status}`)
    const secrets = await fetch(`${base}/secrets`, {
      headers: { authorization: `Bearer ${token}` },
    })
    const body = await secrets.text()
    assert(secrets.status === 200, `/secrets answered ${secrets.status}: ${body.slice(0, 300)}`)
    assert(body.includes('smoke_token') && !body.includes(VALUE), `/secrets: ${body.slice(0, 300)}`)
  } finally {
    if (server.exitCode === null) {
      server.kill('SIGTERM')
      await once(server, 'exit')
    }
  }
})

await check('npx @keywarden/cli --help from the packed tarballs', async () => {
  // npx installs the tarballs together, as the registry would serve the CLI's dependencies.
  const packages = ['@keywarden/core', '@keywarden/mcp-server', '@keywarden/cli']
  const args = packages.flatMap((name) => ['--package', packed.get(name)?.tarball])
  const env = { ...cleanEnv, PATH: cleanEnv.PATH.split(delimiter).slice(1).join(delimiter) }
  const { stdout } = await sh(
    'npx',
    ['--yes', '--prefer-offline', ...args, '--', 'keywarden', '--help'],
    { env },
  )
  assert(
    /Usage|usage/.test(stdout) && stdout.includes('keywarden'),
    `--help: ${stdout.slice(0, 200)}`,
  )
})

await check('changeset status', async () => {
  const changeset = join(root, 'node_modules', '@changesets', 'cli', 'bin.js')
  const base = JSON.parse(
    await readFile(join(root, '.changeset', 'config.json'), 'utf8'),
  ).baseBranch
  // Against the base branch where it exists (a clone); else the plan from the changesets alone.
  const since = await sh('git', ['rev-parse', '--verify', '--quiet', base], { cwd: root }).then(
    () => [],
    () => ['--since=HEAD'],
  )
  const output = join(work, 'changeset-status.json')
  await sh(process.execPath, [changeset, 'status', ...since, `--output=${output}`], {
    cwd: root,
    env: process.env,
  })
  const { releases } = JSON.parse(await readFile(output, 'utf8'))
  for (const { name, newVersion } of releases)
    assert(packed.has(name), `changeset status plans ${name}@${newVersion}, which is not packed`)
  say(`       plan: ${releases.map((r) => `${r.name}@${r.newVersion}`).join(', ') || 'none'}`)
})

await check('npm publish --dry-run of every tarball, with no registry to reach', async () => {
  assert(packed.size === WORKSPACES.length, 'nothing packed to publish')
  for (const [name, { tarball }] of packed) {
    // A closed port as the registry: a dry run that tried to publish could not.
    const env = {
      ...cleanEnv,
      npm_config_registry: 'http://127.0.0.1:9/',
      npm_config_fetch_retries: '0',
    }
    const { stdout, stderr } = await sh(
      'npm',
      ['publish', '--dry-run', '--access', 'public', tarball],
      { env },
    )
    assert(`${stdout}${stderr}`.includes(name), `npm publish --dry-run did not name ${name}`)
  }
})

/** The embedded vault's agent outlives the commands by a minute; stop it before removing its home. */
async function stopAgent() {
  const core = join(prefix, 'lib', 'node_modules', '@keywarden', 'core', 'dist', 'node', 'index.js')
  try {
    const { stopAgent } = await import(pathToFileURL(core).href)
    await stopAgent(home)
  } catch {}
}

/** The keychain entry of the smoke's vault home (Linux: with libsecret's secret-tool). */
async function forgetKeychainEntry() {
  if (!keychainHere || process.platform !== 'linux') return
  await execFileAsync('secret-tool', ['clear', 'service', 'keywarden', 'username', home]).catch(
    () => {},
  )
}

await stopAgent()
await forgetKeychainEntry()
await rm(work, { recursive: true, force: true, maxRetries: 5 })
say(`pack-smoke: ${results.passed} passed, ${results.failed} failed`)
process.exitCode = results.failed > 0 ? 1 : 0
