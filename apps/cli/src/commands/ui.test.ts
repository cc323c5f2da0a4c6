/**
 * `keywarden ui` and `keywarden report` end to end: the built CLI serves the dashboard over a
 * fresh PostgreSQL vault seeded with weeks of realistic history, Debian's Chromium (through
 * playwright-core) loads each view, and the test asserts what a user sees against the SQL —
 * and that the session cannot be had by anyone else, and that a canary value never appears.
 * Screenshots of every view go to apps/cli/artifacts/screenshots/ (git-ignored, CI artifacts);
 * with KEYWARDEN_REFRESH_SCREENSHOTS=1 the docs' two are refreshed too.
 */
import { execFileSync, spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { get as httpGet } from 'node:http'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type pg from 'pg'
import type { Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  chromiumAvailable,
  launchChromium,
  type TestBrowser,
} from '../../../../packages/core/src/testing/chromium.ts'
import {
  createPostgresTestDatabase,
  type PostgresTestDatabase,
} from '../../../../packages/core/src/testing/databases.ts'
import { CANARY_VALUE, seedDashboard } from '../testing/dashboard-seed.ts'
import { runCli } from '../testing/run-cli.ts'
import { type StartedCli, startCli } from '../testing/start-cli.ts'

const SCREENSHOTS = fileURLToPath(new URL('../../artifacts/screenshots/', import.meta.url))
const DOC_IMAGES = fileURLToPath(new URL('../../../../docs/images/', import.meta.url))
const AXE_SOURCE = readFileSync(
  createRequire(import.meta.url).resolve('axe-core/axe.min.js'),
  'utf8',
)

describe.runIf(chromiumAvailable())('keywarden ui over a seeded PostgreSQL vault', () => {
  let database: PostgresTestDatabase
  let owner: pg.Client
  let env: Record<string, string>
  let cli: StartedCli
  let url: string
  let origin: string
  let browser: TestBrowser
  let page: Page
  /** Every body the browser received from the dashboard. */
  const bodies: string[] = []

  beforeAll(async () => {
    database = await createPostgresTestDatabase()
    owner = await database.connect()
    await seedDashboard(owner)
    env = { KEYWARDEN_DATABASE_URL: database.url, KEYWARDEN_ROOT_KEY: database.rootKey }
    cli = startCli(['ui', '--no-open'], { env, timeoutMs: 170_000 })
    await cli.waitForStdout('The link works once', 60_000)
    url = /http:\/\/127\.0\.0\.1:\d+\/\?token=[\w-]+/.exec(cli.stdout())?.[0] ?? ''
    origin = new URL(url).origin
    await mkdir(SCREENSHOTS, { recursive: true })
  })

  afterAll(async () => {
    await browser?.close()
    if (cli) {
      cli.child.kill('SIGTERM')
      await cli.result
    }
    await owner?.end()
    await database?.drop()
  })

  const sql = async <Row>(text: string, params: unknown[] = []) =>
    (await owner.query(text, params)).rows as Row[]

  it('refuses every request without the session, and a foreign Host or Origin', async () => {
    expect((await fetch(`${origin}/`)).status).toBe(401)
    expect((await fetch(`${origin}/api/inventory`)).status).toBe(401)
    expect((await fetch(`${origin}/api/report?format=csv`)).status).toBe(401)
    expect((await fetch(`${origin}/?token=not-the-token`)).status).toBe(401)
    // DNS rebinding: the page's own name in Host, even with the right token (which stays unused).
    expect(await statusOf(url, { Host: 'attacker.example:80' })).toBe(421)
    // Another site's page in the user's browser.
    expect(await statusOf(url, { Origin: 'http://attacker.example' })).toBe(403)
    expect(await statusOf(url, { 'Sec-Fetch-Site': 'cross-site' })).toBe(403)
    const answer = await fetch(`${origin}/api/inventory`)
    expect(answer.headers.get('access-control-allow-origin')).toBeNull()
  })

  it('trades the one-time token for an HttpOnly SameSite=Strict session, once', async () => {
    browser = await launchChromium()
    page = await browser.context.newPage()
    page.on('response', async (response) => {
      try {
        bodies.push((await response.body()).toString('latin1'))
      } catch {
        // Redirects and event streams have no body to read.
      }
    })
    await page.goto(url)
    expect(page.url()).toBe(`${origin}/`)
    await page.waitForSelector('body[data-ready="inventory"]')
    const [cookie] = await browser.context.cookies(origin)
    expect(cookie).toMatchObject({
      name: 'keywarden_ui_session',
      httpOnly: true,
      sameSite: 'Strict',
    })
    expect(await page.evaluate('document.cookie')).toBe('')
    // The link is spent: the same token again, from anywhere, is refused.
    expect((await fetch(url, { redirect: 'manual' })).status).toBe(401)
    const headers = (
      await fetch(`${origin}/api/inventory`, {
        headers: { Cookie: `${cookie?.name}=${cookie?.value}` },
      })
    ).headers
    expect(headers.get('content-security-policy')).toContain("script-src 'self'")
  })

  it('refuses another local user, who has neither the session nor a usable token', async () => {
    const other = spawnSync(
      'runuser',
      [
        '-u',
        'nobody',
        '--',
        'curl',
        '-s',
        '-o',
        '/dev/null',
        '-w',
        '%{http_code}',
        `${origin}/api/inventory`,
      ],
      { encoding: 'utf8' },
    )
    if (other.error || other.status !== 0) {
      // Not root (or no runuser/curl): the same request from this user stands in for it.
      expect((await fetch(`${origin}/api/inventory`)).status).toBe(401)
      return
    }
    expect(other.stdout).toBe('401')
    const reused = spawnSync(
      'runuser',
      ['-u', 'nobody', '--', 'curl', '-s', '-o', '/dev/null', '-w', '%{http_code}', url],
      { encoding: 'utf8' },
    )
    expect(reused.stdout).toBe('401')
  })

  it('Inventory: the numbers of the SQL, every column, no value', async () => {
    const [counts] = await sql<{ secrets: number; overdue: number }>(
      `SELECT count(*)::int AS secrets, count(*) FILTER (WHERE rotation_due_at <= now())::int AS overdue
         FROM public.list_secret_names()`,
    )
    const total = async (key: string) =>
      Number(await page.textContent(`[data-total="${key}"] .value`))
    expect(await total('secrets')).toBe(counts?.secrets)
    expect(await total('overdue')).toBe(counts?.overdue)
    expect(counts?.overdue).toBeGreaterThan(0)
    const row = page.locator('tr[data-secret="github_token"]')
    await expect.poll(() => row.textContent()).toContain('api.github.com')
    expect(await row.textContent()).toContain('cli, edge, mcp')
    expect(await page.locator('tr[data-secret="do_token"]').textContent()).toContain('overdue by')
    await check(page, 'inventory')
  })

  it('Activity: stacked series by door that sum to the SQL totals, failures marked', async () => {
    const from = new Date(Date.now() - 28 * 86_400_000)
    from.setUTCHours(0, 0, 0, 0)
    const to = new Date(Date.now() + 3_600_000)
    await page.goto(
      `${origin}/#/activity?from=${from.toISOString()}&to=${to.toISOString()}&bucket=day&group=door`,
    )
    await page.waitForSelector('body[data-ready="activity"] #series-totals')
    const shown = await page.$$eval('#series-totals tbody tr', (rows) =>
      rows.map((row) => [...row.querySelectorAll('td')].map((cell) => cell.textContent ?? '')),
    )
    const expected = await sql<{ door: string; events: string; failures: string }>(
      `SELECT split_part(accessed_by, ':', 1) AS door, sum(event_count)::text AS events,
              coalesce(sum(event_count) FILTER (WHERE NOT success), 0)::text AS failures
         FROM public.secret_access_log WHERE created_at >= $1 AND created_at < $2
        GROUP BY 1 ORDER BY 1`,
      [from, to],
    )
    expect(shown).toEqual(expected.map((row) => [row.door, row.events, row.failures]))
    expect(expected.some((row) => Number(row.failures) > 0)).toBe(true)
    // The chart is drawn: uPlot's canvas and a legend entry per series plus failures.
    expect(await page.locator('#chart canvas').count()).toBe(1)
    const legend = await page.$$eval('#chart .u-legend .u-series .u-label', (labels) =>
      labels.map((l) => l.textContent),
    )
    expect(legend).toEqual(expect.arrayContaining([...expected.map((row) => row.door), 'failures']))
    await check(page, 'activity')

    // Zoom: dragging across the chart narrows the range to what was selected, in hours.
    const over = await page.locator('#chart .u-over').boundingBox()
    if (!over) throw new Error('the chart has no plotting area')
    const y = over.y + over.height / 2
    await page.mouse.move(over.x + over.width * 0.5, y)
    await page.mouse.down()
    await page.mouse.move(over.x + over.width * 0.7, y, { steps: 5 })
    await page.mouse.up()
    await page.waitForFunction("location.hash.includes('bucket=hour')")
    await page.waitForSelector('body[data-ready="activity"] #series-totals')
    const zoomed = new URLSearchParams(new URL(page.url()).hash.split('?')[1])
    const zoomFrom = Date.parse(zoomed.get('from') ?? '')
    const zoomTo = Date.parse(zoomed.get('to') ?? '')
    expect(zoomFrom).toBeGreaterThan(from.getTime())
    expect(zoomTo).toBeLessThan(to.getTime())
    expect(zoomTo - zoomFrom).toBeLessThan((to.getTime() - from.getTime()) / 3)
  })

  it("A secret's page: its accessors with first and last seen, and its timeline", async () => {
    await page.goto(`${origin}/#/secret/github_token`)
    await page.waitForSelector('body[data-ready="secret"] #accessors')
    const accessors = await page.$$eval('#accessors tbody tr td:first-child', (cells) =>
      cells.map((c) => c.textContent),
    )
    const expected = await sql<{ accessed_by: string }>(
      `SELECT DISTINCT accessed_by FROM public.secret_access_log WHERE secret_name = 'github_token' ORDER BY 1`,
    )
    expect(accessors).toEqual(expected.map((row) => row.accessed_by))
    const timeline = await page.textContent('#timeline')
    expect(timeline).toContain('refusal')
    expect(timeline).toContain('rotation')
    await check(page, 'secret')
  })

  it('Alerts: the burst with its evidence, linked to the activity that caused it', async () => {
    await page.goto(`${origin}/#/alerts?days=2`)
    await page.waitForSelector('body[data-ready="alerts"] #alerts')
    const burst = page.locator('#alerts tbody tr', { hasText: 'failed_access_burst' })
    expect(await burst.count()).toBeGreaterThan(0)
    expect(await burst.first().textContent()).toContain('mcp:rogue')
    await check(page, 'alerts')
    await burst.first().locator('a.cause').click()
    await page.waitForSelector('body[data-ready="activity"] #series-totals')
    const rogue = page.locator('#series-totals tbody tr', { hasText: 'mcp:rogue' })
    expect(await rogue.locator('td').nth(2).textContent()).toBe('12')
  })

  it('Rotation: what is due, the overdue first', async () => {
    await page.goto(`${origin}/#/rotation`)
    await page.waitForSelector('body[data-ready="rotation"] #rotation')
    const first = page.locator('#rotation li').first()
    expect(await first.getAttribute('data-secret')).toBe('do_token')
    expect(await first.textContent()).toContain('overdue by')
    await check(page, 'rotation')
  })

  it('shows new audit events without a reload', async () => {
    await page.goto(`${origin}/#/inventory`)
    await page.waitForSelector('body[data-ready="inventory"]')
    const before = Number(await page.textContent('[data-total="accesses_7d"] .value'))
    await owner.query(`SELECT public.get_secret('openai_api_key', accessed_by => 'mcp:claude')`)
    await expect
      .poll(async () => Number(await page.textContent('[data-total="accesses_7d"] .value')), {
        timeout: 20_000,
      })
      .toBe(before + 1)
    expect(await page.textContent('#live')).toContain('Updated')
  })

  it('Report: the same numbers as the pages, in HTML, PDF and CSV, with the chain verified', async () => {
    await page.goto(`${origin}/#/report`)
    await page.waitForSelector('body[data-ready="report"] #report-form')
    await check(page, 'report')
    const from = new Date(Date.now() - 150 * 86_400_000).toISOString()
    const to = new Date(Date.now() + 60_000).toISOString()
    const html = await (
      await page.request.get(`${origin}/api/report?format=html&from=${from}&to=${to}`)
    ).text()
    bodies.push(html)
    expect(html).toContain('Audit chain verification')
    expect(html).toContain('Intact')
    expect(html).toContain('late by 20 d')
    expect(html).toContain('mcp:rogue')
    const [events] = await sql<{ total: string }>(
      `SELECT sum(event_count)::text AS total FROM public.secret_access_log WHERE created_at >= $1 AND created_at < $2`,
      [from, to],
    )
    expect(html).toContain(
      `<td>Audit events in the period</td><td class="num">${events?.total}</td>`,
    )
    const csv = await (
      await page.request.get(`${origin}/api/report?format=csv&from=${from}&to=${to}`)
    ).text()
    bodies.push(csv)
    expect(csv).toContain('incidents')
    const pdf = await (
      await page.request.get(`${origin}/api/report?format=pdf&from=${from}&to=${to}`)
    ).body()
    const dir = await mkdtemp(join(tmpdir(), 'keywarden-ui-test-'))
    try {
      await writeFile(join(dir, 'r.pdf'), pdf)
      const text = execFileSync('pdftotext', [join(dir, 'r.pdf'), '-'], { encoding: 'utf8' })
      expect(text).toContain('Audit chain verification')
      expect(text).not.toContain(CANARY_VALUE)
      // The report's page in the browser too, for axe and a screenshot.
      const view = await browser.context.newPage()
      await view.goto(`${origin}/api/report?format=html&from=${from}&to=${to}`)
      await check(view, 'report-html')
      await view.close()
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })

  it('keywarden report writes the same report from the command line', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'keywarden-report-test-'))
    try {
      const csv = await runCli(
        [
          'report',
          '--format',
          'csv',
          '--from',
          '2026-01-01',
          '--to',
          new Date(Date.now() + 60_000).toISOString(),
        ],
        { env },
      )
      expect(csv.code).toBe(0)
      expect(csv.stdout).toContain('verification')
      expect(csv.stdout).toContain('canary_token')
      expect(csv.stdout).not.toContain(CANARY_VALUE)
      const pdfPath = join(dir, 'r.pdf')
      const pdf = await runCli(['report', '--format', 'pdf', '-o', pdfPath], { env })
      expect(pdf.code).toBe(0)
      expect(execFileSync('pdftotext', [pdfPath, '-'], { encoding: 'utf8' })).toContain(
        'Keywarden compliance report',
      )
      const missing = await runCli(['report', '--format', 'pdf', '-o', pdfPath], {
        env: { ...env, KEYWARDEN_CHROMIUM: '/nonexistent/chromium' },
      })
      expect(missing.code).toBe(1)
      expect(missing.stderr).toContain('KEYWARDEN_CHROMIUM')
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })

  it('never showed the canary: pages, API answers, reports, the server log', async () => {
    expect(bodies.length).toBeGreaterThan(10)
    for (const body of bodies) expect(body).not.toContain(CANARY_VALUE)
    expect(await page.content()).not.toContain(CANARY_VALUE)
    cli.child.kill('SIGTERM')
    const result = await cli.result
    expect(result.stdout + result.stderr).not.toContain(CANARY_VALUE)
    // The dashboard's own reads are audited as the `ui` door.
    const [ui] = await sql<{ rows: number }>(
      `SELECT count(*)::int AS rows FROM public.secret_access_log WHERE accessed_by = 'ui'`,
    )
    expect(ui?.rows).toBeGreaterThan(0)
  })
})

/** The status of a GET with exactly these headers (fetch would not send its own Host). */
function statusOf(target: string, headers: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    const request = httpGet(target, { headers }, (response) => {
      response.resume()
      resolve(response.statusCode ?? 0)
    })
    request.once('error', reject)
  })
}

/** Runs axe-core on the page (no serious or critical violation) and saves a screenshot. */
async function check(page: Page, view: string): Promise<void> {
  // Evaluated over the DevTools protocol, which the page's CSP does not govern.
  await page.evaluate(AXE_SOURCE)
  const violations = await page.evaluate(async () => {
    const axe = (
      globalThis as unknown as {
        axe: {
          run(): Promise<{ violations: Array<{ id: string; impact: string; nodes: unknown[] }> }>
        }
      }
    ).axe
    const result = await axe.run()
    return result.violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.length }))
  })
  expect(violations.filter((v) => v.impact === 'serious' || v.impact === 'critical')).toEqual([])
  const shot = await page.screenshot({ fullPage: true })
  await writeFile(join(SCREENSHOTS, `${view}.png`), shot)
  if (
    process.env.KEYWARDEN_REFRESH_SCREENSHOTS === '1' &&
    (view === 'inventory' || view === 'activity')
  ) {
    await mkdir(DOC_IMAGES, { recursive: true })
    await writeFile(
      join(DOC_IMAGES, `dashboard-${view}.png`),
      await page.screenshot({ fullPage: false }),
    )
  }
}
