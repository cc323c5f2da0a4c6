/**
 * `http_request`: an agent uses secrets without seeing them. The URL, header values and body
 * may hold `{{secret:NAME}}` placeholders; the server substitutes them only when the request
 * goes to one of that secret's `allowed_hosts`, and masks every substituted value (raw,
 * base64, base64url, URL-encoded, hex) in the response before the model sees it.
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
  createRedactor,
  createStreamRedactor,
  DEFAULT_MIN_REDACT_LENGTH,
  KeywardenError,
  type NamedSecret,
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
  /** Response body bytes read; the rest is cut off and `truncated` set. Default 1 MiB. */
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
        'Sends an HTTPS request in which {{secret:NAME}} placeholders (in the URL, header values or body) are replaced by secret values the model never sees. A secret is substituted only when the request goes to one of its allowed hosts (see get_secret_metadata; the user sets them with keywarden set NAME --allow-host HOST); redirects are followed only to allowed hosts. Every substituted value is masked as [REDACTED:NAME] in the response.',
      inputSchema,
      outputSchema,
      annotations: OPEN_WORLD_ACTION,
    },
    (input) => guarded('http_request', log, () => httpRequest(client, limits, input)),
  )
}

type Limits = typeof DEFAULTS & { fetch?: typeof fetch }

async function httpRequest(client: VaultClient, limits: Limits, input: HttpInput) {
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
  // Placeholders cannot sit in the host: braces are not allowed there, so it does not parse.
  const target = parseTarget(input.url)
  const metadata = await allowedMetadata(client, names)
  // Audit first: the refusal is on record before it is answered (`throw await refused(…)`).
  async function refused(reason: string, secrets: readonly SecretMetadata[]) {
    await auditUse(
      client,
      secrets.map((secret) => secret.name),
      { success: false, errorMessage: `http_request: ${reason}` },
    )
    return new KeywardenError('ACCESS_DENIED', reason)
  }
  const notAllowed = metadata.filter((secret) => !isAllowedHost(target, secret.allowedHosts))
  if (notAllowed.length > 0) throw await refused(hostRefusal(target, notAllowed), notAllowed)

  const values = await readValues(client, names)
  const secrets: NamedSecret[] = [...values].map(([name, value]) => ({ name, value }))
  const tooShort = secrets.filter((secret) => [...secret.value].length < DEFAULT_MIN_REDACT_LENGTH)
  if (tooShort.length > 0) {
    throw await refused(
      `${tooShort.map((s) => s.name).join(', ')}: values shorter than ${DEFAULT_MIN_REDACT_LENGTH} characters cannot be masked in responses, so they are not sent`,
      metadata.filter((secret) => tooShort.some((s) => s.name === secret.name)),
    )
  }
  const mask = createRedactor(secrets)
  let url = parseTarget(substitute(input.url, values, true))
  // Encoded values cannot move the authority, but check rather than trust.
  if (url.origin !== target.origin)
    throw await refused('the substituted URL changed its host', metadata)

  const request = {
    method,
    headers: headers.map(([name, value]) => [name, substitute(value, values, false)]) as [
      string,
      string,
    ][],
    body: input.body === undefined ? undefined : substitute(input.body, values, false),
  }
  // Audit first: the use is on record before the values leave the process.
  await auditUse(client, names, { success: true })
  const signal = AbortSignal.timeout(limits.timeoutMs)
  const send = limits.fetch ?? fetch
  try {
    let redirects = 0
    for (;;) {
      const response = await send(url, { ...request, redirect: 'manual', signal })
      const location = response.headers.get('location')
      if (!REDIRECTS.has(response.status) || location === null) {
        const body = await readBody(response, secrets, limits.maxResponseBytes)
        const result = {
          status: response.status,
          url: mask(url.href),
          headers: Object.fromEntries([...response.headers].map(([k, v]) => [k, mask(v)])),
          body: body.text,
          truncated: body.truncated,
          redirects,
          secrets_used: names,
        }
        const text = `HTTP ${result.status} from ${url.host}${redirects > 0 ? ` after ${redirects} redirect(s)` : ''}${body.truncated ? ` (body cut at ${limits.maxResponseBytes} bytes)` : ''}\n\n${result.body}`
        return ok(result, text)
      }
      await response.body?.cancel()
      if (++redirects > limits.maxRedirects) {
        throw new ToolError('REQUEST_FAILED', `more than ${limits.maxRedirects} redirects`)
      }
      let next: URL
      try {
        next = parseTarget(location, url)
      } catch (error) {
        // The location may echo a value: its text stays out of the message.
        throw await refused(`a redirect was refused: ${mask(errorText(error))}`, metadata)
      }
      const offHost = metadata.filter((secret) => !isAllowedHost(next, secret.allowedHosts))
      if (offHost.length > 0) {
        throw await refused(`a redirect was refused: ${mask(hostRefusal(next, offHost))}`, offHost)
      }
      // As browsers do: 303 (and 301/302 after a POST) continue as a GET without the body.
      if (response.status === 303 || (request.method === 'POST' && response.status < 303)) {
        request.method = 'GET'
        request.body = undefined
      }
      url = next
    }
  } catch (error) {
    if (error instanceof KeywardenError || error instanceof ToolError) throw error
    const failure = signal.aborted
      ? new ToolError('TIMEOUT', `no complete response within ${limits.timeoutMs} ms`)
      : new ToolError(
          'REQUEST_FAILED',
          `the request to ${mask(url.host)} failed (${failureKind(error)})`,
        )
    await auditUse(client, names, { success: false, errorMessage: `http_request: ${failure.code}` })
    throw failure
  }
}

function hostRefusal(url: URL, secrets: readonly SecretMetadata[]): string {
  return secrets
    .map((secret) =>
      secret.allowedHosts.length === 0
        ? `${secret.name} may not be sent anywhere; the user can allow a host with \`keywarden set ${secret.name} --allow-host HOST\``
        : `${secret.name} may only be sent to ${secret.allowedHosts.join(', ')}, not to ${url.host}`,
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
 * Reads at most `maxBytes` of the body through a streaming redactor. On a cut the redactor's
 * held-back tail is dropped, not flushed: it may be the start of a value.
 */
async function readBody(
  response: Response,
  secrets: readonly NamedSecret[],
  maxBytes: number,
): Promise<{ text: string; truncated: boolean }> {
  if (response.body === null) return { text: '', truncated: false }
  const redactor = createStreamRedactor(secrets)
  const decoder = new TextDecoder()
  const reader = response.body.getReader()
  let text = ''
  let read = 0
  for (;;) {
    const { done, value } = await reader.read()
    if (done) break
    const room = maxBytes - read
    read += value.byteLength
    if (value.byteLength > room) {
      text += redactor.push(decoder.decode(value.subarray(0, room), { stream: true }))
      await reader.cancel()
      return { text, truncated: true }
    }
    text += redactor.push(decoder.decode(value, { stream: true }))
  }
  text += redactor.push(decoder.decode())
  return { text: text + redactor.flush(), truncated: false }
}
