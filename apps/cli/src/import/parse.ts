/**
 * Reading secrets out of `.env` files and shell rc files (`.zshrc`, `.bashrc`, `.profile`) for
 * `keywarden import`, and taking the imported lines back out again.
 *
 * An rc file is a shell program, not a list of settings, so this is a small shell lexer rather
 * than a line regex: it understands quotes (also across lines), comments, line continuations,
 * `$(…)`, `${…}` and backticks, here-documents, and the nesting of functions, conditionals,
 * loops and subshells. Only a literal assignment that stands alone at the top level of the file
 * — `export NAME=value` or `NAME=value`, on lines of its own — is offered for import:
 *
 * - inside a function, `if`, loop or subshell it may never run, and taking its line out could
 *   leave an empty body that no longer parses;
 * - a value built from `$VAR`, `$(…)`, backticks or `~` is not the secret itself;
 * - a line shared with other commands cannot be removed without removing them too.
 *
 * Pure: no I/O, so it is tested directly.
 * @module
 */
import { SECRET_NAME_PATTERN, type SecretType, validateSecretValue } from '@keywarden/core'

/**
 * How double-quoted escapes read. In a shell only `\"`, `\\`, `\$`, `` \` `` and a backslash
 * before a newline are escapes (so `"a\nb"` keeps its backslash); `.env` readers (dotenv) also
 * turn `\n`, `\r` and `\t` into the characters, which is how PEM keys are written there.
 */
export type Dialect = 'shell' | 'dotenv'

/** A literal top-level assignment, offered for import. */
export interface Assignment {
  /** The variable, e.g. `GITHUB_TOKEN`. */
  variable: string
  /** The value after quote removal and escapes. */
  value: string
  /** The first line of the statement, from 1. */
  line: number
  /** Its last line: later than `line` when a quoted value spans lines. */
  endLine: number
}

/** An assignment seen but not offered, with the reason (never the value). */
export interface SkippedAssignment {
  variable: string
  line: number
  reason: string
  /** Inside a function, conditional, loop or subshell: it may never run. */
  nested: boolean
}

/** What {@link parseAssignments} found. */
export interface ParsedAssignments {
  /** In file order; a variable assigned twice appears twice. */
  assignments: Assignment[]
  skipped: SkippedAssignment[]
}

// ---------------------------------------------------------------------------------------------
// Lexing
// ---------------------------------------------------------------------------------------------

interface Word {
  kind: 'word'
  /** The source text. */
  raw: string
  /** The word after quote removal; meaningful only when `problem` is undefined. */
  value: string
  /** Why the value is not a literal string, if it is not. */
  problem: string | undefined
  start: number
  end: number
}

interface Operator {
  kind: 'op'
  op: string
  start: number
  end: number
}

interface Newline {
  kind: 'newline'
  start: number
  end: number
}

type Token = Word | Operator | Newline

// Longest first, so `<<-` wins over `<<` and `&&` over `&`.
const OPERATORS = [
  '<<<',
  '<<-',
  '&>>',
  ';;&',
  '<<',
  '>>',
  '&&',
  '||',
  ';;',
  ';&',
  '|&',
  '&>',
  '>&',
  '<&',
  '<>',
  '>|',
  ';',
  '&',
  '|',
  '(',
  ')',
  '<',
  '>',
]
const METACHARACTERS = new Set([' ', '\t', '\n', ';', '&', '|', '(', ')', '<', '>'])
const NAME_START = /[A-Za-z_]/
const NAME_CHAR = /[A-Za-z0-9_]/
// What may follow `$` to make a parameter expansion: a name, a digit or a special parameter.
const PARAMETER_START = /[A-Za-z_0-9@*#?$!-]/

const EXPANSION = 'the value uses a $VAR expansion, so it is not the secret itself'
const SUBSTITUTION = 'the value uses command substitution ($(…) or backticks)'

class Lexer {
  private index = 0
  readonly tokens: Token[] = []
  private readonly heredocs: Array<{ delimiter: string; stripTabs: boolean }> = []

  constructor(
    private readonly text: string,
    private readonly dialect: Dialect,
  ) {}

  run(): Token[] {
    const { text } = this
    // A byte-order mark is not part of the first line's content.
    if (text.startsWith('\uFEFF')) this.index = 1
    while (this.index < text.length) {
      const char = text[this.index] ?? ''
      if (char === ' ' || char === '\t' || char === '\r' || char === '\f' || char === '\v') {
        this.index++
      } else if (char === '\\' && this.isLineContinuation(this.index)) {
        this.index += text[this.index + 1] === '\r' ? 3 : 2
      } else if (char === '\n') {
        this.tokens.push({ kind: 'newline', start: this.index, end: this.index + 1 })
        this.index++
        this.skipHeredocBodies()
      } else if (char === '#') {
        // At a token boundary `#` starts a comment; inside a word it was consumed as a letter.
        while (this.index < text.length && text[this.index] !== '\n') this.index++
      } else if (METACHARACTERS.has(char)) {
        this.readOperator()
      } else {
        this.tokens.push(this.readWord())
      }
    }
    return this.tokens
  }

  private isLineContinuation(at: number): boolean {
    const next = this.text[at + 1]
    return next === '\n' || (next === '\r' && this.text[at + 2] === '\n')
  }

  private readOperator(): void {
    const start = this.index
    const op =
      OPERATORS.find((candidate) => this.text.startsWith(candidate, start)) ??
      this.text[start] ??
      ''
    this.index += op.length
    this.tokens.push({ kind: 'op', op, start, end: this.index })
    if (op === '<<' || op === '<<-') {
      // The next word is the delimiter; the body starts on the next line.
      while (this.text[this.index] === ' ' || this.text[this.index] === '\t') this.index++
      if (this.index < this.text.length && !METACHARACTERS.has(this.text[this.index] ?? '')) {
        const word = this.readWord()
        this.tokens.push(word)
        this.heredocs.push({
          delimiter: word.value.length > 0 ? word.value : word.raw.replace(/['"\\]/g, ''),
          stripTabs: op === '<<-',
        })
      }
    }
  }

  private skipHeredocBodies(): void {
    const { text } = this
    while (this.heredocs.length > 0) {
      const heredoc = this.heredocs.shift()
      if (!heredoc) break
      while (this.index < text.length) {
        const newline = text.indexOf('\n', this.index)
        const lineEnd = newline === -1 ? text.length : newline
        let line = text.slice(this.index, lineEnd).replace(/\r$/, '')
        if (heredoc.stripTabs) line = line.replace(/^\t+/, '')
        this.index = newline === -1 ? text.length : newline + 1
        if (line === heredoc.delimiter) break
      }
    }
  }

  private readWord(): Word {
    const { text } = this
    const start = this.index
    let value = ''
    let problem: string | undefined
    const flag = (reason: string) => {
      problem ??= reason
    }
    while (this.index < text.length) {
      const char = text[this.index] ?? ''
      if (METACHARACTERS.has(char)) break
      if (char === '\r' && (text[this.index + 1] === '\n' || this.index + 1 === text.length)) break
      if (char === '\\' && this.dialect === 'dotenv') {
        // dotenv keeps a backslash outside quotes as it is.
        value += char
        this.index++
      } else if (char === '\\') {
        if (this.isLineContinuation(this.index)) {
          this.index += text[this.index + 1] === '\r' ? 3 : 2
        } else if (this.index + 1 < text.length) {
          value += text[this.index + 1]
          this.index += 2
        } else {
          value += char
          this.index++
        }
      } else if (char === "'") {
        const close = text.indexOf("'", this.index + 1)
        if (close === -1) {
          flag('the quote is never closed')
          this.index = text.length
        } else {
          value += normaliseNewlines(text.slice(this.index + 1, close))
          this.index = close + 1
        }
      } else if (char === '"') {
        value += this.readDoubleQuoted(flag)
      } else if (char === '$') {
        const next = text[this.index + 1] ?? ''
        if (next === "'") {
          flag("the value uses $'…' quoting")
          this.index = this.skipAnsiC(this.index + 2)
        } else if (next === '"') {
          // $"…" is a translatable string: the same as "…" when no catalogue matches.
          this.index++
          value += this.readDoubleQuoted(flag)
        } else {
          const end = this.skipDollar(this.index)
          if (end === this.index + 1) {
            value += '$'
          } else {
            flag(next === '(' ? SUBSTITUTION : EXPANSION)
          }
          this.index = end
        }
      } else if (char === '`') {
        flag(SUBSTITUTION)
        this.index = this.skipBackticks(this.index + 1)
      } else if (char === '=' && text[this.index + 1] === '(' && /^[A-Za-z_]\w*\+?$/.test(value)) {
        // NAME=(a b c) is an array; the parentheses belong to the word.
        value += char
        flag('the value is an array')
        this.index = this.skipBalanced(this.index + 2, '(', ')')
      } else {
        if (char === '~' && (value === '' || value.endsWith('=') || value.endsWith(':'))) {
          flag('the value uses ~ expansion, so it is not the secret itself')
        }
        value += char
        this.index++
      }
    }
    return {
      kind: 'word',
      raw: text.slice(start, this.index),
      value,
      problem,
      start,
      end: this.index,
    }
  }

  // From an opening `"` to after its closing one; returns the value inside.
  private readDoubleQuoted(flag: (reason: string) => void): string {
    const { text } = this
    let value = ''
    this.index++
    while (this.index < text.length) {
      const char = text[this.index] ?? ''
      if (char === '"') {
        this.index++
        return value
      }
      if (char === '\\') {
        const next = text[this.index + 1] ?? ''
        if (this.isLineContinuation(this.index)) {
          this.index += next === '\r' ? 3 : 2
          continue
        }
        const escaped = DOUBLE_QUOTE_ESCAPES[this.dialect][next]
        if (escaped !== undefined) {
          value += escaped
          this.index += 2
        } else {
          value += char
          this.index++
        }
      } else if (char === '$') {
        const end = this.skipDollar(this.index)
        if (end === this.index + 1) value += '$'
        else flag(text[this.index + 1] === '(' ? SUBSTITUTION : EXPANSION)
        this.index = end
      } else if (char === '`') {
        flag(SUBSTITUTION)
        this.index = this.skipBackticks(this.index + 1)
      } else if (char === '\r' && text[this.index + 1] === '\n') {
        // A CRLF file's multi-line value means the same as an LF file's.
        value += '\n'
        this.index += 2
      } else {
        value += char
        this.index++
      }
    }
    flag('the quote is never closed')
    return value
  }

  /** From a `$` to after the expansion it starts; `at + 1` when it starts none (a literal `$`). */
  private skipDollar(at: number): number {
    const { text } = this
    const next = text[at + 1] ?? ''
    if (next === '(') return this.skipBalanced(at + 2, '(', ')')
    if (next === '{') return this.skipBalanced(at + 2, '{', '}')
    if (next === '[') return this.skipBalanced(at + 2, '[', ']') // zsh's old $[ arithmetic ]
    if (NAME_START.test(next)) {
      let end = at + 2
      while (end < text.length && NAME_CHAR.test(text[end] ?? '')) end++
      return end
    }
    if (PARAMETER_START.test(next)) return at + 2
    return at + 1
  }

  // From just inside an opening bracket to after its match, past quotes and nested brackets.
  private skipBalanced(from: number, open: string, close: string): number {
    const { text } = this
    let depth = 1
    let index = from
    while (index < text.length) {
      const char = text[index] ?? ''
      if (char === '\\') index += 2
      else if (char === "'") {
        const end = text.indexOf("'", index + 1)
        index = end === -1 ? text.length : end + 1
      } else if (char === '"') index = this.skipDoubleQuotedRaw(index + 1)
      else if (char === '`') index = this.skipBackticks(index + 1)
      else if (char === '$' && (text[index + 1] === '(' || text[index + 1] === '{')) {
        index = this.skipDollar(index)
      } else {
        if (char === open) depth++
        else if (char === close) depth--
        index++
        if (depth === 0) return index
      }
    }
    return text.length
  }

  private skipDoubleQuotedRaw(from: number): number {
    const { text } = this
    let index = from
    while (index < text.length) {
      const char = text[index]
      if (char === '\\') index += 2
      else if (char === '"') return index + 1
      else if (char === '$' && (text[index + 1] === '(' || text[index + 1] === '{')) {
        index = this.skipDollar(index)
      } else if (char === '`') index = this.skipBackticks(index + 1)
      else index++
    }
    return text.length
  }

  private skipBackticks(from: number): number {
    const { text } = this
    let index = from
    while (index < text.length) {
      if (text[index] === '\\') index += 2
      else if (text[index] === '`') return index + 1
      else index++
    }
    return text.length
  }

  private skipAnsiC(from: number): number {
    const { text } = this
    let index = from
    while (index < text.length) {
      if (text[index] === '\\') index += 2
      else if (text[index] === "'") return index + 1
      else index++
    }
    return text.length
  }
}

const DOUBLE_QUOTE_ESCAPES: Readonly<Record<Dialect, Readonly<Record<string, string>>>> = {
  shell: { '"': '"', '\\': '\\', $: '$', '`': '`' },
  dotenv: { '"': '"', '\\': '\\', $: '$', '`': '`', n: '\n', r: '\r', t: '\t' },
}

function normaliseNewlines(text: string): string {
  return text.includes('\r\n') ? text.replace(/\r\n/g, '\n') : text
}

// ---------------------------------------------------------------------------------------------
// Statements and nesting
// ---------------------------------------------------------------------------------------------

// Separators end a simple command; redirections (`<`, `>>`, `<<`…) do not.
const SEPARATORS = new Set([';', '&', '|', '&&', '||', ';;', ';&', ';;&', '|&', '(', ')'])

// Reserved words that open a block closed by `fi`, `done`, `esac` or `}`.
const OPENERS = new Set(['if', 'while', 'until', 'for', 'select', 'case', '{'])
const CLOSERS = new Set(['fi', 'done', 'esac', '}'])
// Reserved words after which the next word is again in command position.
const PREFIXES = new Set(['then', 'do', 'else', 'elif', '!', 'time', 'coproc'])

interface Statement {
  words: Word[]
  /** Redirections or other operators inside the command. */
  hasRedirection: boolean
  /** Nothing but whitespace before it on its first line. */
  startsLine: boolean
  /** Nothing but `;`, whitespace or a comment after it on its last line. */
  endsLine: boolean
  /** Inside a function, conditional, loop or subshell. */
  nested: boolean
}

function statementsOf(tokens: readonly Token[]): Statement[] {
  const statements: Statement[] = []
  const stack: string[] = []
  let words: Word[] = []
  let hasRedirection = false
  let startsLine = true
  let nestedAtStart = false
  let commandPosition = true

  const finish = (endsLine: boolean) => {
    if (words.length > 0) {
      statements.push({ words, hasRedirection, startsLine, endsLine, nested: nestedAtStart })
    }
    words = []
    hasRedirection = false
    commandPosition = true
  }

  for (let index = 0; index < tokens.length; index++) {
    const token = tokens[index]
    if (!token) continue
    if (token.kind === 'newline') {
      finish(true)
      startsLine = true
      continue
    }
    if (token.kind === 'op') {
      if (SEPARATORS.has(token.op)) {
        const next = tokens[index + 1]
        // `NAME=value;` alone on its line still owns the line.
        finish(token.op === ';' && (next === undefined || next.kind === 'newline'))
        startsLine = false
        if (stack.at(-1) !== 'case') {
          if (token.op === '(') stack.push('(')
          else if (token.op === ')' && stack.length > 0) stack.pop()
        }
      } else {
        hasRedirection = true
      }
      continue
    }
    if (commandPosition && words.length === 0) {
      nestedAtStart = stack.length > 0
    }
    if (commandPosition) {
      const word = token.problem === undefined ? token.raw : ''
      if (OPENERS.has(word)) {
        stack.push(word)
        // After `{`, `if`, `while` and `until` a command follows; after `for x in …` and
        // `case x in` words do, which open nothing.
        commandPosition = word === '{' || word === 'if' || word === 'while' || word === 'until'
        words.push(token)
        if (commandPosition) startFresh()
        continue
      }
      if (CLOSERS.has(word)) {
        stack.pop()
        words.push(token)
        commandPosition = false
        continue
      }
      if (PREFIXES.has(word)) {
        words.push(token)
        startFresh()
        continue
      }
      if (word === 'function') {
        // `function name {` opens its body on the same line, or `{` starts the next one.
        const body = tokens[index + 2]
        words.push(token)
        if (body?.kind === 'word' && body.raw === '{') {
          stack.push('{')
          index += 2
        }
        commandPosition = false
        continue
      }
      commandPosition = false
    }
    words.push(token)
  }
  finish(true)
  return statements

  // A reserved word ended what came before it; the next word starts a command of its own,
  // which counts as sharing its line with the reserved word.
  function startFresh() {
    if (words.length > 0) {
      statements.push({ words, hasRedirection, startsLine, endsLine: false, nested: true })
    }
    words = []
    hasRedirection = false
    startsLine = false
    commandPosition = true
    nestedAtStart = stack.length > 0
  }
}

// ---------------------------------------------------------------------------------------------
// Assignments
// ---------------------------------------------------------------------------------------------

const ASSIGNMENT = /^([A-Za-z_][A-Za-z0-9_]*)(\+?)=/
const BARE_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/
/** Builtins whose arguments are assignments (after their options): `declare -x NAME=value`. */
const DECLARERS = new Set(['export', 'declare', 'typeset', 'readonly'])

/**
 * The assignments in an `.env` or shell rc file: the literal top-level ones that stand on lines
 * of their own in {@link ParsedAssignments.assignments}, the others in `skipped` with why.
 * Commands that assign nothing (aliases, functions, `source`, PATH edits' expansions, …) are
 * ignored.
 */
export function parseAssignments(text: string, dialect: Dialect = 'shell'): ParsedAssignments {
  const tokens = new Lexer(text, dialect).run()
  const lineStarts = lineStartsOf(text)
  const lineAt = (offset: number) => lineNumberAt(lineStarts, offset)
  const assignments: Assignment[] = []
  const skipped: SkippedAssignment[] = []

  for (const statement of statementsOf(tokens)) {
    const [first, ...rest] = statement.words
    if (!first) continue
    const declared = first.problem === undefined && DECLARERS.has(first.raw)
    const options = declared ? rest.findIndex((option) => !option.raw.startsWith('-')) : 0
    const targets = declared ? rest.slice(options === -1 ? rest.length : options) : statement.words
    const word = targets[0]
    const match = word ? ASSIGNMENT.exec(word.raw) : null
    const spaced = word && !match && BARE_NAME.test(word.raw) && targets[1]?.raw.startsWith('=')
    if (word && spaced) {
      // `KEY = value` looks like an assignment but is none, in a shell or a .env file here.
      skipped.push({
        variable: word.raw,
        line: lineAt(first.start),
        reason: `there are spaces around "=" (write ${word.raw}=value)`,
        nested: statement.nested,
      })
      continue
    }
    if (!word || !match) continue
    const variable = match[1] ?? ''
    const line = lineAt(first.start)
    const skip = (reason: string) =>
      skipped.push({ variable, line, reason, nested: statement.nested })

    if (statement.nested) skip('it is inside a function, conditional, loop or subshell')
    else if (targets.length > 1 || statement.hasRedirection) {
      skip('it is not a plain assignment (more words follow it; quote a value with spaces)')
    } else if (!statement.startsLine || !statement.endsLine) {
      skip('it shares its line with other commands')
    } else if (match[2] === '+') skip('it appends (+=) to a value set elsewhere')
    else if (word.problem !== undefined) skip(word.problem)
    else {
      assignments.push({
        variable,
        value: word.value.slice(match[0].length),
        line,
        endLine: lineAt(Math.max(word.end - 1, word.start)),
      })
    }
  }
  return { assignments, skipped }
}

function lineStartsOf(text: string): number[] {
  const starts = [0]
  for (let index = text.indexOf('\n'); index !== -1; index = text.indexOf('\n', index + 1)) {
    starts.push(index + 1)
  }
  return starts
}

// Binary search: the 1-based line holding `offset`.
function lineNumberAt(starts: readonly number[], offset: number): number {
  let low = 0
  let high = starts.length - 1
  while (low < high) {
    const middle = (low + high + 1) >> 1
    if ((starts[middle] ?? 0) <= offset) low = middle
    else high = middle - 1
  }
  return low + 1
}

// ---------------------------------------------------------------------------------------------
// Which assignments are secrets
// ---------------------------------------------------------------------------------------------

/** Whether the file is read as a `.env` file: `.env`, `.env.local`, `prod.env`… */
export function isDotenvFile(path: string): boolean {
  const base = path.split(/[\\/]/).pop() ?? ''
  return base.startsWith('.env') || base.endsWith('.env')
}

// Whole `_`-separated parts of a name that mark a secret…
const SECRET_PARTS = new Set([
  'TOKEN',
  'TOKENS',
  'KEY',
  'KEYS',
  'SECRET',
  'SECRETS',
  'PASSWORD',
  'PASSWD',
  'PASS',
  'PAT',
  'CREDENTIAL',
  'CREDENTIALS',
  'CREDS',
  'AUTH',
  'DSN',
  'API',
  'APIKEY',
])
// …and words that mark one inside a part (PGPASSWORD, GITHUBTOKEN). Short words such as PAT or
// KEY only count whole: as substrings they would catch PATH and MONKEY.
const SECRET_WORDS = /TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL|APIKEY/
// A last part that names where something is, not the secret: SSH_AUTH_SOCK, API_URL, KEY_FILE.
const LOCATION_PARTS = new Set([
  'FILE',
  'PATH',
  'DIR',
  'SOCK',
  'SOCKET',
  'URL',
  'HOST',
  'PORT',
  'BASE',
  'ENDPOINT',
  'REGION',
  'VERSION',
])

/**
 * Whether a shell variable's name says it holds a secret: a part such as TOKEN, KEY, SECRET,
 * PASSWORD, PASS, PAT, CREDENTIAL, AUTH, DSN or API, unless its last part names a location
 * (`SSH_AUTH_SOCK`, `API_URL`). `KEYWARDEN_*` is Keywarden's own configuration, never imported.
 */
export function looksLikeSecret(variable: string): boolean {
  const upper = variable.toUpperCase()
  if (upper.startsWith('KEYWARDEN_')) return false
  const parts = upper.split('_').filter((part) => part.length > 0)
  const last = parts.at(-1)
  if (last === undefined || LOCATION_PARTS.has(last)) return false
  return parts.some((part) => SECRET_PARTS.has(part) || SECRET_WORDS.test(part))
}

/**
 * Values that are secrets whatever their variable is called: a webhook URL whose path is the
 * credential (Slack, Discord, Microsoft Teams), or a URL with a password in it.
 */
const SECRET_VALUES = [
  /^https:\/\/hooks\.slack\.com\/(services|workflows|triggers)\//,
  /^https:\/\/(discord|discordapp)\.com\/api\/webhooks\//,
  /^https:\/\/[^/]+\.webhook\.office\.com\//,
  /^[a-z][a-z0-9+.-]*:\/\/[^/@:\s]*:[^/@\s]+@/i,
]

/** Whether a value is a secret by its shape alone ({@link SECRET_VALUES}). */
export function isSecretValue(value: string): boolean {
  return SECRET_VALUES.some((pattern) => pattern.test(value))
}

/** The secret's name in the vault: the variable in lower case (`GITHUB_TOKEN` → `github_token`). */
export function secretNameFor(variable: string): string {
  return variable.toLowerCase()
}

const GITHUB_TOKEN_VALUE = /^(ghp|gho|ghu|ghs|ghr)_|^github_pat_/

/** A guess at the secret's type from its variable's name and the shape of its value. */
export function guessSecretType(variable: string, value: string): SecretType {
  const upper = variable.toUpperCase()
  if (
    GITHUB_TOKEN_VALUE.test(value) ||
    /^(GITHUB|GH)_(TOKEN|PAT)$/.test(upper) ||
    /(^|_)(GITHUB|GH)_.*(TOKEN|PAT)$/.test(upper)
  ) {
    return 'github_token'
  }
  if (/SERVICE_(ROLE_)?KEY$/.test(upper)) return 'service_key'
  if (/SIGNING_KEY$/.test(upper)) return 'signing_key'
  if (/API_?KEY$/.test(upper)) return 'api_key'
  return 'other'
}

// ---------------------------------------------------------------------------------------------
// Removing lines
// ---------------------------------------------------------------------------------------------

/**
 * `content` without the given lines (numbered from 1), each with its own line ending, and
 * every other byte untouched — CRLF stays CRLF, a missing final newline stays missing.
 */
export function removeLines(content: Uint8Array, lines: ReadonlySet<number>): Uint8Array {
  const kept: Uint8Array[] = []
  let line = 1
  let start = 0
  while (start < content.length) {
    const newline = content.indexOf(0x0a, start)
    const end = newline === -1 ? content.length : newline + 1
    if (!lines.has(line)) kept.push(content.subarray(start, end))
    start = end
    line++
  }
  const result = new Uint8Array(kept.reduce((total, part) => total + part.length, 0))
  let offset = 0
  for (const part of kept) {
    result.set(part, offset)
    offset += part.length
  }
  return result
}

// ---------------------------------------------------------------------------------------------
// Choosing what to import
// ---------------------------------------------------------------------------------------------

/** A secret `keywarden import` will store. */
export interface PlannedSecret {
  /** The vault name, e.g. `github_token`. */
  name: string
  variable: string
  value: string
  type: SecretType
  /** The assignment whose value is imported: the last one, as the shell would end up with. */
  line: number
  endLine: number
  /** Every line to take out with `--remove-from-source`: this and earlier assignments. */
  lines: number[]
}

/** What {@link planImport} decided. */
export interface ImportPlan {
  secrets: PlannedSecret[]
  /** Assignments of secret-looking variables that are not imported, with why. */
  skipped: Array<{ variable: string; line: number; reason: string }>
  /** Variables left alone because their names do not look like secrets (shell files only). */
  notSecrets: string[]
}

/**
 * Decides what to import from a parsed file: in a `.env` file every literal assignment, in a
 * shell file those whose names look like secrets ({@link looksLikeSecret}). `KEYWARDEN_*` never.
 * A variable assigned twice is imported with its last value; a later assignment that is not
 * literal (`export GH_TOKEN=$(gh auth token)`) means the literal one is not what the shell
 * uses, so nothing is imported for it.
 */
export function planImport(parsed: ParsedAssignments, dialect: Dialect): ImportPlan {
  const wanted = (variable: string, value?: string) =>
    dialect === 'dotenv'
      ? !variable.toUpperCase().startsWith('KEYWARDEN_')
      : looksLikeSecret(variable) ||
        (value !== undefined &&
          !variable.toUpperCase().startsWith('KEYWARDEN_') &&
          isSecretValue(value))
  const skipped: ImportPlan['skipped'] = []
  const notSecrets = new Set<string>()
  const byName = new Map<string, Assignment[]>()
  for (const assignment of parsed.assignments) {
    if (!wanted(assignment.variable, assignment.value)) {
      notSecrets.add(assignment.variable)
      continue
    }
    const name = secretNameFor(assignment.variable)
    byName.set(name, [...(byName.get(name) ?? []), assignment])
  }
  for (const skip of parsed.skipped) {
    if (wanted(skip.variable))
      skipped.push({ variable: skip.variable, line: skip.line, reason: skip.reason })
    else notSecrets.add(skip.variable)
  }

  const secrets: PlannedSecret[] = []
  for (const [name, assignments] of byName) {
    const last = assignments.at(-1)
    if (!last) continue
    const overriding = parsed.skipped.find(
      (skip) => !skip.nested && secretNameFor(skip.variable) === name && skip.line > last.line,
    )
    const problem = overriding
      ? `a later assignment on line ${overriding.line} sets it differently (${overriding.reason})`
      : !SECRET_NAME_PATTERN.test(name)
        ? `${name} is not a valid secret name (a-z, 0-9, "_", "." and "-", starting with a letter or digit)`
        : valueProblem(last.value)
    if (problem !== undefined) {
      skipped.push({ variable: last.variable, line: last.line, reason: problem })
      continue
    }
    const lines = assignments.flatMap(({ line, endLine }) =>
      Array.from({ length: endLine - line + 1 }, (_, index) => line + index),
    )
    secrets.push({
      name,
      variable: last.variable,
      value: last.value,
      type: guessSecretType(last.variable, last.value),
      line: last.line,
      endLine: last.endLine,
      lines,
    })
  }
  secrets.sort((a, b) => a.line - b.line)
  skipped.sort((a, b) => a.line - b.line)
  return { secrets, skipped, notSecrets: [...notSecrets].sort() }
}

// The vault's own rules, checked here so that one bad value is a skip rather than a failure
// halfway through an import. Their messages describe a value, never quote it.
function valueProblem(value: string): string | undefined {
  try {
    validateSecretValue(value)
    return undefined
  } catch (error) {
    return error instanceof Error
      ? // "invalid secret value: it is empty" reads "the value is empty".
        error.message.replace(/^invalid secret value: (it )?/, (_, it) =>
          it ? 'the value ' : 'the value: ',
        )
      : 'invalid value'
  }
}
