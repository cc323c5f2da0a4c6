/**
 * The CLI's own error: a usage mistake (unknown command or flag, a missing argument, a value on
 * the command line). Exit code 2, one line on stderr. Everything else the CLI reports comes from
 * `@keywarden/core` as a KeywardenError with its own exit code.
 */
export class UsageError extends Error {
  readonly exitCode = 2
  constructor(message: string) {
    super(message)
    this.name = 'UsageError'
  }
}
