/**
 * Test-only: Debian's headless Chromium driven by playwright-core, for suites that test pages
 * (the dashboard, the OAuth consent page). Never a downloaded browser: the machine's network is
 * closed, so `.ci/run` installs Debian's `chromium` and this launches it with the flags that
 * keep it from reaching out. In CI a missing browser fails the suite; elsewhere it is skipped.
 */
import { existsSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { BrowserContext } from 'playwright-core'

/** Where Debian installs the browser; `KEYWARDEN_TEST_CHROMIUM` overrides it. */
export const CHROMIUM_PATH = process.env.KEYWARDEN_TEST_CHROMIUM ?? '/usr/bin/chromium'

/** Whether the browser is here. In CI, suites must not skip on its absence: they fail. */
export function chromiumAvailable(): boolean {
  if (existsSync(CHROMIUM_PATH)) return true
  if (process.env.CI === 'true') {
    throw new Error(`CI: Chromium is missing at ${CHROMIUM_PATH} (.ci/run installs it)`)
  }
  return false
}

/** Flags for a closed network: no background requests, no first-run, no component updates. */
const CLOSED_NETWORK_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
]

/** A browser context over a fresh profile directory; `close()` removes both. */
export interface TestBrowser {
  context: BrowserContext
  close: () => Promise<void>
}

/** Launches Debian's Chromium with a fresh `--user-data-dir` and the closed-network flags. */
export async function launchChromium(): Promise<TestBrowser> {
  const { chromium } = await import('playwright-core')
  const profile = await mkdtemp(join(tmpdir(), 'keywarden-chromium-'))
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: CLOSED_NETWORK_FLAGS,
  })
  return {
    context,
    async close() {
      await context.close()
      await rm(profile, { recursive: true, force: true })
    },
  }
}
