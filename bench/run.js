// `npm run bench`: every benchmark, one after another, each reporting its figure as a ratio
// against a baseline measured in the same run. `npm run bench -- cache-hit` runs one.
const ALL = [
  'drivers',
  'cache-hit',
  'cold-read',
  'batch-read',
  'rotation-propagation',
  'audit-throughput',
  'monitoring',
  'dashboard',
  'scale',
  'cli-help',
  'cli-get',
  'cli-run',
  'redact-stream',
  'mcp-tools-call',
  'edge-plugin',
  'scan',
]
const chosen = process.argv.slice(2).length > 0 ? process.argv.slice(2) : ALL

process.stdout.write(
  `Keywarden benchmarks — ${new Date().toISOString()}, node ${process.version}\n`,
)
let missed = 0
for (const name of chosen) {
  if (!ALL.includes(name))
    throw new Error(`unknown benchmark ${name}; choose from ${ALL.join(', ')}`)
  const { run } = await import(`./${name}.js`)
  const result = await run()
  if (!result.met) missed++
}
process.exitCode = missed > 0 ? 1 : 0
