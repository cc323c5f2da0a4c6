import { cpSync, mkdtempSync, rmSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { OpenAPIHono } from '@hono/zod-openapi'
import { afterAll, describe, expect, it } from 'vitest'
import { namedSchema } from './index.ts'

const copies = mkdtempSync(join(tmpdir(), 'kw-zod-copy-'))
afterAll(() => rmSync(copies, { recursive: true, force: true }))

/** A second copy of zod, as npm installs one when packages cannot share it. */
async function secondZod(): Promise<typeof import('zod')> {
  const source = dirname(createRequire(import.meta.url).resolve('zod/package.json'))
  const target = join(copies, 'zod')
  cpSync(source, target, {
    recursive: true,
    filter: (path) => !/[/\\]src$|\.d\.c?ts$|\.cjs$/.test(path),
  })
  return import(pathToFileURL(join(target, 'index.js')).href)
}

describe('namedSchema', () => {
  it('names a schema from another copy of zod, which has no .openapi()', async () => {
    const other = await secondZod()
    const foreign = other.z.object({ name: other.z.string(), version: other.z.number().int() })
    expect('openapi' in foreign).toBe(false)
    const schema = namedSchema(foreign, 'Foreign')

    const app = new OpenAPIHono()
    app.openAPIRegistry.register('Foreign', schema)
    const document = app.getOpenAPI31Document({
      openapi: '3.1.0',
      info: { title: 't', version: '1' },
    })
    expect(document.components?.schemas?.Foreign).toMatchObject({
      type: 'object',
      properties: { name: { type: 'string' }, version: { type: 'integer' } },
      required: ['name', 'version'],
    })
    expect(schema.parse({ name: 'a', version: 1 })).toEqual({ name: 'a', version: 1 })
  })
})
