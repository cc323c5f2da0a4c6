/**
 * The dashboard's local server (`keywarden ui`): a Hono app on 127.0.0.1 only.
 *
 * Who may talk to it: the browser the user opened with the one-time URL. Every other caller —
 * another local user (any of whom can reach a loopback port), a web page in the user's own
 * browser (CSRF, or DNS rebinding with a name that resolves to 127.0.0.1) — is refused:
 *  - the one-time token in the URL is traded, once, for a random session id in an HttpOnly,
 *    SameSite=Strict cookie; a request without that session is 401, the token's second use too;
 *  - the Host header must be the address the server listens on (a rebinding page sends its own
 *    name), and an Origin, when sent, must be the server's own (421 and 403 otherwise);
 *  - no CORS headers at all, a strict Content-Security-Policy (only its own scripts and styles,
 *    no inline code, no framing), `no-store` and no referrer.
 * It never serves a value: the routes read a {@link DashboardSource}, which has no method that
 * reads one. Every route is a GET that changes nothing, so there is nothing for CSRF to trigger.
 * @module
 */
import { randomBytes, timingSafeEqual } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import type { AddressInfo } from 'node:net'
import { serve } from '@hono/node-server'
import { isKeywardenError, type KeywardenError } from '@keywarden/core'
import { type Context, Hono } from 'hono'
import { getCookie, setCookie } from 'hono/cookie'
import { secureHeaders } from 'hono/secure-headers'
import { streamSSE } from 'hono/streaming'
import {
  activity,
  activityQuery,
  alerts,
  type DashboardSource,
  inventory,
  parseTime,
  report,
  rotation,
  secretPage,
} from '../data/index.ts'
import { type ReportFormat, renderReport, reportCsv, reportPdf } from '../report/index.ts'

/** Options for {@link startDashboard}. */
export interface DashboardOptions {
  source: DashboardSource
  /** 0 (default): a free port. */
  port?: number
  /** How often the server looks for new audit rows to push to the page (default 3 s). */
  pollMs?: number
  /** Where the server says what went wrong (never values, never the token). */
  log?: (line: string) => void
  /** The audit accessor of the dashboard itself, whose own reads do not count as news. */
  accessor?: string
}

/** A running dashboard. */
export interface Dashboard {
  /** The address, without the token. */
  origin: string
  /** The one-time URL to open: it carries the token. */
  url: string
  port: number
  close(): Promise<void>
}

/** The session cookie's name. */
export const SESSION_COOKIE = 'keywarden_ui_session'

const CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "font-src 'none'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ')

/** The page's files: the built page folder (`dist/ui/page`), uPlot copied in by the build. */
const PAGE_FILES: Readonly<Record<string, string>> = {
  '/': 'index.html',
  '/assets/app.js': 'app.js',
  '/assets/style.css': 'style.css',
  '/assets/uPlot.iife.min.js': 'uPlot.iife.min.js',
  '/assets/uPlot.min.css': 'uPlot.min.css',
}

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  html: 'text/html; charset=utf-8',
  js: 'text/javascript; charset=utf-8',
  css: 'text/css; charset=utf-8',
}

/** Starts the dashboard on 127.0.0.1; resolves once it listens. */
export async function startDashboard(options: DashboardOptions): Promise<Dashboard> {
  const { source, port = 0, pollMs = 3_000, log = () => {}, accessor = 'ui' } = options
  const token = randomBytes(32).toString('base64url')
  let tokenUsed = false
  const sessions = new Set<string>()
  let origin = ''
  const app = new Hono()

  // Host first: a rebinding page reaches us under its own name, and learns nothing more.
  app.use(async (c, next) => {
    if (c.req.header('host') !== new URL(origin).host) return c.text('wrong host', 421)
    const from = c.req.header('origin')
    if (from !== undefined && from !== origin) return c.text('cross-origin request refused', 403)
    if (c.req.header('sec-fetch-site') === 'cross-site')
      return c.text('cross-site request refused', 403)
    await next()
  })
  app.use(
    secureHeaders({
      contentSecurityPolicy: undefined,
      referrerPolicy: 'no-referrer',
      crossOriginResourcePolicy: 'same-origin',
      crossOriginOpenerPolicy: 'same-origin',
      strictTransportSecurity: false,
    }),
  )
  app.use(async (c, next) => {
    c.header('Content-Security-Policy', CSP)
    c.header('Cache-Control', 'no-store')
    await next()
  })

  // The one-time token: traded for a session, then gone.
  app.use(async (c, next) => {
    const offered = c.req.query('token')
    if (offered !== undefined) {
      if (tokenUsed || !sameSecret(offered, token))
        return c.text('this link was already used or is wrong; run keywarden ui again', 401)
      tokenUsed = true
      const session = randomBytes(32).toString('base64url')
      sessions.add(session)
      setCookie(c, SESSION_COOKIE, session, { httpOnly: true, sameSite: 'Strict', path: '/' })
      return c.redirect('/', 303)
    }
    const session = getCookie(c, SESSION_COOKIE)
    if (session === undefined || !sessions.has(session)) {
      return c.text('no session: open the link keywarden ui printed', 401)
    }
    await next()
  })

  const pageDir = new URL('../page/', import.meta.url)
  for (const [path, file] of Object.entries(PAGE_FILES)) {
    app.get(path, async (c) => {
      const body = await readFile(new URL(file, pageDir))
      const type = CONTENT_TYPES[file.split('.').pop() ?? ''] ?? 'application/octet-stream'
      return c.body(body, 200, { 'Content-Type': type })
    })
  }

  const api = (handler: (c: Context) => Promise<unknown>) => async (c: Context) => {
    try {
      return c.json(await handler(c))
    } catch (error) {
      return errorResponse(c, error, log)
    }
  }
  app.get(
    '/api/inventory',
    api(() => inventory(source)),
  )
  app.get(
    '/api/activity',
    api(async (c) => activity(source, activityQuery(c.req.query()))),
  )
  app.get(
    '/api/secrets/:name',
    api((c) => secretPage(source, c.req.param('name') ?? '')),
  )
  app.get(
    '/api/alerts',
    api(async (c) => {
      const days = Math.min(90, Math.max(1, Number(c.req.query('days') ?? 7) || 7))
      const to = new Date()
      return {
        days,
        alerts: await alerts(source, { from: new Date(to.getTime() - days * 86_400_000), to }),
      }
    }),
  )
  app.get(
    '/api/rotation',
    api(() => rotation(source)),
  )
  app.get('/api/report', async (c) => {
    try {
      const format = (c.req.query('format') ?? 'html') as ReportFormat
      const to = c.req.query('to') ? parseTime(c.req.query('to') ?? '', 'to') : new Date()
      const from = c.req.query('from')
        ? parseTime(c.req.query('from') ?? '', 'from')
        : new Date(to.getTime() - 30 * 86_400_000)
      const content = await report(source, { from, to })
      const name = `keywarden-report-${from.toISOString().slice(0, 10)}-${to.toISOString().slice(0, 10)}`
      if (format === 'csv') {
        return c.body(reportCsv(content), 200, {
          'Content-Type': 'text/csv; charset=utf-8',
          'Content-Disposition': `attachment; filename="${name}.csv"`,
        })
      }
      if (format === 'pdf') {
        const pdf = await reportPdf(renderReport(content))
        return c.body(new Uint8Array(pdf), 200, {
          'Content-Type': 'application/pdf',
          'Content-Disposition': `attachment; filename="${name}.pdf"`,
        })
      }
      return c.html(renderReport(content))
    } catch (error) {
      return errorResponse(c, error, log)
    }
  })

  // Live: the audit log has no NOTIFY (only secret changes do), so the server looks for rows
  // newer than the last it saw, one indexed query every pollMs, and pushes their id; the page
  // reloads its view. Its own reads (the `ui` accessor) are not news, or it would loop.
  app.get('/api/events', (c) =>
    streamSSE(c, async (stream) => {
      let last = await latestForeignId(source, accessor)
      await stream.writeSSE({ event: 'hello', data: String(last) })
      while (!stream.aborted && !stream.closed) {
        await stream.sleep(pollMs)
        try {
          const latest = await latestForeignId(source, accessor)
          if (latest > last) {
            last = latest
            await stream.writeSSE({ event: 'audit', data: String(latest) })
          }
        } catch (error) {
          log(`live updates: ${describe(error)}`)
        }
      }
    }),
  )

  const server = await new Promise<ReturnType<typeof serve>>((resolve, reject) => {
    const started = serve({ fetch: app.fetch, port, hostname: '127.0.0.1' }, () => resolve(started))
    started.once('error', reject)
  })
  const address = server.address() as AddressInfo
  origin = `http://127.0.0.1:${address.port}`
  return {
    origin,
    url: `${origin}/?token=${token}`,
    port: address.port,
    close: () =>
      new Promise<void>((resolve) => {
        ;(server as { closeAllConnections?: () => void }).closeAllConnections?.()
        server.close(() => resolve())
      }),
  }
}

/** The newest audit row id written by someone other than the dashboard (0 for none). */
async function latestForeignId(source: DashboardSource, accessor: string): Promise<number> {
  const rows = await source.queryAudit({ limit: 50 })
  return rows.find((row) => row.accessedBy !== accessor)?.id ?? 0
}

/** A constant-time compare that does not depend on the expected token's content. */
function sameSecret(offered: string, expected: string): boolean {
  const a = Buffer.from(offered)
  const b = Buffer.from(expected)
  return a.length === b.length && timingSafeEqual(a, b)
}

const STATUS: Readonly<Record<string, number>> = {
  INVALID_ARGUMENT: 400,
  INVALID_NAME: 400,
  SECRET_NOT_FOUND: 404,
  ACCESS_DENIED: 403,
  VAULT_UNAVAILABLE: 503,
}

/** `{ error: { code, message } }`: a KeywardenError's code and message (never a value), else 500. */
function errorResponse(c: Context, error: unknown, log: (line: string) => void) {
  if (isKeywardenError(error)) {
    const known = error as KeywardenError
    const status = STATUS[known.code] ?? 500
    if (status === 500) log(`${known.code}: ${known.message}`)
    return c.json({ error: { code: known.code, message: known.message } }, status as 400 | 500)
  }
  log(`internal error: ${describe(error)}`)
  return c.json({ error: { code: 'INTERNAL', message: 'internal error' } }, 500)
}

function describe(error: unknown): string {
  return isKeywardenError(error)
    ? `${error.code}: ${error.message}`
    : error instanceof Error
      ? error.name
      : 'error'
}
