// Ships the dashboard's page inside the CLI's dist: its own files from src/ui/page, and uPlot's
// built files from the uplot package, so the page needs no CDN (the machine may be offline)
// and the installed CLI no uplot dependency.
import { cpSync, mkdirSync, readdirSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const source = fileURLToPath(new URL('../src/ui/page/', import.meta.url))
const target = fileURLToPath(new URL('../dist/ui/page/', import.meta.url))
const uplot = join(dirname(createRequire(import.meta.url).resolve('uplot/package.json')), 'dist')

mkdirSync(target, { recursive: true })
for (const file of readdirSync(source)) cpSync(join(source, file), join(target, file))
for (const file of ['uPlot.iife.min.js', 'uPlot.min.css'])
  cpSync(join(uplot, file), join(target, file))
// uPlot is MIT: its notice ships with its code.
cpSync(join(uplot, '..', 'LICENSE'), join(target, 'uPlot.LICENSE'))
