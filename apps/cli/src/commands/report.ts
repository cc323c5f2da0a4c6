/**
 * `keywarden report`: the compliance report for a period, as HTML, PDF (headless Chromium
 * printing the same HTML) or CSV; the numbers come from the same SQL as the dashboard's.
 */
import { writeFile } from 'node:fs/promises'
import { UI_DOOR } from '@keywarden/core'
import type { CommandModule } from '../context.ts'
import { UsageError } from '../errors.ts'

export const options: CommandModule['options'] = {
  from: { type: 'string' },
  to: { type: 'string' },
  format: { type: 'string' },
  output: { type: 'string', short: 'o' },
}

export const help = `Usage: keywarden report [--from DATE] [--to DATE] [--format html|pdf|csv] [-o FILE]

The compliance report for a period: the inventory with each secret's rotation history against
its policy (on time, or late by how much), every accessor of every secret, failed and refused
accesses, alerts raised and when, incident runs, and the audit chain's verification. The same
numbers as the dashboard (keywarden ui). Never a value.

Options:
  --from DATE     start of the period, ISO 8601 (default: 30 days before --to)
  --to DATE       end of the period, exclusive (default: now)
  --format F      html (default), pdf (needs Chromium or Chrome; KEYWARDEN_CHROMIUM names one)
                  or csv (one section after another, each with its header row)
  -o, --output F  write to this file (mode 0600) instead of stdout (a PDF needs one)

Examples:
  keywarden report --from 2026-11-01 --to 2026-12-01 --format pdf -o november.pdf
  keywarden report --format csv > last-30-days.csv`

const DAY_MS = 86_400_000

export const run: CommandModule['run'] = async (context, { positionals, values }) => {
  if (positionals.length > 0)
    throw new UsageError('report takes no arguments; see keywarden report --help')
  const format = typeof values.format === 'string' ? values.format : 'html'
  if (format !== 'html' && format !== 'pdf' && format !== 'csv') {
    throw new UsageError('--format is html, pdf or csv; see keywarden report --help')
  }
  const output = typeof values.output === 'string' ? values.output : undefined
  if (format === 'pdf' && output === undefined) {
    throw new UsageError('a PDF goes to a file: add -o FILE; see keywarden report --help')
  }
  const [{ openVaultClient }, data, rendering] = await Promise.all([
    import('../vault.ts'),
    import('../ui/data/index.ts'),
    import('../ui/report/index.ts'),
  ])
  const to = typeof values.to === 'string' ? data.parseTime(values.to, '--to') : new Date()
  const from =
    typeof values.from === 'string'
      ? data.parseTime(values.from, '--from')
      : new Date(to.getTime() - 30 * DAY_MS)
  const client = await openVaultClient(context.env, context.out, { door: UI_DOOR })
  try {
    const content = await data.report(data.dashboardSource(client), { from, to })
    const html = format === 'csv' ? '' : rendering.renderReport(content)
    const body =
      format === 'csv'
        ? rendering.reportCsv(content)
        : format === 'pdf'
          ? await rendering.reportPdf(html)
          : html
    if (output === undefined) {
      context.io.stdout.write(body)
    } else {
      await writeFile(output, body, { mode: 0o600 })
      context.out.note(
        `keywarden: wrote the ${format} report for ${from.toISOString()} to ${to.toISOString()} to ${output}`,
      )
    }
  } finally {
    await client.close({ timeoutMs: 1_000 })
  }
  return 0
}
