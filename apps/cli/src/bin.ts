#!/usr/bin/env node
import { main } from './main.ts'

// node-postgres probes for Cloudflare Workers when it loads: where there is no `navigator`
// (Node 20) it constructs a `Response`, which loads Node's whole fetch implementation (undici)
// into every command on the postgres store, 20-100 ms of a `keywarden run`. Node 21 and later
// define `navigator.userAgent`; Node 20 gets the same answer here, before pg is imported.
const runtime = globalThis as { navigator?: unknown }
if (runtime.navigator === undefined) {
  Object.defineProperty(globalThis, 'navigator', {
    value: { userAgent: `Node.js/${process.versions.node.split('.')[0]}` },
    configurable: true,
    writable: true,
  })
}

process.exitCode = await main(process.argv.slice(2), {
  stdin: process.stdin,
  stdout: process.stdout,
  stderr: process.stderr,
  env: process.env,
})
