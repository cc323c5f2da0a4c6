/**
 * The compliance report (`keywarden report`, and the dashboard's Report button) in three
 * formats made from one {@link Report}: an HTML page (self-contained, printable), CSV (one
 * section after another, each with its header row) and PDF (headless Chromium printing that
 * same HTML). Text from the vault (names, accessors, errors) is escaped, never markup.
 * @module
 */
import { spawn } from 'node:child_process'
import { accessSync, constants } from 'node:fs'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { delimiter, join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { KeywardenError } from '@keywarden/core'
import { csvRecord } from '../../format.ts'
import type { Report } from '../data/index.ts'

/** The formats `keywarden report` writes. */
export type ReportFormat = 'html' | 'pdf' | 'csv'

/** HTML's five special characters as references, so vault text is never markup. */
export function escapeHtml(text: unknown): string {
  return String(text ?? '').replace(
    /[&<>"']/g,
    (character) =>
      ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[character] ?? '',
  )
}

/** `3 d 4 h` for a duration in seconds. */
export function duration(seconds: number): string {
  const days = Math.floor(seconds / 86_400)
  const hours = Math.floor((seconds % 86_400) / 3_600)
  if (days > 0) return `${days} d${hours > 0 ? ` ${hours} h` : ''}`
  const minutes = Math.floor((seconds % 3_600) / 60)
  return hours > 0 ? `${hours} h ${minutes} min` : `${minutes} min`
}

const STYLE = `body{font:14px/1.45 system-ui,sans-serif;color:#111;margin:2rem;max-width:70rem}
h1{font-size:1.6rem}h2{font-size:1.2rem;margin-top:2rem;border-bottom:1px solid #999}
table{border-collapse:collapse;width:100%;margin:.5rem 0}th,td{border:1px solid #bbb;padding:.25rem .4rem;text-align:left;vertical-align:top}
th{background:#eee}.late{color:#8a0000;font-weight:600}.ok{color:#0a5a0a}.num{text-align:right}
@media print{body{margin:0}h2{break-after:avoid}tr{break-inside:avoid}}`

type Cell = string | number | boolean | null | undefined

function table(caption: string, headers: string[], rows: Cell[][], empty: string): string {
  if (rows.length === 0) return `<p>${escapeHtml(empty)}</p>`
  const head = headers.map((header) => `<th scope="col">${escapeHtml(header)}</th>`).join('')
  const body = rows
    .map(
      (row) =>
        `<tr>${row.map((cell) => `<td${typeof cell === 'number' ? ' class="num"' : ''}>${escapeHtml(cell ?? '—')}</td>`).join('')}</tr>`,
    )
    .join('\n')
  return `<table><caption class="visually-hidden">${escapeHtml(caption)}</caption><thead><tr>${head}</tr></thead><tbody>${body}</tbody></table>`
}

/** The report as one HTML document (no scripts, no external resources). */
export function renderReport(report: Report): string {
  const v = report.verification
  const chain = v.intact
    ? `<p class="ok">Intact: ${v.rows_checked} rows checked; last row ${escapeHtml(v.last_id)} (hash ${escapeHtml(v.last_hash)}).</p>`
    : `<p class="late">Broken at row ${escapeHtml(v.first_broken_id)} (${escapeHtml(v.reason)}) after ${v.rows_checked} rows.</p>`
  const inventory = report.inventory
  const sections = [
    `<h1>Keywarden compliance report</h1>`,
    `<p>Period ${escapeHtml(report.from)} to ${escapeHtml(report.to)}; generated ${escapeHtml(report.generated_at)}.</p>`,
    `<section aria-labelledby="summary"><h2 id="summary">Summary</h2>`,
    table(
      'Summary',
      ['Measure', 'Value'],
      [
        ['Secrets', inventory.totals.secrets],
        ['Overdue for rotation', inventory.totals.overdue],
        ['Expired', inventory.totals.expired],
        ['Audit events in the period', report.totals.events],
        ['Failed events in the period', report.totals.failures],
        ...report.totals.by_door.map((door): Cell[] => [
          `Events from door ${door.door}`,
          door.events,
        ]),
        ['Alerts raised', report.alerts.length],
        ['Incident runs', report.incidents.length],
      ],
      '',
    ),
    `</section>`,
    `<section aria-labelledby="inventory"><h2 id="inventory">Inventory and rotation policy</h2>`,
    table(
      'Inventory',
      ['Secret', 'Type', 'Risk', 'Version', 'Last rotated', 'Rotation due', 'Standing', 'Expires'],
      inventory.secrets.map((row) => [
        row.name,
        row.type,
        row.risk_level,
        row.version,
        row.last_rotated_at,
        row.rotation_due_at,
        row.rotation_state === 'overdue'
          ? `overdue by ${duration(row.overdue_seconds)}`
          : row.rotation_state.replace('_', ' '),
        row.expires_at,
      ]),
      'No secrets.',
    ),
    `</section>`,
    `<section aria-labelledby="rotations"><h2 id="rotations">Rotation history against policy</h2>`,
    table(
      'Rotation history',
      ['Secret', 'Version', 'Changed', 'Previous change', 'Policy (days)', 'Due', 'Result'],
      report.rotations.map((row) => [
        row.secret_name,
        row.version,
        row.changed_at,
        row.previous_at,
        row.interval_days,
        row.due_at,
        row.on_time === null
          ? 'no policy (by hand)'
          : row.on_time
            ? 'on time'
            : `late by ${duration(row.late_seconds ?? 0)}`,
      ]),
      'No value changed in the period.',
    ),
    `</section>`,
    `<section aria-labelledby="accessors"><h2 id="accessors">Accessors of every secret</h2>`,
    table(
      'Accessors',
      ['Secret', 'Accessor', 'Door', 'First seen', 'Last seen', 'Events', 'Failures', 'Refusals'],
      report.accessors.map((row) => [
        row.secret_name,
        row.accessed_by,
        row.door,
        row.first_seen,
        row.last_seen,
        row.events,
        row.failures,
        row.refusals,
      ]),
      'No access in the period.',
    ),
    `</section>`,
    `<section aria-labelledby="failures"><h2 id="failures">Failed and refused accesses</h2>`,
    table(
      'Failures',
      ['Secret', 'Accessor', 'Type', 'Error', 'Events', 'First', 'Last'],
      report.failures.map((row) => [
        row.secret_name,
        row.accessed_by,
        row.access_type,
        row.error_message,
        row.events,
        row.first_at,
        row.last_at,
      ]),
      'No failed or refused access in the period.',
    ),
    `</section>`,
    `<section aria-labelledby="alerts"><h2 id="alerts">Alerts raised</h2>`,
    table(
      'Alerts',
      ['When', 'Kind', 'Severity', 'Secret', 'Accessor', 'Evidence'],
      report.alerts.map((row) => [
        row.occurred_at,
        row.kind,
        row.severity,
        row.secret_name,
        row.accessed_by,
        JSON.stringify(row.evidence),
      ]),
      'No alert in the period.',
    ),
    `</section>`,
    `<section aria-labelledby="incidents"><h2 id="incidents">Incident runs</h2>`,
    table(
      'Incident runs',
      ['When', 'Secret', 'By', 'Succeeded', 'Error'],
      report.incidents.map((row) => [
        row.at,
        row.secret_name,
        row.accessed_by,
        row.success ? 'yes' : 'no',
        row.error_message,
      ]),
      'No incident run in the period.',
    ),
    `</section>`,
    `<section aria-labelledby="chain"><h2 id="chain">Audit chain verification</h2>${chain}</section>`,
  ]
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Keywarden compliance report ${escapeHtml(report.from.slice(0, 10))} – ${escapeHtml(report.to.slice(0, 10))}</title>
<style>${STYLE}.visually-hidden{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0)}</style></head>
<body><main>
${sections.join('\n')}
</main></body></html>
`
}

/** The report as CSV: one section after another, each a title line, a header and its rows. */
export function reportCsv(report: Report): string {
  const lines: string[] = []
  const section = (title: string, headers: string[], rows: Cell[][]) => {
    lines.push(csvRecord([title]), csvRecord(headers), ...rows.map((row) => csvRecord(row)), '')
  }
  section(
    'summary',
    [
      'from',
      'to',
      'events',
      'failures',
      'secrets',
      'overdue',
      'alerts',
      'incidents',
      'chain_intact',
    ],
    [
      [
        report.from,
        report.to,
        report.totals.events,
        report.totals.failures,
        report.inventory.totals.secrets,
        report.inventory.totals.overdue,
        report.alerts.length,
        report.incidents.length,
        report.verification.intact,
      ],
    ],
  )
  section(
    'inventory',
    [
      'name',
      'type',
      'risk_level',
      'version',
      'last_rotated_at',
      'rotation_due_at',
      'rotation_state',
      'overdue_seconds',
      'expires_at',
    ],
    report.inventory.secrets.map((r) => [
      r.name,
      r.type,
      r.risk_level,
      r.version,
      r.last_rotated_at,
      r.rotation_due_at,
      r.rotation_state,
      r.overdue_seconds,
      r.expires_at,
    ]),
  )
  section(
    'rotations',
    [
      'secret_name',
      'version',
      'changed_at',
      'previous_at',
      'interval_days',
      'due_at',
      'late_seconds',
      'on_time',
    ],
    report.rotations.map((r) => [
      r.secret_name,
      r.version,
      r.changed_at,
      r.previous_at,
      r.interval_days,
      r.due_at,
      r.late_seconds,
      r.on_time,
    ]),
  )
  section(
    'accessors',
    [
      'secret_name',
      'accessed_by',
      'door',
      'first_seen',
      'last_seen',
      'events',
      'failures',
      'refusals',
    ],
    report.accessors.map((r) => [
      r.secret_name,
      r.accessed_by,
      r.door,
      r.first_seen,
      r.last_seen,
      r.events,
      r.failures,
      r.refusals,
    ]),
  )
  section(
    'failures',
    ['secret_name', 'accessed_by', 'access_type', 'error_message', 'events', 'first_at', 'last_at'],
    report.failures.map((r) => [
      r.secret_name,
      r.accessed_by,
      r.access_type,
      r.error_message,
      r.events,
      r.first_at,
      r.last_at,
    ]),
  )
  section(
    'alerts',
    ['occurred_at', 'kind', 'severity', 'secret_name', 'accessed_by', 'evidence'],
    report.alerts.map((r) => [
      r.occurred_at,
      r.kind,
      r.severity,
      r.secret_name,
      r.accessed_by,
      JSON.stringify(r.evidence),
    ]),
  )
  section(
    'incidents',
    ['at', 'secret_name', 'accessed_by', 'success', 'error_message'],
    report.incidents.map((r) => [r.at, r.secret_name, r.accessed_by, r.success, r.error_message]),
  )
  const v = report.verification
  section(
    'verification',
    ['intact', 'rows_checked', 'first_broken_id', 'reason', 'last_id', 'last_hash'],
    [[v.intact, v.rows_checked, v.first_broken_id, v.reason, v.last_id, v.last_hash]],
  )
  return lines.join('\n')
}

/** Names a Chromium or Chrome goes by on PATH, then where installers put it. */
const BROWSER_NAMES = ['chromium', 'chromium-browser', 'google-chrome', 'google-chrome-stable']
const BROWSER_PATHS = [
  '/usr/bin/chromium',
  '/snap/bin/chromium',
  '/Applications/Google Chrome.app/Contents/MacOS/Google Chrome',
  '/Applications/Chromium.app/Contents/MacOS/Chromium',
]

/** Where a Chromium is: `KEYWARDEN_CHROMIUM`, else PATH, else the usual places; or a clear error. */
export function findChromium(env: Record<string, string | undefined> = process.env): string {
  const executable = (path: string) => {
    try {
      accessSync(path, constants.X_OK)
      return true
    } catch {
      return false
    }
  }
  if (env.KEYWARDEN_CHROMIUM) {
    if (executable(env.KEYWARDEN_CHROMIUM)) return env.KEYWARDEN_CHROMIUM
    throw new KeywardenError(
      'CONFIGURATION_ERROR',
      `KEYWARDEN_CHROMIUM (${env.KEYWARDEN_CHROMIUM}) is not an executable`,
    )
  }
  const onPath = (env.PATH ?? '').split(delimiter).filter(Boolean)
  for (const name of BROWSER_NAMES) {
    for (const dir of onPath) if (executable(join(dir, name))) return join(dir, name)
  }
  const found = BROWSER_PATHS.find(executable)
  if (found) return found
  throw new KeywardenError(
    'CONFIGURATION_ERROR',
    'a PDF needs Chromium or Chrome, and none was found: install one (Debian: apt install chromium) or set KEYWARDEN_CHROMIUM to its path; --format html or csv need nothing',
  )
}

/** Flags for a headless print that reaches nothing on the network. */
const PRINT_FLAGS = [
  '--headless',
  '--disable-gpu',
  '--disable-quic',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--no-pdf-header-footer',
]

/**
 * Prints `html` to PDF with headless Chromium (`--print-to-pdf`), from a private temporary
 * folder that is removed afterwards. Root needs `--no-sandbox` (Chromium refuses otherwise).
 */
export async function reportPdf(
  html: string,
  options: { chromium?: string } = {},
): Promise<Buffer> {
  const chromium = options.chromium ?? findChromium()
  const dir = await mkdtemp(join(tmpdir(), 'keywarden-report-'))
  try {
    const page = join(dir, 'report.html')
    const pdf = join(dir, 'report.pdf')
    await writeFile(page, html, { mode: 0o600 })
    const args = [
      ...PRINT_FLAGS,
      ...(process.getuid?.() === 0 ? ['--no-sandbox'] : []),
      `--user-data-dir=${join(dir, 'profile')}`,
      `--print-to-pdf=${pdf}`,
      pathToFileURL(page).href,
    ]
    await new Promise<void>((resolve, reject) => {
      const child = spawn(chromium, args, { stdio: 'ignore' })
      child.once('error', reject)
      child.once('exit', (code) =>
        code === 0
          ? resolve()
          : reject(
              new KeywardenError(
                'INTERNAL',
                `Chromium exited with ${code} while printing the report`,
              ),
            ),
      )
    })
    return await readFile(pdf)
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}
