/**
 * The host rules of `http_request` on their own: which URLs reach which allowed_hosts entries,
 * and the tricks refused. The tool itself is tested end to end in ../server/index.test.ts.
 */
import { describe, expect, it } from 'vitest'
import { isAllowedHost, parseTarget, placeholderNames } from './index.ts'

const allowed = (url: string, hosts: string[]) => isAllowedHost(parseTarget(url), hosts)

describe('isAllowedHost', () => {
  it('matches exact hosts on the default port, and only those', () => {
    expect(allowed('https://api.github.com/user', ['api.github.com'])).toBe(true)
    expect(allowed('https://API.GitHub.com/user', ['api.github.com'])).toBe(true)
    expect(allowed('https://github.com/', ['api.github.com'])).toBe(false)
    expect(allowed('https://api.github.com.evil.com/', ['api.github.com'])).toBe(false)
    expect(allowed('https://evil.com/api.github.com', ['api.github.com'])).toBe(false)
    expect(allowed('https://evil.com/?h=api.github.com', ['api.github.com'])).toBe(false)
    expect(allowed('https://evil.com#@api.github.com', ['api.github.com'])).toBe(false)
    expect(allowed('https://api.github.com./', ['api.github.com'])).toBe(false)
  })

  it('matches ports: the entry’s, or the scheme’s default when it names none', () => {
    expect(allowed('https://api.github.com:8443/', ['api.github.com'])).toBe(false)
    expect(allowed('https://api.github.com:8443/', ['api.github.com:8443'])).toBe(true)
    expect(allowed('https://api.github.com/', ['api.github.com:8443'])).toBe(false)
    expect(allowed('http://127.0.0.1:5000/', ['127.0.0.1:5000'])).toBe(true)
    expect(allowed('http://127.0.0.1:5001/', ['127.0.0.1:5000'])).toBe(false)
    expect(allowed('http://127.0.0.1/', ['127.0.0.1:5000'])).toBe(false)
  })

  it('matches a *. entry on subdomains only', () => {
    const hosts = ['*.supabase.co']
    expect(allowed('https://abc.supabase.co/rest/v1', hosts)).toBe(true)
    expect(allowed('https://a.b.supabase.co/', hosts)).toBe(true)
    expect(allowed('https://supabase.co/', hosts)).toBe(false)
    expect(allowed('https://evilsupabase.co/', hosts)).toBe(false)
    expect(allowed('https://abc.supabase.co.evil.com/', hosts)).toBe(false)
  })

  it('never matches with no entries', () => {
    expect(allowed('https://api.github.com/', [])).toBe(false)
  })
})

describe('parseTarget', () => {
  const refused = (url: string, base?: string) =>
    expect(() => parseTarget(url, base === undefined ? undefined : new URL(base)), url).toThrow(
      /ACCESS_DENIED|refused|only https|not an absolute/,
    )

  it('takes https anywhere and http only to loopback', () => {
    expect(parseTarget('https://api.github.com/x').host).toBe('api.github.com')
    expect(parseTarget('http://127.0.0.1:8080/x').host).toBe('127.0.0.1:8080')
    expect(parseTarget('http://localhost:8080/').hostname).toBe('localhost')
    expect(() => parseTarget('http://api.github.com/')).toThrow(/only https/)
    expect(() => parseTarget('ftp://api.github.com/')).toThrow(/only https/)
    expect(() => parseTarget('file:///etc/passwd')).toThrow(/only https/)
    expect(() => parseTarget('/relative')).toThrow(/not an absolute URL/)
  })

  it('refuses userinfo and every other spelling of a host', () => {
    for (const url of [
      'https://api.github.com@evil.com/',
      'https://user:pass@api.github.com/',
      'https://evil.com\\@api.github.com/',
      'https://\u0430pi.github.com/', // Cyrillic а: an IDN look-alike
      'https://\uff41pi.github.com/', // fullwidth ａ, which IDNA maps to a
      'https://%61pi.github.com/',
      'https:api.github.com/',
      'https:\\\\api.github.com/',
      'https://api.github.com:443/',
      'http://2130706433:5000/', // 127.0.0.1 in decimal
      'http://0x7f.1:5000/', // in hex
      'http://0177.0.0.1:5000/', // in octal
      'http://127.1:5000/',
      'http://[::ffff:127.0.0.1]:5000/',
    ]) {
      refused(url)
    }
  })

  it('parses plain IPv6 and punycode hosts, which no allowed entry can name', () => {
    const hosts = ['api.github.com', '127.0.0.1:5000', 'localhost:5000']
    expect(allowed('http://[::1]:5000/', hosts)).toBe(false)
    // The Cyrillic look-alike, spelled as punycode.
    expect(allowed('https://xn--pi-6kc.github.com/', hosts)).toBe(false)
  })

  it('checks a redirect’s Location against the URL it answered', () => {
    const base = 'https://api.github.com/start'
    expect(parseTarget('/next', new URL(base)).href).toBe('https://api.github.com/next')
    expect(parseTarget('https://api.github.com/x', new URL(base)).host).toBe('api.github.com')
    expect(parseTarget('//evil.com/x', new URL(base)).host).toBe('evil.com')
    refused('//0x7f.1/x', base)
    refused('\\\\evil.com/x', base)
    refused('https://user@api.github.com/', base)
    refused('http://api.github.com/', base)
  })
})

describe('placeholderNames', () => {
  it('collects names once, in order', () => {
    expect(
      placeholderNames(['https://x/{{secret:a_b}}', 'Bearer {{secret:c}}', '{{secret:a_b}}']),
    ).toEqual(['a_b', 'c'])
    expect(placeholderNames(['no placeholders {{ here }}'])).toEqual([])
  })

  it('refuses invalid names and unclosed placeholders without quoting them', () => {
    expect(() => placeholderNames(['{{secret:Not-Valid}}'])).toThrow(
      /invalid secret \(9 characters\)/,
    )
    expect(() => placeholderNames(['{{secret:abc'])).toThrow(/not closed/)
  })
})
