import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  EXIT_CODES,
  errorFromDatabase,
  isKeywardenError,
  KeywardenError,
  type KeywardenErrorCode,
  validateSecretName,
  validateSecretValue,
} from './index.ts'

// Shapes the drivers really produce, built by hand so this suite needs no database.
function pgError(code: string, message: string, extra: Record<string, unknown> = {}): Error {
  return Object.assign(new Error(message), { code, severity: 'ERROR', ...extra })
}

function nodeError(code: string, message = `connect ${code} 127.0.0.1:5432`): Error {
  return Object.assign(new Error(message), { code, errno: -111, syscall: 'connect' })
}

describe('KeywardenError', () => {
  it('carries its code, exit code, secret name and cause', () => {
    const cause = new Error('socket closed')
    const error = new KeywardenError('SECRET_NOT_FOUND', 'secret not found', {
      secretName: 'github_token',
      cause,
    })
    expect(error).toBeInstanceOf(Error)
    expect(error.name).toBe('KeywardenError')
    expect(error.code).toBe('SECRET_NOT_FOUND')
    expect(error.exitCode).toBe(3)
    expect(error.secretName).toBe('github_token')
    expect(error.cause).toBe(cause)
  })

  it('drops a secretName that is not a valid name, since it may be a value', () => {
    const error = new KeywardenError('INVALID_NAME', 'bad', { secretName: 'ghp_Secret Value!' })
    expect(error.secretName).toBeUndefined()
    expect(JSON.stringify(error)).not.toContain('ghp_')
  })

  it('serializes to code and message only, never the cause', () => {
    const error = new KeywardenError('INTERNAL', 'unexpected error', {
      cause: { detail: 'Failing row contains (hunter2-secret)' },
      secretName: 'db_password',
    })
    expect(JSON.parse(JSON.stringify(error))).toEqual({
      name: 'KeywardenError',
      code: 'INTERNAL',
      message: 'unexpected error',
      secretName: 'db_password',
    })
  })

  it('maps every code to its documented exit status', () => {
    const expected: Record<KeywardenErrorCode, number> = {
      INTERNAL: 1,
      DECRYPTION_FAILED: 1,
      INVALID_NAME: 2,
      INVALID_VALUE: 2,
      INVALID_ARGUMENT: 2,
      SCHEMA_MISSING: 1,
      SCHEMA_TOO_NEW: 1,
      CONFIGURATION_ERROR: 1,
      VERIFICATION_FAILED: 1,
      ROOT_KEY_MISSING: 1,
      ROOT_KEY_INVALID: 1,
      ACCESS_DENIED: 1,
      SECRET_NOT_FOUND: 3,
      VAULT_UNAVAILABLE: 4,
    }
    expect(EXIT_CODES).toEqual(expected)
    for (const [code, exit] of Object.entries(expected)) {
      expect(new KeywardenError(code as KeywardenErrorCode, 'x').exitCode).toBe(exit)
    }
  })
})

describe('isKeywardenError', () => {
  it('recognizes instances and filters by code', () => {
    const error = new KeywardenError('VAULT_UNAVAILABLE', 'down')
    expect(isKeywardenError(error)).toBe(true)
    expect(isKeywardenError(error, 'VAULT_UNAVAILABLE')).toBe(true)
    expect(isKeywardenError(error, 'SECRET_NOT_FOUND', 'VAULT_UNAVAILABLE')).toBe(true)
    expect(isKeywardenError(error, 'SECRET_NOT_FOUND')).toBe(false)
  })

  it('rejects other errors and non-errors', () => {
    expect(isKeywardenError(new Error('x'))).toBe(false)
    expect(isKeywardenError({ name: 'KeywardenError', code: 'INTERNAL', message: 'x' })).toBe(false)
    expect(isKeywardenError(null)).toBe(false)
    expect(isKeywardenError('SECRET_NOT_FOUND')).toBe(false)
  })

  it('recognizes a KeywardenError from another copy of the package by its shape', () => {
    const foreign = Object.assign(new Error('gone'), {
      name: 'KeywardenError',
      code: 'SECRET_NOT_FOUND',
    })
    expect(isKeywardenError(foreign, 'SECRET_NOT_FOUND')).toBe(true)
    const unknownCode = Object.assign(new Error('x'), { name: 'KeywardenError', code: 'NOPE' })
    expect(isKeywardenError(unknownCode)).toBe(false)
  })
})

describe('validateSecretName', () => {
  it.each(['github_token', 'a', '0', 'openai.api-key_2', 'x'.repeat(128)])('accepts %s', (name) => {
    expect(validateSecretName(name)).toBe(name)
  })

  it.each([
    ['empty', ''],
    ['upper case', 'GITHUB_TOKEN'],
    ['leading dot', '.hidden'],
    ['leading dash', '-x'],
    ['space', 'my token'],
    ['too long', 'x'.repeat(129)],
    ['slash', 'a/b'],
    ['trailing newline', 'abc\n'],
  ])('rejects a name with %s, giving its length and never the name', (_, name) => {
    let caught: unknown
    try {
      validateSecretName(name)
    } catch (error) {
      caught = error
    }
    expect(isKeywardenError(caught, 'INVALID_NAME')).toBe(true)
    const error = caught as KeywardenError
    expect(error.message).toContain(`(${name.length} characters)`)
    if (name.length > 0) expect(error.message).not.toContain(name)
    expect(error.secretName).toBeUndefined()
  })

  it('never echoes a rejected name (a value pasted as a name)', () => {
    fc.assert(
      fc.property(fc.string({ minLength: 3 }), (name) => {
        fc.pre(!/^[a-z0-9][a-z0-9_.-]{0,127}$/.test(name))
        try {
          validateSecretName(name)
          return false
        } catch (error) {
          // The message is a fixed text around the length: nothing of the name can be in it.
          return (
            isKeywardenError(error, 'INVALID_NAME') &&
            error.message ===
              `invalid secret name (${name.length} characters): a name is lower-case letters a-z, digits 0-9, "_", "." and "-", starting with a letter or digit, at most 128 characters`
          )
        }
      }),
    )
  })

  it('rejects non-strings with their type', () => {
    expect(() => validateSecretName(42)).toThrowError(/expected a string, got number/)
    expect(() => validateSecretName(null)).toThrowError(/got null/)
  })
})

describe('validateSecretValue', () => {
  it('accepts a value up to 65536 UTF-8 bytes', () => {
    expect(validateSecretValue('ghp_x')).toBe('ghp_x')
    const max = 'a'.repeat(65_536)
    expect(validateSecretValue(max)).toBe(max)
    // 21845 three-byte characters plus one byte: exactly the limit.
    const multibyte = `${'€'.repeat(21_845)}a`
    expect(validateSecretValue(multibyte)).toBe(multibyte)
  })

  it('measures bytes, not characters', () => {
    const value = '€'.repeat(21_846) // 21846 characters, 65538 bytes
    expect(() => validateSecretValue(value)).toThrowError(
      /65538 bytes is over the 65536-byte limit/,
    )
  })

  it('rejects an empty value and non-strings', () => {
    expect(() => validateSecretValue('')).toThrowError(/it is empty/)
    expect(() => validateSecretValue(undefined)).toThrowError(/expected a string, got undefined/)
  })

  it('rejects what PostgreSQL text cannot hold as stored: NUL and unpaired surrogates', () => {
    for (const value of ['ab\u0000cd', 'ab\ud800cd', '\udc00abcd', 'abcd\ud83d']) {
      expect(() => validateSecretValue(value)).toThrowError(
        expect.objectContaining({ code: 'INVALID_VALUE' }),
      )
    }
    // A well-formed pair is one code point, and fine.
    expect(validateSecretValue('key-\ud83d\udd11')).toBe('key-\ud83d\udd11')
  })

  it('never puts the value in the message, and keeps a valid secret name', () => {
    const value = `sk-${'Z'.repeat(65_540)}`
    try {
      validateSecretValue(value, 'openai_api_key')
      expect.unreachable()
    } catch (error) {
      expect(isKeywardenError(error, 'INVALID_VALUE')).toBe(true)
      const { message, secretName } = error as KeywardenError
      expect(message).not.toContain('ZZZZ')
      expect(message).not.toContain('sk-')
      expect(secretName).toBe('openai_api_key')
    }
  })
})

describe('errorFromDatabase', () => {
  it.each([
    ['KW001', 'ROOT_KEY_MISSING'],
    ['KW002', 'ROOT_KEY_INVALID'],
    ['KW003', 'DECRYPTION_FAILED'],
    ['KW010', 'INVALID_NAME'],
    ['KW011', 'INVALID_VALUE'],
    ['KW012', 'INVALID_ARGUMENT'],
    ['KW404', 'SECRET_NOT_FOUND'],
    ['42501', 'ACCESS_DENIED'],
    ['28P01', 'ACCESS_DENIED'],
    ['08006', 'VAULT_UNAVAILABLE'],
    ['08001', 'VAULT_UNAVAILABLE'],
    ['57P01', 'VAULT_UNAVAILABLE'],
    ['57P02', 'VAULT_UNAVAILABLE'],
    ['57P03', 'VAULT_UNAVAILABLE'],
    ['53300', 'VAULT_UNAVAILABLE'],
    ['42883', 'CONFIGURATION_ERROR'],
    ['3D000', 'CONFIGURATION_ERROR'],
    ['23505', 'INTERNAL'],
    ['XX000', 'INTERNAL'],
  ] as const)('maps SQLSTATE %s from pg/PGlite to %s', (sqlState, code) => {
    const original = pgError(sqlState, 'server says no')
    const error = errorFromDatabase(original, { secretName: 'github_token' })
    expect(error.code).toBe(code)
    expect(error.sqlState).toBe(sqlState)
    if (code !== 'INTERNAL') expect(error.message).toBe('server says no')
    expect(error.cause).toBe(original)
    expect(error.secretName).toBe('github_token')
  })

  it.each([
    ['pgsodium_crypto_aead_det_decrypt_by_id: invalid ciphertext', 'DECRYPTION_FAILED'],
    ['pgsodium_crypto_aead_det_decrypt_by_id: invalid message', 'DECRYPTION_FAILED'],
    [
      'pgsodium_crypto_aead_det_encrypt_by_id: pgsodium_derive: no server secret key defined.',
      'ROOT_KEY_MISSING',
    ],
    ['invalid input syntax for type uuid: "ghp_x"', 'INTERNAL'],
  ] as const)(
    'maps the real supabase_vault 22000 "%s" to %s, with a message of its own',
    (text, code) => {
      const error = errorFromDatabase(pgError('22000', text))
      expect(error.code).toBe(code)
      expect(error.sqlState).toBe('22000')
      expect(error.message).not.toContain('ghp_')
      if (code === 'DECRYPTION_FAILED') expect(error.message).toMatch(/^decryption failed/)
    },
  )

  it("passes Keywarden's own messages through", () => {
    const error = errorFromDatabase(
      pgError('KW001', 'the root key is not set: set keywarden.root_key for this session'),
    )
    expect(error.message).toBe('the root key is not set: set keywarden.root_key for this session')
  })

  it('never copies an unknown error’s message, detail or hint, which can quote data', () => {
    const error = errorFromDatabase(
      pgError('22P02', 'invalid input syntax for type integer: "ghp_leakedvalue"', {
        detail: 'Failing row contains (ghp_leakedvalue)',
        hint: 'ghp_leakedvalue',
      }),
    )
    expect(error.code).toBe('INTERNAL')
    expect(error.message).toBe('unexpected database error (SQLSTATE 22P02)')
    expect(JSON.stringify(error)).not.toContain('ghp_')
  })

  it('does not copy the message of a non-database error either', () => {
    let thrown: unknown
    try {
      JSON.parse('ghp_notjson')
    } catch (error) {
      thrown = error
    }
    const error = errorFromDatabase(thrown)
    expect(error.code).toBe('INTERNAL')
    expect(error.message).toBe('unexpected error (SyntaxError)')
  })

  it('maps the PostgREST JSON error shape from supabase-js', () => {
    const postgrest = {
      code: 'KW404',
      message: 'secret not found',
      details: null,
      hint: null,
    }
    expect(errorFromDatabase(postgrest).code).toBe('SECRET_NOT_FOUND')
    expect(
      errorFromDatabase({ code: '42501', message: 'permission denied for function get_secret' })
        .code,
    ).toBe('ACCESS_DENIED')
    expect(
      errorFromDatabase({ code: 'PGRST202', message: 'Could not find the function' }).code,
    ).toBe('SCHEMA_MISSING')
    expect(errorFromDatabase({ code: 'PGRST301', message: 'JWT invalid' }).code).toBe(
      'ACCESS_DENIED',
    )
    expect(errorFromDatabase({ code: 'PGRST000', message: 'Could not connect' }).code).toBe(
      'VAULT_UNAVAILABLE',
    )
  })

  it.each([
    ['42883', 'function public.list_secret_names(unknown) does not exist'],
    ['42P01', 'relation "public.secret_access_log" does not exist'],
    ['PGRST202', 'Could not find the function public.get_secret(p_name) in the schema cache'],
    ['PGRST205', "Could not find the table 'public.secret_access_log' in the schema cache"],
  ])('maps %s (an unmigrated database) to SCHEMA_MISSING, saying what to run', (code, message) => {
    const error = errorFromDatabase({ code, message })
    expect(error.code).toBe('SCHEMA_MISSING')
    expect(error.message).toBe(
      `the vault's schema is missing or old (${message}): run \`keywarden db migrate\``,
    )
    expect(EXIT_CODES[error.code]).toBe(1)
  })

  it('keeps CONFIGURATION_ERROR for a 42883 that is not a missing function', () => {
    expect(
      errorFromDatabase({ code: '42883', message: 'operator does not exist: text = integer' }).code,
    ).toBe('CONFIGURATION_ERROR')
  })

  it('maps a supabase-js transport failure (code "", status 0) to VAULT_UNAVAILABLE', () => {
    const transport = {
      code: '',
      message: 'TypeError: fetch failed',
      details:
        'TypeError: fetch failed\n\nCaused by: Error: connect ECONNREFUSED 127.0.0.1:54321 (ECONNREFUSED)',
      hint: '',
    }
    const error = errorFromDatabase(transport, { httpStatus: 0 })
    expect(error.code).toBe('VAULT_UNAVAILABLE')
    expect(error.message).toContain('ECONNREFUSED')
  })

  it('uses the HTTP status when supabase-js has no code (gateway pages, API key errors)', () => {
    expect(errorFromDatabase({ message: '<html>502</html>' }, { httpStatus: 502 }).code).toBe(
      'VAULT_UNAVAILABLE',
    )
    expect(errorFromDatabase({ message: 'Invalid API key' }, { httpStatus: 401 }).code).toBe(
      'ACCESS_DENIED',
    )
    expect(errorFromDatabase({ message: 'Invalid API key' }).code).toBe('INTERNAL')
  })

  it.each(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND'])(
    'maps the Node socket error %s to VAULT_UNAVAILABLE',
    (code) => {
      const error = errorFromDatabase(nodeError(code))
      expect(error.code).toBe('VAULT_UNAVAILABLE')
      expect(error.message).toBe(`the vault is unavailable (${code})`)
      expect(error.sqlState).toBeUndefined()
    },
  )

  it('maps an AggregateError of refused connections (dual-stack localhost)', () => {
    const aggregate = new AggregateError([nodeError('ECONNREFUSED'), nodeError('ECONNREFUSED')])
    expect(errorFromDatabase(aggregate).code).toBe('VAULT_UNAVAILABLE')
  })

  it('maps pg’s "Connection terminated" errors, which have no code', () => {
    expect(errorFromDatabase(new Error('Connection terminated unexpectedly')).code).toBe(
      'VAULT_UNAVAILABLE',
    )
    expect(
      errorFromDatabase(new Error('Connection terminated due to connection timeout')).code,
    ).toBe('VAULT_UNAVAILABLE')
  })

  it('maps fetch TypeErrors, but not programming TypeErrors', () => {
    const fetchFailed = new TypeError('fetch failed', { cause: nodeError('ECONNRESET') })
    const unavailable = errorFromDatabase(fetchFailed)
    expect(unavailable.code).toBe('VAULT_UNAVAILABLE')
    expect(unavailable.message).toBe('the vault is unavailable (ECONNRESET)')
    expect(errorFromDatabase(new TypeError('Failed to fetch')).code).toBe('VAULT_UNAVAILABLE')
    expect(
      errorFromDatabase(new TypeError("Cannot read properties of undefined (reading 'x')")).code,
    ).toBe('INTERNAL')
  })

  it('returns a KeywardenError unchanged', () => {
    const original = new KeywardenError('SECRET_NOT_FOUND', 'secret not found')
    expect(errorFromDatabase(original, { secretName: 'other' })).toBe(original)
  })

  it('does not attach an invalid context name', () => {
    const error = errorFromDatabase(pgError('KW010', 'invalid secret name (9 characters)'), {
      secretName: 'NOT VALID',
    })
    expect(error.code).toBe('INVALID_NAME')
    expect(error.secretName).toBeUndefined()
  })

  it('handles non-object throwables', () => {
    expect(errorFromDatabase('boom').message).toBe('unexpected error (string)')
    expect(errorFromDatabase(undefined).code).toBe('INTERNAL')
  })
})
