import { createServer } from 'node:http'
import { describe, expect, it } from 'vitest'
import { chromiumAvailable, launchChromium } from './chromium.ts'

describe.runIf(chromiumAvailable())('launchChromium', () => {
  it('renders a page served on localhost, offline', async () => {
    const server = createServer((_req, res) => {
      res.setHeader('content-type', 'text/html')
      res.end('<!doctype html><title>t</title><p id="x">rendered</p>')
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const address = server.address()
    if (address === null || typeof address === 'string') throw new Error('no port')
    const browser = await launchChromium()
    try {
      const page = await browser.context.newPage()
      await page.goto(`http://127.0.0.1:${address.port}/`)
      expect(await page.textContent('#x')).toBe('rendered')
    } finally {
      await browser.close()
      server.close()
    }
  }, 60_000)
})
