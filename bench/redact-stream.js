// The streaming redactor (every encoding, across chunk splits) against a plain copy of the
// same chunks through String.prototype.replaceAll of each raw value, in the same run: what
// masking `keywarden run`'s and run_command's output, and an http_request body, costs.
// Target: at most 60× the raw-value replaceAll, as a ratio because this shared machine's load
// moves both sides together (≈ 10 MB/s here: a child writing faster than that is rare; the cost
// is per character, so it is the same for any output size).
import { randomBytes } from 'node:crypto'
import { compileRedaction } from '@keywarden/core'
import { median, report } from './lib.js'

const MIB = 1024 * 1024
const CHUNK = 64 * 1024

// Log-like text with JSON, URLs, escapes and hex, about 4 MiB, and a few values inside.
function sampleText(secrets) {
  const lines = []
  let size = 0
  for (let i = 0; size < 4 * MIB; i++) {
    const value = secrets[i % secrets.length].value
    const line =
      i % 50 === 0
        ? `GET /api?token=${encodeURIComponent(value)} {"auth":"Basic ${Buffer.from(`u:${value}`).toString('base64')}"}`
        : `${new Date(1_700_000_000_000 + i).toISOString()} info request ${i} {"path":"\\/v1\\/items","id":"${randomBytes(8).toString('hex')}"} &amp; done`
    lines.push(line)
    size += line.length + 1
  }
  return `${lines.join('\n')}\n`
}

// MB/s of `work` over `text`, one round.
function rate(text, work) {
  const start = process.hrtime.bigint()
  if (work(text) === 0) throw new Error('nothing out')
  return text.length / MIB / (Number(process.hrtime.bigint() - start) / 1e9)
}

// The sides alternate round by round, so a machine shared with other work slows them alike.
function interleaved(sides, rounds = 11) {
  const samples = sides.map(() => [])
  for (let round = 0; round < rounds; round++) {
    for (const [i, [text, work]] of sides.entries()) samples[i].push(rate(text, work))
  }
  return samples.map((rates) => median(rates.slice(1)))
}

export async function run() {
  const secrets = Array.from({ length: 10 }, (_, i) => ({
    name: `secret_${i}`,
    value: `tok_${randomBytes(18).toString('base64url')}`,
  }))
  const text = sampleText(secrets)
  const redaction = compileRedaction(secrets)
  const stream = (whole) => {
    const masker = redaction.stream()
    let length = 0
    for (let at = 0; at < whole.length; at += CHUNK) {
      length += masker.push(whole.slice(at, at + CHUNK)).length
    }
    return length + masker.flush().length
  }
  const copy = (whole) => {
    let length = 0
    for (let at = 0; at < whole.length; at += CHUNK) {
      let chunk = whole.slice(at, at + CHUNK)
      for (const { name, value } of secrets) chunk = chunk.replaceAll(value, `[REDACTED:${name}]`)
      length += chunk.length
    }
    return length
  }
  const [streamed, copied, whole] = interleaved([
    [text, stream],
    [text, copy],
    [text.slice(0, MIB), (body) => redaction.redact(body).length],
  ])
  report({
    name: 'redact, one 1 MiB body (http_request)',
    value: `${whole.toFixed(1)} MB/s`,
    baseline: `replaceAll of raw values ${copied.toFixed(0)} MB/s`,
    ratio: `${(copied / whole).toFixed(0)}× slower`,
    target: '≤ 60× slower',
    met: copied / whole <= 60,
  })
  return report({
    name: 'stream redactor, 10 secrets, 64 KiB chunks',
    value: `${streamed.toFixed(1)} MB/s`,
    baseline: `replaceAll of raw values ${copied.toFixed(0)} MB/s`,
    ratio: `${(copied / streamed).toFixed(0)}× slower`,
    target: '≤ 60× slower',
    met: copied / streamed <= 60,
  })
}
