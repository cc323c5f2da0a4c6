/**
 * `keywarden ui`: the local dashboard (inventory, activity, a secret's page, alerts, rotation,
 * the compliance report) on 127.0.0.1, opened in the browser with a one-time link. Audited as
 * the `ui` door; it never shows a value. The server (Hono) is imported only when this runs.
 */
import { UI_DOOR } from '@keywarden/core'
import type { CommandModule } from '../context.ts'
import { UsageError } from '../errors.ts'

export const options: CommandModule['options'] = {
  port: { type: 'string' },
  'no-open': { type: 'boolean' },
}

export const help = `Usage: keywarden ui [--port N] [--no-open]

Serves the dashboard on 127.0.0.1 and opens it in your browser: every secret with its policy
and rotation standing, audit activity over time (by door, accessor or secret, failures marked),
each secret's timeline and accessors, alerts with the activity behind them, what is due for
rotation, and the compliance report (HTML, PDF, CSV). It never shows a value.

The link it prints works once: it carries a one-time token that becomes a session cookie of
the browser that opened it. Other local users and other web sites cannot use the dashboard.
It runs until you stop it (Ctrl-C).

Options:
  --port N    listen on this port (default: a free one)
  --no-open   print the link, do not open a browser

Examples:
  keywarden ui
  keywarden ui --port 8700 --no-open`

export const run: CommandModule['run'] = async (context, { positionals, values }) => {
  if (positionals.length > 0) throw new UsageError('ui takes no arguments; see keywarden ui --help')
  const port = values.port === undefined ? 0 : Number(values.port)
  if (!Number.isInteger(port) || port < 0 || port > 65_535) {
    throw new UsageError('--port takes a port number from 0 to 65535; see keywarden ui --help')
  }
  const [{ openVaultClient }, { dashboardSource }, { startDashboard }, { openInBrowser }] =
    await Promise.all([
      import('../vault.ts'),
      import('../ui/data/index.ts'),
      import('../ui/server/index.ts'),
      import('../ui/open/index.ts'),
    ])
  const client = await openVaultClient(context.env, context.out, { door: UI_DOOR })
  const stderr = (line: string) => context.io.stderr.write(`keywarden ui: ${line}\n`)
  try {
    const dashboard = await startDashboard({
      source: dashboardSource(client),
      port,
      log: stderr,
      accessor: UI_DOOR,
    })
    const opened = values['no-open'] === true ? undefined : await openInBrowser(dashboard.url)
    context.out.line(`Keywarden dashboard: ${dashboard.url}`)
    context.out.line('The link works once. Stop with Ctrl-C.')
    await stopSignal()
    await dashboard.close()
    await opened?.cleanup()
  } finally {
    await client.close({ timeoutMs: 1_000 })
  }
  return 0
}

/** Resolves on the first SIGINT or SIGTERM. */
function stopSignal(): Promise<void> {
  return new Promise((resolve) => {
    const stop = () => {
      process.off('SIGINT', stop)
      process.off('SIGTERM', stop)
      resolve()
    }
    process.on('SIGINT', stop)
    process.on('SIGTERM', stop)
  })
}
