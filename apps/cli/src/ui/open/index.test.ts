/** The opener never puts the tokened URL on a command line; its redirect file is private. */
import { readFile, stat } from 'node:fs/promises'
import { dirname } from 'node:path'
import { describe, expect, it } from 'vitest'
import { openerCommand, openInBrowser } from './index.ts'

describe('openInBrowser', () => {
  it('hands the opener a 0600 file in a 0700 folder that redirects to the URL', async () => {
    const url = 'http://127.0.0.1:4321/?token=secret-token-abc"<x>'
    // `true` stands in for xdg-open: it is spawned with the file and exits.
    const opened = await openInBrowser(url, { command: ['true', []] })
    try {
      expect(opened.file).not.toContain('secret-token')
      expect((await stat(opened.file)).mode & 0o777).toBe(0o600)
      expect((await stat(dirname(opened.file))).mode & 0o777).toBe(0o700)
      const html = await readFile(opened.file, 'utf8')
      expect(html).toContain('url=http://127.0.0.1:4321/?token=secret-token-abc&quot;&lt;x&gt;')
    } finally {
      await opened.cleanup()
    }
    await expect(stat(opened.file)).rejects.toThrow()
  })

  it('picks the platform opener', () => {
    expect(openerCommand('linux')[0]).toBe('xdg-open')
    expect(openerCommand('darwin')[0]).toBe('open')
    expect(openerCommand('win32')).toEqual(['cmd', ['/c', 'start', '""']])
  })
})
