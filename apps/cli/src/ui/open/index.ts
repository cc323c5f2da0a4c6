/**
 * Opens the dashboard in the user's browser without putting its one-time token where another
 * local user can read it: a command line is world-readable (`ps`, /proc/PID/cmdline), so the
 * opener (`xdg-open`, `open`, `start`) gets the path of a 0600 file in a 0700 folder that
 * redirects to the tokened URL, never the URL itself — as Jupyter does.
 * @module
 */
import { spawn } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { escapeHtml } from '../report/index.ts'

/** What opened the browser, and how to clean up after it. */
export interface OpenedBrowser {
  /** The redirect file handed to the opener. */
  file: string
  /** Removes the redirect file (once the token was used, it is worthless anyway). */
  cleanup(): Promise<void>
}

/** The opener command for this platform. */
export function openerCommand(platform: NodeJS.Platform = process.platform): [string, string[]] {
  if (platform === 'darwin') return ['open', []]
  // `start` is a cmd built-in; its first quoted argument is the window title.
  if (platform === 'win32') return ['cmd', ['/c', 'start', '""']]
  return ['xdg-open', []]
}

/**
 * Writes the redirect file and hands it to the platform's opener (detached: the browser
 * outlives nothing of ours). A missing opener is not an error: the URL is printed anyway.
 */
export async function openInBrowser(
  url: string,
  options: { command?: [string, string[]] } = {},
): Promise<OpenedBrowser> {
  const dir = await mkdtemp(join(tmpdir(), 'keywarden-ui-'))
  const file = join(dir, 'open.html')
  const target = escapeHtml(url)
  await writeFile(
    file,
    `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta http-equiv="refresh" content="0;url=${target}"><title>Keywarden</title></head><body><a href="${target}">Open the Keywarden dashboard</a></body></html>\n`,
    { mode: 0o600 },
  )
  const [command, args] = options.command ?? openerCommand()
  const child = spawn(command, [...args, file], { detached: true, stdio: 'ignore' })
  child.once('error', () => {})
  child.unref()
  return { file, cleanup: () => rm(dir, { recursive: true, force: true }) }
}
