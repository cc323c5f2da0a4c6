/**
 * Reading a secret value: from stdin when it is piped, else from a hidden prompt on the
 * terminal. Never from the command line, where shell history and `ps` would keep it.
 */
import { KeywardenError } from '@keywarden/core'
import type { ProcessIO } from './context.ts'
import { UsageError } from './errors.ts'

/**
 * The value: all of stdin without one trailing newline (so `echo "$TOKEN" | keywarden set x`
 * stores the token, not the newline), or what is typed at a prompt that echoes nothing.
 */
export async function readSecretValue(io: ProcessIO, prompt: string): Promise<string> {
  const value = io.stdin.isTTY ? await promptHidden(io, prompt) : await readAll(io.stdin)
  const trimmed = value.replace(/\r?\n$/, '')
  if (trimmed === '') {
    throw new KeywardenError(
      'INVALID_VALUE',
      io.stdin.isTTY
        ? 'no value was typed'
        : 'no value on stdin (pipe it in, e.g. `pbpaste | keywarden set NAME`)',
    )
  }
  return trimmed
}

async function readAll(stream: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = []
  for await (const chunk of stream) {
    chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer))
  }
  try {
    // Fatal: Buffer's decoding would store bytes that are not UTF-8 as U+FFFD, silently.
    return new TextDecoder('utf-8', { fatal: true }).decode(Buffer.concat(chunks))
  } catch {
    throw new KeywardenError(
      'INVALID_VALUE',
      'the value on stdin is not valid UTF-8 text; a binary value must be encoded first, e.g. `base64 < key.bin | keywarden set NAME`',
    )
  }
}

function promptHidden(io: ProcessIO, prompt: string): Promise<string> {
  const { stdin, stderr } = io
  return new Promise((resolve, reject) => {
    let value = ''
    // Echo off before the prompt shows: what is typed the moment it appears must not echo.
    stdin.setRawMode?.(true)
    stderr.write(prompt)
    stdin.resume()
    stdin.setEncoding?.('utf8')
    const finish = (error?: Error) => {
      stdin.setRawMode?.(false)
      stdin.pause()
      stdin.removeListener('data', onData)
      stderr.write('\n')
      if (error) reject(error)
      else resolve(value)
    }
    const onData = (chunk: string | Buffer) => {
      for (const char of String(chunk)) {
        if (char === '\r' || char === '\n' || char === '\u0004') return finish()
        if (char === '\u0003') return finish(new UsageError('cancelled'))
        if (char === '\u007f' || char === '\b') value = value.slice(0, -1)
        else value += char
      }
    }
    stdin.on('data', onData)
  })
}

/** Asks a yes/no question on the terminal; false unless the answer starts with y. */
export function confirm(io: ProcessIO, question: string): Promise<boolean> {
  const { stdin, stderr } = io
  return new Promise((resolve) => {
    stderr.write(`${question} [y/N] `)
    stdin.resume()
    stdin.setEncoding?.('utf8')
    // End of input (Ctrl-D) is a no, not a prompt that waits forever.
    const onEnd = () => {
      stderr.write('\n')
      resolve(false)
    }
    stdin.once('end', onEnd)
    stdin.once('data', (chunk) => {
      stdin.removeListener('end', onEnd)
      stdin.pause()
      resolve(/^\s*y/i.test(String(chunk)))
    })
  })
}
