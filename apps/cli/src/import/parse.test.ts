import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  guessSecretType,
  isDotenvFile,
  looksLikeSecret,
  parseAssignments,
  planImport,
  removeLines,
} from './parse.ts'

const values = (text: string, dialect: 'shell' | 'dotenv' = 'shell') =>
  Object.fromEntries(
    parseAssignments(text, dialect).assignments.map(({ variable, value }) => [variable, value]),
  )
const reasons = (text: string) =>
  Object.fromEntries(
    parseAssignments(text).skipped.map(({ variable, reason }) => [variable, reason]),
  )

describe('parseAssignments', () => {
  it('reads export and bare assignments, quoted and not', () => {
    const text = [
      'export A=plain',
      'B=bare',
      'export C="double \\"quoted\\" \\\\ \\$HOME \\` value"',
      'D=\'single \\n $HOME "x"\'',
      '  export E=indented',
      'F=',
      "G='it'\\''s'",
      'H="con"\'cat\'enated',
      'I=a#b',
    ].join('\n')
    expect(values(text)).toEqual({
      A: 'plain',
      B: 'bare',
      C: 'double "quoted" \\ $HOME ` value',
      D: 'single \\n $HOME "x"',
      E: 'indented',
      F: '',
      G: "it's",
      H: 'concatenated',
      I: 'a#b',
    })
  })

  it('skips comments and blank lines, and strips trailing comments after a value', () => {
    const text = '# export A=commented\n\n   \nexport B=value # trailing\nC="x # kept" # gone\n'
    expect(values(text)).toEqual({ B: 'value', C: 'x # kept' })
  })

  it('reads \\n in double quotes as a newline in .env files only, as dotenv and shells do', () => {
    expect(values('KEY="a\\nb"', 'dotenv')).toEqual({ KEY: 'a\nb' })
    expect(values('KEY="a\\nb"', 'shell')).toEqual({ KEY: 'a\\nb' })
    expect(values('KEY=a\\b', 'dotenv')).toEqual({ KEY: 'a\\b' })
    expect(values('KEY=a\\b', 'shell')).toEqual({ KEY: 'ab' })
  })

  it('numbers lines, also for values that span lines and in CRLF files', () => {
    const text = '# top\r\nexport ONE=1\r\nPEM="-----BEGIN-----\r\nabc\r\n-----END-----"\r\nTWO=2'
    const { assignments } = parseAssignments(text, 'dotenv')
    expect(assignments).toEqual([
      { variable: 'ONE', value: '1', line: 2, endLine: 2 },
      { variable: 'PEM', value: '-----BEGIN-----\nabc\n-----END-----', line: 3, endLine: 5 },
      { variable: 'TWO', value: '2', line: 6, endLine: 6 },
    ])
  })

  it('joins continued lines', () => {
    expect(parseAssignments('export KEY=abc\\\ndef\nX=1').assignments[0]).toEqual({
      variable: 'KEY',
      value: 'abcdef',
      line: 1,
      endLine: 2,
    })
  })

  it('skips values that are expansions or command substitutions, and says so', () => {
    const text = [
      'export PATH="$HOME/bin:$PATH"',
      'export GH_TOKEN=$(gh auth token)',
      'export OLD_TOKEN=`cat ~/.token`',
      // biome-ignore lint/suspicious/noTemplateCurlyInString: shell syntax, not a template
      'export BRACED_TOKEN="${OTHER}x"',
      'export TILDE_KEY=~/key',
      "export ANSI_TOKEN=$'a\\tb'",
      'LIST=(a b)',
      'export DOLLAR=a$',
    ].join('\n')
    expect(values(text)).toEqual({ DOLLAR: 'a$' })
    expect(reasons(text)).toEqual({
      PATH: expect.stringMatching(/\$VAR expansion/),
      GH_TOKEN: expect.stringMatching(/command substitution/),
      OLD_TOKEN: expect.stringMatching(/command substitution/),
      BRACED_TOKEN: expect.stringMatching(/\$VAR expansion/),
      TILDE_KEY: expect.stringMatching(/~ expansion/),
      ANSI_TOKEN: expect.stringMatching(/\$'/),
      LIST: expect.stringMatching(/array/),
    })
    expect(reasons('PATH+=:/opt/bin')).toEqual({ PATH: expect.stringMatching(/appends/) })
  })

  it('ignores aliases, functions, conditionals, loops, subshells and here-documents', () => {
    const text = [
      "alias gs='git status'",
      "alias multi='echo one",
      "export ALIASED_TOKEN=not-an-assignment'",
      'greet() {',
      '  export FUNC_TOKEN=in-a-function',
      '  if true; then',
      '    echo "}"',
      '  fi',
      '}',
      'function other {',
      '  NESTED_KEY=x',
      '}',
      'function third()',
      '{',
      '  THIRD_KEY=x',
      '}',
      'if [[ -f ~/.secrets ]]; then',
      '  export IF_TOKEN=in-an-if',
      'elif [ -n "$X" ]; then IF2_TOKEN=x',
      'fi',
      'for f in a b; do',
      '  LOOP_TOKEN=x',
      'done',
      'case "$TERM" in',
      '  xterm*) CASE_TOKEN=x ;;',
      '  (screen) CASE2_TOKEN=y ;;',
      'esac',
      '( SUB_TOKEN=x )',
      'cat <<EOF > /tmp/x',
      'export HEREDOC_TOKEN=x',
      'EOF',
      'cat <<-"END"',
      '\texport HEREDOC2_TOKEN=x',
      '\tEND',
      'source ~/.secrets',
      '[ -f ~/.fzf.zsh ] && source ~/.fzf.zsh',
      'echo "$(date) export ECHOED_TOKEN=x"',
      'export AFTER=yes',
    ].join('\n')
    expect(values(text)).toEqual({ AFTER: 'yes' })
    const skipped = reasons(text)
    for (const variable of [
      'FUNC_TOKEN',
      'NESTED_KEY',
      'THIRD_KEY',
      'IF_TOKEN',
      'IF2_TOKEN',
      'LOOP_TOKEN',
      'CASE_TOKEN',
      'CASE2_TOKEN',
      'SUB_TOKEN',
    ]) {
      expect(skipped[variable], variable).toMatch(/inside a function/)
    }
    expect(Object.keys(skipped)).not.toContain('HEREDOC_TOKEN')
    expect(Object.keys(skipped)).not.toContain('ALIASED_TOKEN')
  })

  it('only offers assignments that own their lines', () => {
    const text = [
      'export A=1; export B=2',
      'C=3 some-command',
      'echo x; D=4',
      'E=5;',
      'export F=6 G=7',
      'H=8 > /dev/null',
    ].join('\n')
    expect(values(text)).toEqual({ E: '5' })
    const skipped = reasons(text)
    expect(skipped.A).toMatch(/shares its line/)
    expect(skipped.B).toMatch(/shares its line/)
    expect(skipped.C).toMatch(/not a plain assignment/)
    expect(skipped.D).toMatch(/shares its line/)
    expect(skipped.F).toMatch(/not a plain assignment/)
    expect(skipped.H).toMatch(/not a plain assignment/)
  })

  it('reports a quote that is never closed', () => {
    expect(reasons('export KEY="abc\n# more')).toEqual({ KEY: expect.stringMatching(/closed/) })
  })

  it('never puts a value in a skip reason', () => {
    const canary = 'canary-value-3f9a'
    const text = [
      `export A_TOKEN="${canary}$X"`,
      `export B_TOKEN=${canary}; echo`,
      `if x; then C_TOKEN=${canary}; fi`,
      `D_TOKEN=${canary} cmd`,
      `E_TOKEN="${canary}`,
    ].join('\n')
    const { skipped } = parseAssignments(text)
    expect(skipped).toHaveLength(5)
    expect(JSON.stringify(skipped)).not.toContain(canary)
  })

  it('parses generated files back to the values written, whatever the values', () => {
    const variable = fc.stringMatching(/^[A-Z_][A-Z0-9_]{0,20}$/)
    // CRLF inside a quoted value reads as LF (a CRLF file's line ending), so leave it out.
    const value = fc.string({ unit: 'binary', maxLength: 40 }).filter((v) => !v.includes('\r\n'))
    const entry = fc.record({
      variable,
      value,
      style: fc.constantFrom('single', 'double', 'bare'),
      exported: fc.boolean(),
      comment: fc.boolean(),
      noise: fc.constantFrom('', '# a comment', 'alias ll="ls -l"', 'export PATH="$HOME:$PATH"'),
    })
    fc.assert(
      fc.property(
        fc.array(entry, { maxLength: 8 }),
        fc.constantFrom('shell' as const, 'dotenv' as const),
        fc.constantFrom('\n', '\r\n'),
        (entries, dialect, eol) => {
          const lines: string[] = []
          const expected: Array<{ variable: string; value: string; line: number }> = []
          for (const { variable, value, style, exported, comment, noise } of entries) {
            if (noise) lines.push(noise)
            const assignment = `${exported ? 'export ' : ''}${variable}=${quote(value, style, dialect)}`
            expected.push({ variable, value, line: lineCount(lines, eol) + 1 })
            lines.push(comment ? `${assignment} # note` : assignment)
          }
          const text = lines.join(eol)
          const parsed = parseAssignments(text, dialect)
          expect(
            parsed.assignments.map(({ variable, value, line }) => ({ variable, value, line })),
          ).toEqual(expected)
          expect(parsed.skipped.filter((s) => s.variable !== 'PATH')).toEqual([])
        },
      ),
      { numRuns: 300 },
    )
  })
})

// Quotes a value so that it reads back as itself: bare when it is plain, else single quotes
// (with '\'' for a quote) or double quotes with the escapes both dialects read.
function quote(value: string, style: string, dialect: 'shell' | 'dotenv'): string {
  if (style === 'bare' && /^[A-Za-z0-9_./:@%+,=-]+$/.test(value)) return value
  // '\'' is a shell idiom; dotenv has no way to put a quote inside single quotes.
  const single = style === 'single' || style === 'bare'
  if (single && !(dialect === 'dotenv' && value.includes("'"))) {
    return `'${value.replace(/'/g, "'\\''")}'`
  }
  // dotenv reads \n, \r and \t after a backslash as escapes, so backslashes are doubled in both.
  return `"${value.replace(/[\\"$`]/g, (char) => `\\${char}`)}"`
}

// The number of lines the joined text so far spans (a value may hold newlines).
function lineCount(lines: readonly string[], eol: string): number {
  if (lines.length === 0) return 0
  return lines.join(eol).split('\n').length
}

describe('which variables are secrets', () => {
  it('recognises the usual secret names and not the usual settings', () => {
    const secrets = [
      'GITHUB_TOKEN',
      'GH_TOKEN',
      'OPENAI_API_KEY',
      'AWS_SECRET_ACCESS_KEY',
      'AWS_ACCESS_KEY_ID',
      'PGPASSWORD',
      'DB_PASS',
      'GH_PAT',
      'GOOGLE_CREDENTIALS',
      'BASIC_AUTH',
      'SENTRY_DSN',
      'SUPABASE_SERVICE_ROLE_KEY',
      'HOMEBREW_GITHUB_API_TOKEN',
      'NPM_TOKEN',
      'stripe_secret',
    ]
    const settings = [
      'PATH',
      'HOME',
      'EDITOR',
      'LANG',
      'LC_ALL',
      'SHELL',
      'PAGER',
      'KEYTIMEOUT',
      'SSH_AUTH_SOCK',
      'OPENAI_API_BASE',
      'API_URL',
      'SSL_KEY_FILE',
      'KEYWARDEN_ROOT_KEY',
      'KEYWARDEN_DATABASE_URL',
      'PATCH_LEVEL',
      'AUTHOR_NAME',
      'MONKEY',
    ]
    for (const name of secrets) expect(looksLikeSecret(name), name).toBe(true)
    for (const name of settings) expect(looksLikeSecret(name), name).toBe(false)
  })

  it('guesses the type from the name and the value', () => {
    expect(guessSecretType('GITHUB_TOKEN', 'x')).toBe('github_token')
    expect(guessSecretType('GH_TOKEN', 'x')).toBe('github_token')
    expect(guessSecretType('HOMEBREW_GITHUB_API_TOKEN', 'x')).toBe('github_token')
    expect(guessSecretType('MY_TOKEN', 'ghp_abc')).toBe('github_token')
    expect(guessSecretType('MY_TOKEN', 'github_pat_abc')).toBe('github_token')
    expect(guessSecretType('OPENAI_API_KEY', 'sk-x')).toBe('api_key')
    expect(guessSecretType('SUPABASE_SERVICE_ROLE_KEY', 'x')).toBe('service_key')
    expect(guessSecretType('FIREBASE_SERVICE_KEY', 'x')).toBe('service_key')
    expect(guessSecretType('JWT_SIGNING_KEY', 'x')).toBe('signing_key')
    expect(guessSecretType('DATABASE_PASSWORD', 'x')).toBe('other')
  })

  it('reads .env, .env.local and prod.env as .env files, and rc files as shell', () => {
    for (const path of ['.env', '/app/.env.local', 'prod.env', 'C:\\app\\.env']) {
      expect(isDotenvFile(path), path).toBe(true)
    }
    for (const path of ['~/.zshrc', '/home/me/.bashrc', '.profile', 'env.sh', '/x/.env/rc']) {
      expect(isDotenvFile(path), path).toBe(false)
    }
  })
})

describe('planImport', () => {
  const plan = (text: string, dialect: 'shell' | 'dotenv' = 'shell') =>
    planImport(parseAssignments(text, dialect), dialect)

  it('imports the last value of a variable assigned twice and removes every literal line of it', () => {
    const result = plan('export A_TOKEN=old\nexport EDITOR=vi\nexport A_TOKEN="new\nvalue"\n')
    expect(result.secrets).toEqual([
      {
        name: 'a_token',
        variable: 'A_TOKEN',
        value: 'new\nvalue',
        type: 'other',
        line: 3,
        endLine: 4,
        lines: [1, 3, 4],
      },
    ])
    expect(result.notSecrets).toEqual(['EDITOR'])
  })

  it('imports nothing for a variable whose last top-level assignment is not literal', () => {
    const result = plan('export GH_TOKEN=ghp_old\nexport GH_TOKEN=$(gh auth token)\n')
    expect(result.secrets).toEqual([])
    expect(result.skipped).toEqual([
      {
        variable: 'GH_TOKEN',
        line: 1,
        reason: expect.stringMatching(/later assignment on line 2/),
      },
      { variable: 'GH_TOKEN', line: 2, reason: expect.stringMatching(/command substitution/) },
    ])
    // One inside a function may never run: the top-level value stands.
    const nested = plan('export GH_TOKEN=ghp_top\nf() {\n  GH_TOKEN=x\n}\n')
    expect(nested.secrets.map((s) => s.value)).toEqual(['ghp_top'])
  })

  it('skips names the vault cannot hold and values it would refuse', () => {
    const result = plan('export _TOKEN=abc\nexport EMPTY_TOKEN=\nexport OK_TOKEN=fine\n')
    expect(result.secrets.map((s) => s.name)).toEqual(['ok_token'])
    expect(result.skipped).toEqual([
      { variable: '_TOKEN', line: 1, reason: expect.stringMatching(/not a valid secret name/) },
      { variable: 'EMPTY_TOKEN', line: 2, reason: 'the value is empty' },
    ])
  })

  it('imports declare -x / typeset -x / readonly assignments like export ones', () => {
    const result = plan(
      'declare -x A_TOKEN=a-value\ntypeset -gx B_TOKEN=b-value\nreadonly C_TOKEN=c-value\ndeclare -f\n',
    )
    expect(result.secrets.map((s) => [s.name, s.value, s.line])).toEqual([
      ['a_token', 'a-value', 1],
      ['b_token', 'b-value', 2],
      ['c_token', 'c-value', 3],
    ])
  })

  it('lists KEY = value (spaces around =) under Skipped, in a .env and in a shell file', () => {
    const dotenv = plan('API_KEY = abc123\nPORT=1\n', 'dotenv')
    expect(dotenv.secrets.map((s) => s.name)).toEqual(['port'])
    expect(dotenv.skipped).toEqual([
      { variable: 'API_KEY', line: 1, reason: 'there are spaces around "=" (write API_KEY=value)' },
    ])
    expect(plan('GH_TOKEN = ghp_x\n').skipped.map((s) => s.variable)).toEqual(['GH_TOKEN'])
  })

  it('imports a Slack webhook URL or a URL with a password whatever the variable is called', () => {
    const result = plan(
      [
        'export SLACK_WEBHOOK_URL=https://hooks.slack.com/services/T000/B000/XXXXXXXX',
        'export DATABASE_URL=postgres://app:s3cret@db.internal:5432/app',
        'export DOCS_URL=https://example.com/docs',
        '',
      ].join('\n'),
    )
    expect(result.secrets.map((s) => s.name)).toEqual(['slack_webhook_url', 'database_url'])
    expect(result.notSecrets).toEqual(['DOCS_URL'])
  })

  it('takes every literal assignment from a .env file, but never KEYWARDEN_*', () => {
    const result = plan('PORT=3000\nDEBUG=true\nKEYWARDEN_ROOT_KEY=abc\n', 'dotenv')
    expect(result.secrets.map((s) => s.name)).toEqual(['port', 'debug'])
    expect(result.notSecrets).toEqual(['KEYWARDEN_ROOT_KEY'])
  })
})

describe('removeLines', () => {
  const bytes = (text: string) => new TextEncoder().encode(text)
  const text = (data: Uint8Array) => new TextDecoder().decode(data)

  it('removes exactly the given lines with their endings, keeping every other byte', () => {
    expect(text(removeLines(bytes('a\nb\nc\n'), new Set([2])))).toBe('a\nc\n')
    expect(text(removeLines(bytes('a\r\nb\r\nc'), new Set([3])))).toBe('a\r\nb\r\n')
    expect(text(removeLines(bytes('a\r\nb\r\nc'), new Set([1, 2])))).toBe('c')
    expect(text(removeLines(bytes('a\n\nb'), new Set([2])))).toBe('a\nb')
    expect(text(removeLines(bytes('é\n🙂\nz'), new Set([2])))).toBe('é\nz')
    expect(text(removeLines(bytes(''), new Set([1])))).toBe('')
  })
})
