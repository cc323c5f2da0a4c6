/**
 * `http_request`: an agent uses secrets without seeing them. The URL, header values and body
 * may hold `{{secret:NAME}}` placeholders; the server substitutes them only when the request
 * goes to one of that secret's `allowed_hosts`, and masks every substituted value, in every
 * encoding core's redactor knows, in the response before the model sees it — before any
 * parsing, and before the body is cut (so where it is cut betrays nothing).
 *
 * Hosts are compared after WHATWG URL parsing, the same parsing `fetch` uses to connect: its
 * normalized host name (lower case, IDNA to punycode, IPv4 in dotted decimal, IPv6 in
 * brackets) must equal an allowed entry exactly, or end with a `*.` entry's suffix, and the
 * port must be the entry's (the scheme's default when it names none). So a look-alike
 * (`аpi.github.com` in Cyrillic becomes `xn--…`), an IPv6 spelling, userinfo, or a host that
 * merely starts with the allowed one reaches no secret.
 *
 * Runtime-neutral: it needs only `fetch`, `URL` and streams, so the edge plugin offers it too.
 * @module
 */
import {
  compileRedaction,
  DEFAULT_MIN_REDACT_LENGTH,
  isKeywardenError,
  KeywardenError,
  type NamedSecret,
  type Redaction,
  SECRET_NAME_PATTERN,
  type SecretMetadata,
  type VaultClient,
} from '@keywarden/core'
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js'
import { z } from 'zod'
import type { ToolLogger } from '../logging/index.ts'
import { auditUse, errorText, guarded, OPEN_WORLD_ACTION, ok, ToolError } from '../results/index.ts'

/** Limits for `http_request`. */
export interface HttpRequestOptions {
  /** The whole exchange, redirects and body included, in ms. Default 15 000. */
  timeoutMs?: number
  /**
   * Where a long response body is cut, in characters of the response (after masking the
   * whole, so the cut does not depend on what was masked), and `truncated` set.
   * Default 1 MiB.
   */
  maxResponseBytes?: number
  /** Redirects followed (each checked like the first request). Default 5. */
  maxRedirects?: number
  /** The fetch to use. Default the runtime's. */
  fetch?: typeof fetch
}

const DEFAULTS = { timeoutMs: 15_000, maxResponseBytes: 1024 * 1024, maxRedirects: 5 }

const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'] as const

const PLACEHOLDER = /\{\{secret:([^{}]{0,200})\}\}/g

const REDIRECTS = new Set([301, 302, 303, 307, 308])

// ---------------------------------------------------------------------------------------------
// Hosts
// ---------------------------------------------------------------------------------------------

const defaultPort = (protocol: string) => (protocol === 'https:' ? 443 : 80)

/** Whether `url` (already WHATWG-parsed) goes to a host that an `allowed_hosts` entry covers. */
export function isAllowedHost(url: URL, allowedHosts: readonly string[]): boolean {
  const port = url.port === '' ? defaultPort(url.protocol) : Number(url.port)
  return allowedHosts.some((entry) => {
    const colon = entry.indexOf(':')
    const pattern = colon === -1 ? entry : entry.slice(0, colon)
    const entryPort = colon === -1 ? defaultPort(url.protocol) : Number(entry.slice(colon + 1))
    if (entryPort !== port) return false
    if (!pattern.startsWith('*.')) return url.hostname === pattern
    const suffix = pattern.slice(1)
    return url.hostname.length > suffix.length && url.hostname.endsWith(suffix)
  })
}

/** Loopback hosts, the only ones plain `http:` may reach (a local service, or a test's). */
export function isLoopbackHost(hostname: string): boolean {
  return hostname === 'localhost' || hostname === '[::1]' || /^127(\.\d{1,3}){3}$/.test(hostname)
}

/**
 * Parses a request URL (or a redirect's `Location` against the URL it answered) and checks
 * what holds whatever the secrets: `https:` (or `http:` to a loopback host), no userinfo, and
 * a host written the way URL parsing normalizes it. The last rule refuses every alternative
 * spelling outright — `2130706433`, `0x7f.1`, `%61pi.github.com`, `ａpi.github.com`, a
 * default `:443`, a backslash — rather than reasoning about which ones reach the same place.
 * Throws INVALID_ARGUMENT or ACCESS_DENIED.
 */
export function parseTarget(text: string, base?: URL): URL {
  let url: URL
  try {
    url = new URL(text, base)
  } catch {
    throw new KeywardenError('INVALID_ARGUMENT', 'url is not an absolute URL')
  }
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && isLoopbackHost(url.hostname))) {
    throw new KeywardenError(
      'ACCESS_DENIED',
      `only https URLs are allowed (plain http only to a loopback host), not ${url.protocol}//${url.hostname}`,
    )
  }
  if (url.username !== '' || url.password !== '') {
    throw new KeywardenError('ACCESS_DENIED', 'URLs with userinfo (user:password@) are refused')
  }
  const authority = writtenAuthority(text, base)
  if (authority !== undefined && !startsWithAuthority(authority.text, authority.expected(url))) {
    throw new KeywardenError(
      'ACCESS_DENIED',
      `write the URL's host plainly, as ${url.protocol}//${url.host}: other spellings of a host are refused`,
    )
  }
  return url
}

// Where `text` names a host of its own, and how it must begin to name `url`'s plainly; a
// relative reference (a redirect to a path) keeps the base's, already checked, host.
function writtenAuthority(text: string, base: URL | undefined) {
  if (base === undefined || /^[a-z][a-z0-9+.-]*:/i.test(text)) {
    return { text, expected: (url: URL) => `${url.protocol}//${url.host}` }
  }
  if (/^[\\/]{2}/.test(text)) return { text, expected: (url: URL) => `//${url.host}` }
  return undefined
}

function startsWithAuthority(text: string, prefix: string): boolean {
  const next = text.charAt(prefix.length)
  return (
    text.slice(0, prefix.length).toLowerCase() === prefix && (next === '' || '/?#'.includes(next))
  )
}

// ---------------------------------------------------------------------------------------------
// Placeholders
// ---------------------------------------------------------------------------------------------

/** The secret names that `texts` refer to through placeholders, in order of appearance. */
export function placeholderNames(texts: readonly string[]): string[] {
  const names = new Set<string>()
  for (const text of texts) {
    for (const match of text.matchAll(PLACEHOLDER)) {
      const name = match[1] ?? ''
      if (!SECRET_NAME_PATTERN.test(name)) {
        throw new KeywardenError(
          'INVALID_ARGUMENT',
          `a placeholder names an invalid secret (${name.length} characters); write {{secret:NAME}} with a name such as github_token`,
        )
      }
      names.add(name)
    }
    // Anything else that looks like a placeholder would be sent as typed, which is never meant.
    if (text.replace(PLACEHOLDER, '').includes('{{secret:')) {
      throw new KeywardenError(
        'INVALID_ARGUMENT',
        'a {{secret: placeholder is not closed; write {{secret:NAME}}',
      )
    }
  }
  return [...names]
}

function substitute(text: string, values: ReadonlyMap<string, string>, encode: boolean): string {
  return text.replace(PLACEHOLDER, (_, name: string) => {
    const value = values.get(name) ?? ''
    return encode ? encodeURIComponent(value) : value
  })
}

// ---------------------------------------------------------------------------------------------
// The tool
// ---------------------------------------------------------------------------------------------

const inputSchema = z.strictObject({
  url: z
    .string()
    .max(8192)
    .describe(
      'An https URL; may hold {{secret:NAME}} in its path or query (URL-encoded when sent)',
    ),
  method: z.enum(METHODS).optional().describe('Default GET'),
  headers: z
    .record(z.string().max(256), z.string().max(16_384))
    .optional()
    .describe(
      'Request headers; values may hold {{secret:NAME}}, e.g. "Bearer {{secret:github_token}}"',
    ),
  body: z
    .string()
    .max(1024 * 1024)
    .optional()
    .describe('The request body; may hold placeholders'),
})

const outputSchema = z.object({
  status: z.number(),
  url: z.string(),
  headers: z.record(z.string(), z.string()),
  body: z.string(),
  truncated: z.boolean(),
  redirects: z.number(),
  secrets_used: z.array(z.string()),
})

type HttpInput = z.infer<typeof inputSchema>

/** Registers `http_request` on `server`. */
export function registerHttpRequestTool(
  server: McpServer,
  client: VaultClient,
  log: ToolLogger,
  options: HttpRequestOptions = {},
): void {
  const limits = { ...DEFAULTS, ...options }
  server.registerTool(
    'http_request',
    {
      title: 'HTTP request with secrets',
      description:
        'Sends an HTTPS request in which {{secret:NAME}} placeholders (in the URL, header values or body) are replaced by secret values the model never sees. A secret is substituted only when the request goes to one of its allowed hosts (see get_secret_metadata; the user sets them with keywarden edit NAME --allow-host HOST); redirects are followed only to allowed hosts. Every substituted value is masked as [REDACTED:NAME] in the response.',
      inputSchema,
      outputSchema,
      annotations: OPEN_WORLD_ACTION,
    },
    (input) => guarded('http_request', log, () => httpRequest(client, limits, input)),
  )
}

type Limits = typeof DEFAULTS & { fetch?: typeof fetch }

/**
 * One call. Every outcome once the placeholders name secrets — success, refusal, failure — is
 * audited under those names, with a reason written here (never text from the response).
 */
async function httpRequest(client: VaultClient, limits: Limits, input: HttpInput) {
  const headers = Object.entries(input.headers ?? {})
  const names = placeholderNames([
    input.url,
    ...headers.map(([, value]) => value),
    input.body ?? '',
  ])
  if (names.length === 0) {
    throw new KeywardenError(
      'INVALID_ARGUMENT',
      'http_request is for using secrets: put a {{secret:NAME}} placeholder in the URL, a header value or the body',
    )
  }
  try {
    return await exchange(client, limits, input, names)
  } catch (error) {
    // Audit first: a refusal or failure is on record before it is answered.
    await auditUse(client, names, { success: false, errorMessage: auditReason(error) })
    throw error
  }
}

// The audit row's reason: the error's code and our own message, which quotes only what the
// agent wrote (hosts of its URL) and the user's settings, bounded.
function auditReason(error: unknown): string {
  const text = isKeywardenError(error) || error instanceof ToolError ? errorText(error) : 'INTERNAL'
  return `http_request: ${text}`.slice(0, 500)
}

async function exchange(client: VaultClient, limits: Limits, input: HttpInput, names: string[]) {
  const method = input.method ?? 'GET'
  const headers = Object.entries(input.headers ?? {})
  if (input.body !== undefined && (method === 'GET' || method === 'HEAD')) {
    throw new KeywardenError('INVALID_ARGUMENT', `a ${method} request cannot have a body`)
  }
  for (const [header] of headers) {
    // The Host header would send the secrets to another virtual host than the URL names.
    if (header.toLowerCase() === 'host' || header.includes('{{')) {
      throw new KeywardenError(
        'INVALID_ARGUMENT',
        'header names cannot be Host or hold placeholders; placeholders go in header values',
      )
    }
  }
  // Placeholders cannot sit in the host: braces are not allowed there, so it does not parse.
  const target = parseTarget(input.url)
  const metadata = await allowedMetadata(client, names)
  const notAllowed = metadata.filter((secret) => !isAllowedHost(target, secret.allowedHosts))
  if (notAllowed.length > 0) {
    throw new KeywardenError('ACCESS_DENIED', hostRefusal(notAllowed, target.host))
  }

  const values = await readValues(client, names)
  const secrets: NamedSecret[] = [...values].map(([name, value]) => ({ name, value }))
  const tooShort = secrets.filter((secret) => [...secret.value].length < DEFAULT_MIN_REDACT_LENGTH)
  if (tooShort.length > 0) {
    throw new KeywardenError(
      'ACCESS_DENIED',
      `${tooShort.map((s) => s.name).join(', ')}: values shorter than ${DEFAULT_MIN_REDACT_LENGTH} characters cannot be masked in responses, so they are not sent`,
    )
  }
  const redaction = compileRedaction(secrets)
  let url = parseTarget(substitute(input.url, values, true))
  // Encoded values cannot move the authority, but check rather than trust.
  if (url.origin !== target.origin) {
    throw new KeywardenError('ACCESS_DENIED', 'the substituted URL changed its host')
  }
  // What the result reports as the URL: built from masked text only (see below).
  let shownUrl = redaction.redact(url.href)

  const request = {
    method,
    headers: headers.map(([name, value]) => [name, substitute(value, values, false)]) as [
      string,
      string,
    ][],
    body: input.body === undefined ? undefined : substitute(input.body, values, false),
  }
  // Audit first: the use is on record before any value leaves the process.
  await auditUse(client, names, { success: true })
  const signal = AbortSignal.timeout(limits.timeoutMs)
  const send = limits.fetch ?? fetch
  try {
    let redirects = 0
    for (;;) {
      const response = await send(url, { ...request, redirect: 'manual', signal })
      const rawLocation = response.headers.get('location')
      if (!REDIRECTS.has(response.status) || rawLocation === null) {
        const body = await readBody(response, redaction, limits.maxResponseBytes)
        const result = {
          status: response.status,
          url: shownUrl,
          headers: Object.fromEntries(
            [...response.headers].map(([k, v]) => [k, redaction.redact(headerText(v))]),
          ),
          body: body.text,
          truncated: body.truncated,
          redirects,
          secrets_used: names,
        }
        const text = `HTTP ${result.status} from ${target.host}${redirects > 0 ? ` after ${redirects} redirect(s)` : ''}${body.truncated ? ` (body cut after ${limits.maxResponseBytes} characters)` : ''}\n\n${result.body}`
        return ok(result, text)
      }
      await response.body?.cancel()
      if (++redirects > limits.maxRedirects) {
        throw new ToolError('REQUEST_FAILED', `more than ${limits.maxRedirects} redirects`)
      }
      // The Location may carry a value, and URL parsing changes its form (lower-cases the
      // host, resolves dot segments): nothing parsed from it is shown, only masked text.
      const location = headerText(rawLocation)
      let next: URL
      try {
        next = parseTarget(location, url)
      } catch {
        throw new KeywardenError(
          'ACCESS_DENIED',
          'a redirect was refused: its Location is not a plainly written https URL (or http to a loopback host) without userinfo',
        )
      }
      const offHost = metadata.filter((secret) => !isAllowedHost(next, secret.allowedHosts))
      if (offHost.length > 0) {
        throw new KeywardenError(
          'ACCESS_DENIED',
          `a redirect was refused: ${hostRefusal(offHost, 'the host its Location names')}`,
        )
      }
      // As browsers do: 303 (and 301/302 after a POST) continue as a GET without the body.
      if (response.status === 303 || (request.method === 'POST' && response.status < 303)) {
        request.method = 'GET'
        request.body = undefined
      }
      shownUrl = shownLocation(redaction.redact(location), shownUrl)
      url = next
    }
  } catch (error) {
    if (error instanceof KeywardenError || error instanceof ToolError) throw error
    throw signal.aborted
      ? new ToolError('TIMEOUT', `no complete response within ${limits.timeoutMs} ms`)
      : new ToolError(
          'REQUEST_FAILED',
          `the request to ${target.host} failed (${failureKind(error)})`,
        )
  }
}

/**
 * A header value as text. `fetch` gives header bytes one character per byte (Latin-1); a
 * server writes UTF-8, and masking matches UTF-8 text, so decode it as UTF-8 first.
 */
function headerText(value: string): string {
  let high = false
  for (let i = 0; i < value.length; i++) {
    const unit = value.charCodeAt(i)
    if (unit > 0xff) return value
    if (unit >= 0x80) high = true
  }
  if (!high) return value
  return new TextDecoder().decode(Uint8Array.from(value, (char) => char.charCodeAt(0)))
}

// The masked Location resolved against the masked URL it answered, where that parses; else
// the masked Location as written.
function shownLocation(maskedLocation: string, maskedBase: string): string {
  try {
    return new URL(maskedLocation, maskedBase).href
  } catch {
    return maskedLocation
  }
}

function hostRefusal(secrets: readonly SecretMetadata[], target: string): string {
  return secrets
    .map((secret) =>
      secret.allowedHosts.length === 0
        ? `${secret.name} may not be sent anywhere; the user can allow a host with \`keywarden edit ${secret.name} --allow-host HOST\``
        : `${secret.name} may only be sent to ${secret.allowedHosts.join(', ')}, not to ${target}`,
    )
    .join('; ')
}

async function allowedMetadata(client: VaultClient, names: readonly string[]) {
  const listed = new Map((await client.listSecrets()).map((secret) => [secret.name, secret]))
  return names.map((name) => {
    const secret = listed.get(name)
    if (!secret) {
      throw new KeywardenError('SECRET_NOT_FOUND', `secret ${name} is not in the vault`, {
        secretName: name,
      })
    }
    return secret
  })
}

async function readValues(client: VaultClient, names: readonly string[]) {
  const found = await client.getSecrets(names)
  const values = new Map<string, string>()
  for (const name of names) {
    const result = found.get(name)
    if (!result) {
      throw new KeywardenError('SECRET_NOT_FOUND', `secret ${name} is not in the vault`, {
        secretName: name,
      })
    }
    values.set(name, result.value)
  }
  return values
}

// A network error's own message can quote the URL, and so a value: only its kind is shown.
function failureKind(error: unknown): string {
  const cause = (error as { cause?: { code?: unknown } }).cause
  if (typeof cause?.code === 'string' && /^[A-Z_]+$/.test(cause.code)) return cause.code
  return error instanceof TypeError ? 'network error' : 'error'
}

/**
 * Reads the body and masks it whole before cutting it. The cut falls after `maxChars`
 * characters of the response, a point no value can move: the body is read `reach` characters
 * further, so every masked form that starts before the cut is seen whole, and one that
 * straddles the cut is left out whole. So neither the text, nor its length, nor `truncated`
 * depends on whether the bytes near the cut begin like a value (which a stream redactor's
 * held-back tail would betray), and no part of a value is ever emitted.
 */
async function readBody(
  response: Response,
  redaction: Redaction,
  maxChars: number,
): Promise<{ text: string; truncated: boolean }> {
  if (response.body === null) return { text: '', truncated: false }
  const needed = maxChars + redaction.reach
  const decoder = new TextDecoder()
  const reader = response.body.getReader()
  let text = ''
  let complete = false
  for (;;) {
    const { done, value } = await reader.read()
    if (done) {
      text += decoder.decode()
      complete = true
      break
    }
    text += decoder.decode(value, { stream: true })
    if (text.length >= needed) {
      await reader.cancel()
      break
    }
  }
  if (complete && text.length <= maxChars) return { text: redaction.redact(text), truncated: false }
  return { text: redaction.redactPrefix(text, maxChars, complete), truncated: true }
}
