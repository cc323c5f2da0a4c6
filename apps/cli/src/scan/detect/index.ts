/**
 * Finding secrets in a file's text with secretlint: its recommended preset (GitHub, OpenAI,
 * Anthropic, AWS, Slack, Stripe, npm, GCP, private keys, connection strings, …) plus
 * Keywarden's rules for what the preset lacks (`../rules/`). secretlint is imported only when a
 * detector is created, so no other command pays for loading it.
 */
import type { SecretLintCoreConfig } from '@secretlint/types'
import { KEYWARDEN_RULES } from '../rules/index.ts'

/** One secret found in a text. `value` stays in this process: nothing prints it. */
export interface Detection {
  /** Offsets in the text (UTF-16 code units, as `String.prototype.slice` takes them). */
  start: number
  end: number
  /** 1-based line and column of `start`. */
  line: number
  column: number
  /** What was found, `<rule>/<message id>`: `github/GITHUB_TOKEN`, `supabase/SUPABASE_SECRET_KEY`. */
  kind: string
  value: string
}

/** Finds secrets in texts; one per scan, reused for every file. */
export interface Detector {
  detect(filePath: string, content: string): Promise<Detection[]>
}

/** Loads secretlint and its rules, and returns a detector over them. */
export async function createDetector(): Promise<Detector> {
  const [{ lintSource }, { creator: recommended }, { secretLintProfiler }] = await Promise.all([
    import('@secretlint/core'),
    import('@secretlint/secretlint-rule-preset-recommend'),
    import('@secretlint/profiler'),
  ])
  // On by default, it keeps a performance mark per rule per file forever: thousands of files
  // fill Node's mark buffer (a warning on stderr) and cost time for numbers nobody reads.
  secretLintProfiler.setEnabled(false)
  const config: SecretLintCoreConfig = {
    rules: [
      { id: '@secretlint/secretlint-rule-preset-recommend', rule: recommended },
      ...KEYWARDEN_RULES.map((rule) => ({ id: rule.meta.id, rule })),
    ],
  }
  return {
    async detect(filePath, content) {
      const result = await lintSource({
        source: { filePath, content, contentType: 'text' },
        // Not masked: the data locates the value exactly (see corrected). The messages, which
        // quote the value, are never shown; only rule, message id and range leave here.
        options: { config, maskSecrets: false },
      })
      const found = result.messages.map((message) => {
        const [start, end] = corrected(content, message.data, message.range)
        return {
          start,
          end,
          line: message.loc.start.line,
          column: message.loc.start.column + 1,
          kind: `${shortRuleName(message.ruleId)}/${message.messageId}`,
          value: content.slice(start, end),
        }
      })
      return withoutNested(found)
    },
  }
}

/**
 * The range of the value itself. Some of secretlint's rules report a value matched by a group
 * of a longer pattern (`_authToken=VALUE`, `AWS_SECRET_ACCESS_KEY=VALUE`) with the group's
 * length but from where the whole match starts; the value they found is in the message's
 * data, so it is looked for there, on the same line. And a pattern ending in a permissive
 * class (a connection string's database name) can run past the quote that closes the value.
 */
function corrected(
  content: string,
  data: unknown,
  [start, end]: readonly [number, number],
): [number, number] {
  const reported = content.slice(start, end)
  const found = typeof data === 'object' && data !== null ? Object.values(data) : []
  const value = found.find((v): v is string => typeof v === 'string' && v.length === end - start)
  if (value !== undefined && value !== reported) {
    const at = content.indexOf(value, start)
    const lineEnd = content.indexOf('\n', start)
    if (at !== -1 && (lineEnd === -1 || at < lineEnd)) return [at, at + value.length]
  }
  const quote = content.charAt(start - 1)
  if (quote === '"' || quote === "'") {
    const closing = content.indexOf(quote, start)
    if (closing !== -1 && closing < end) return [start, closing]
  }
  return [start, end]
}

/** `@secretlint/secretlint-rule-github` → `github`. */
function shortRuleName(ruleId: string): string {
  return ruleId.replace(/^@[^/]+\//, '').replace(/^secretlint-rule-/, '')
}

/**
 * One finding per place: two rules reporting the same range (a connection string is also
 * basic auth) or one range inside another (a token inside a URL with credentials) are the same
 * secret, kept once as the widest, which is what moving it would take out.
 */
function withoutNested(found: Detection[]): Detection[] {
  const sorted = [...found].sort((a, b) => a.start - b.start || b.end - a.end)
  const kept: Detection[] = []
  for (const detection of sorted) {
    const outer = kept.at(-1)
    if (outer && detection.start >= outer.start && detection.end <= outer.end) continue
    kept.push(detection)
  }
  return kept
}
