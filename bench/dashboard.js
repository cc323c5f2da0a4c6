// `keywarden ui`'s first render over 1,000,000 audit rows (bench/monitoring.js's seeding): the
// built CLI serves the dashboard over a fresh PostgreSQL database, Debian's headless Chromium
// (playwright-core) opens it, and each sample is a navigation until the view has rendered
// (`body[data-ready]`). Baseline, in the same run and the same browser: a static page with the
// same scripts and styles (uPlot included) from a plain node:http server, so the ratio is what
// the data costs. Views: the Inventory (listing, secret_metrics, 7 days of accessors) and the
// Activity chart (7 days of hours by door, audit_activity). Target: under 1 s each.
// Needs the CLI built (`npm run build`) and /usr/bin/chromium (KEYWARDEN_TEST_CHROMIUM).
import { spawn } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import { createServer } from 'node:http'
import { fileURLToPath } from 'node:url'
import pg from 'pg'
import { chromium } from 'playwright-core'
import { benchDatabase, formatNs, median, report, sample } from './lib.js'
import { seedLargeAuditLog } from './monitoring.js'

const CLI = fileURLToPath(new URL('../apps/cli/dist/bin.js', import.meta.url))
const PAGE = new URL('../apps/cli/dist/ui/page/', import.meta.url)
const CHROMIUM = process.env.KEYWARDEN_TEST_CHROMIUM ?? '/usr/bin/chromium'
const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking']
const TARGET_NS = 1e9

/** Serves the page's static files, with an empty view that is "ready" once the scripts ran. */
async function staticServer() {
  const files = {
    '/': ['text/html', await staticPage()],
    '/assets/style.css': ['text/css', await readFile(new URL('style.css', PAGE))],
    '/assets/uPlot.min.css': ['text/css', await readFile(new URL('uPlot.min.css', PAGE))],
    '/assets/uPlot.iife.min.js': [
      'text/javascript',
      await readFile(new URL('uPlot.iife.min.js', PAGE)),
    ],
    '/assets/ready.js': ['text/javascript', "document.body.dataset.ready = 'static'"],
  }
  const server = createServer((request, response) => {
    const file = files[request.url ?? '/']
    if (!file) return response.writeHead(404).end()
    response.writeHead(200, { 'Content-Type': file[0], 'Cache-Control': 'no-store' }).end(file[1])
  })
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  return { url: `http://127.0.0.1:${server.address().port}/`, close: () => server.close() }
}

/** The dashboard's own index.html with app.js swapped for a script that only marks ready. */
async function staticPage() {
  const html = await readFile(new URL('index.html', PAGE), 'utf8')
  return html.replace('/assets/app.js', '/assets/ready.js')
}

/** Starts `keywarden ui --no-open`; resolves with its one-time URL and a stop function. */
function startDashboard(env) {
  const child = spawn(process.execPath, [CLI, 'ui', '--no-open'], {
    env,
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  return new Promise((resolve, reject) => {
    let out = ''
    child.stdout.setEncoding('utf8').on('data', (chunk) => {
      out += chunk
      const url = /http:\/\/127\.0\.0\.1:\d+\/\?token=[\w-]+/.exec(out)?.[0]
      if (url) resolve({ url, stop: () => child.kill('SIGTERM') })
    })
    child.once('exit', (code) => reject(new Error(`keywarden ui exited with ${code}`)))
  })
}

export async function run() {
  const db = await benchDatabase()
  const client = new pg.Client({ connectionString: db.url })
  await client.connect()
  const statics = await staticServer()
  let dashboard
  let browser
  try {
    await seedLargeAuditLog(client, db.rootKey)
    // The table as it is after autovacuum: the visibility map set (index-only scans).
    await client.query('VACUUM ANALYZE public.secret_access_log')
    dashboard = await startDashboard({
      PATH: process.env.PATH,
      KEYWARDEN_DATABASE_URL: db.url,
      KEYWARDEN_ROOT_KEY: db.rootKey,
    })
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: FLAGS })
    const context = await browser.newContext()
    const page = await context.newPage()
    await page.goto(dashboard.url) // spends the token, sets the session cookie
    await page.waitForSelector('body[data-ready="inventory"]')
    const origin = new URL(dashboard.url).origin

    const render = (url, ready) => async () => {
      await page.goto('about:blank')
      await page.goto(url)
      await page.waitForSelector(`body[data-ready="${ready}"]`)
    }
    const timeOf = async (url, ready) =>
      median(await sample(render(url, ready), { iterations: 7, warmup: 1 }))
    const baseline = await timeOf(statics.url, 'static')
    const inventory = await timeOf(`${origin}/#/inventory`, 'inventory')
    const activity = await timeOf(`${origin}/#/activity`, 'activity')
    report({
      name: 'dashboard first render (Inventory) over 1M audit rows',
      value: formatNs(inventory),
      baseline: `static page, same scripts ${formatNs(baseline)}`,
      ratio: `${(inventory / baseline).toFixed(2)}×`,
      target: '< 1 s',
      met: inventory < TARGET_NS,
    })
    return report({
      name: 'dashboard first render (Activity, 7 days of hours by door) over 1M audit rows',
      value: formatNs(activity),
      baseline: `static page, same scripts ${formatNs(baseline)}`,
      ratio: `${(activity / baseline).toFixed(2)}×`,
      target: '< 1 s',
      met: activity < TARGET_NS && inventory < TARGET_NS,
    })
  } finally {
    await browser?.close()
    dashboard?.stop()
    statics.close()
    await client.end()
    await db.drop()
  }
}
