/**
 * Every error the plugin answers is JSON `{ error: { code, message } }` with a 4xx that says
 * what went wrong, a 502/503 when GitHub or the vault is the problem, and a 500 only for a real
 * bug — whose message is never shown, since nobody vetted it for internals or values.
 * @module
 */
import { z } from '@hono/zod-openapi'
import { isKeywardenError, type KeywardenErrorCode } from '@keywarden/core'
import type { Context } from 'hono'
import { HTTPException } from 'hono/http-exception'
import type { ContentfulStatusCode } from 'hono/utils/http-status'

/** The body of every error answer, for the OpenAPI document. */
export const ErrorSchema = z
  .object({
    error: z.object({
      code: z.string().openapi({ example: 'SECRET_NOT_FOUND' }),
      message: z.string(),
    }),
  })
  .openapi('Error')

/** An error with its HTTP status, code and a message safe to show to the caller. */
export class ApiError extends Error {
  /** @param status the HTTP status @param code a stable code @param message for people, never a value */
  constructor(
    readonly status: ContentfulStatusCode,
    readonly code: string,
    message: string,
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super(message)
    this.name = 'ApiError'
  }
}

const STATUS_BY_CODE: Record<KeywardenErrorCode, ContentfulStatusCode> = {
  SECRET_NOT_FOUND: 404,
  ACCESS_DENIED: 403,
  VAULT_UNAVAILABLE: 503,
  INVALID_NAME: 400,
  INVALID_VALUE: 400,
  INVALID_ARGUMENT: 400,
  // A staged value failed its provider check: the request was understood, the value refused.
  VERIFICATION_FAILED: 422,
  // The deployment is misconfigured, not the request: fail closed and say so.
  ROOT_KEY_MISSING: 503,
  ROOT_KEY_INVALID: 503,
  DECRYPTION_FAILED: 503,
  CONFIGURATION_ERROR: 503,
  // A newer Keywarden migrated the database: this deployment must be upgraded.
  SCHEMA_TOO_NEW: 503,
  SCHEMA_MISSING: 503,
  INTERNAL: 500,
}

/** The JSON error body. */
export function errorBody(code: string, message: string) {
  return { error: { code, message } }
}

/** Answers `error` as JSON: its own status for known errors, a bare 500 for anything else. */
export function errorResponse(error: unknown, c: Context): Response {
  if (error instanceof ApiError) {
    return c.json(errorBody(error.code, error.message), error.status, { ...error.headers })
  }
  if (isKeywardenError(error)) {
    // `message` is vetted by the core (no values, no invalid names); `cause` is never shown.
    return c.json(errorBody(error.code, error.message), STATUS_BY_CODE[error.code])
  }
  if (error instanceof HTTPException) {
    // Hono's own: malformed JSON bodies, oversized bodies and the like.
    const status = error.status >= 500 ? 500 : (error.status as ContentfulStatusCode)
    return c.json(errorBody(codeForStatus(status), error.message || 'bad request'), status)
  }
  return c.json(errorBody('INTERNAL', 'unexpected error in the Keywarden plugin'), 500)
}

/** A stable code for a bare HTTP status. */
export function codeForStatus(status: number): string {
  switch (status) {
    case 400:
      return 'INVALID_REQUEST'
    case 401:
      return 'UNAUTHORIZED'
    case 404:
      return 'NOT_FOUND'
    case 405:
      return 'METHOD_NOT_ALLOWED'
    case 413:
      return 'PAYLOAD_TOO_LARGE'
    case 415:
      return 'UNSUPPORTED_MEDIA_TYPE'
    default:
      return status >= 500 ? 'INTERNAL' : 'INVALID_REQUEST'
  }
}

/**
 * Describes a failed validation in one line: where, and what was expected. zod's messages
 * state the expectation, never the received value.
 */
export function validationMessage(error: z.ZodError): string {
  return error.issues
    .slice(0, 5)
    .map((issue) => `${issue.path.length > 0 ? issue.path.join('.') : 'input'}: ${issue.message}`)
    .join('; ')
}

const ERROR_DESCRIPTIONS: Record<number, string> = {
  400: 'Invalid request',
  401: 'Missing, malformed or wrong bearer token',
  403: 'Refused',
  404: 'Not found',
  409: 'Conflict',
  413: 'Request body too large',
  422: 'Rejected by GitHub',
  429: 'Too many failed authentications, or GitHub rate limiting; see Retry-After',
  502: 'GitHub failed or rejected the configured token',
  503: 'Not configured, or the vault is unreachable',
}

/** OpenAPI `responses` entries for error statuses, all with {@link ErrorSchema}. */
export function errorResponses(...statuses: number[]) {
  return Object.fromEntries(
    statuses.map((status) => [
      status,
      {
        description: ERROR_DESCRIPTIONS[status] ?? 'Error',
        content: { 'application/json': { schema: ErrorSchema } },
      },
    ]),
  )
}

/** The errors every protected route may answer. */
export const PROTECTED_ERRORS = [400, 401, 413, 429, 503] as const
