/**
 * Writing to the terminal: plain text, JSON for scripts, tables, and colour only on a terminal
 * and never with NO_COLOR.
 */
import type { ProcessIO } from './context.ts'

type Paint = (text: string) => string

/** The output helpers a command writes through. */
export interface Output {
  /** `--json` was given. */
  readonly json: boolean
  /** A write to stdout failed (a full disk, a closed file; not a reader that went away). */
  readonly failed: boolean
  readonly colour: boolean
  /** Writes text to stdout as is. */
  write(text: string): void
  /** Writes a line to stdout. */
  line(text?: string): void
  /** Writes a value as indented JSON to stdout. */
  printJson(value: unknown): void
  /** Writes a line to stderr: notes, warnings, progress. */
  note(text: string): void
  /** Prints rows as an aligned table with a header. */
  table(
    columns: ReadonlyArray<{ key: string; header: string }>,
    rows: ReadonlyArray<Record<string, string>>,
  ): void
  readonly paint: { bold: Paint; dim: Paint; green: Paint; yellow: Paint; red: Paint }
}

const ansi =
  (open: number, close: number): Paint =>
  (text) =>
    `\u001b[${open}m${text}\u001b[${close}m`
const plain: Paint = (text) => text

/** Output for a process; colour when stdout is a terminal and NO_COLOR is unset. */
export function createOutput(io: ProcessIO, options: { json: boolean }): Output {
  const colour = io.stdout.isTTY === true && !io.env.NO_COLOR
  const paint = colour
    ? {
        bold: ansi(1, 22),
        dim: ansi(2, 22),
        green: ansi(32, 39),
        yellow: ansi(33, 39),
        red: ansi(31, 39),
      }
    : { bold: plain, dim: plain, green: plain, yellow: plain, red: plain }
  // A reader that went away (`keywarden list | head -1`) is not an error worth a stack trace:
  // stop writing and let the command finish, so the vault still closes and the audit flushes.
  let readerGone = false
  // Any other failure loses output the user asked for (`keywarden get x > /dev/full`): the
  // command's exit code must say so.
  let failed = false
  io.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (!readerGone && error.code !== 'EPIPE') {
      failed = true
      io.stderr.write(`keywarden: cannot write to stdout (${error.code ?? 'error'})\n`)
    }
    readerGone = true
  })
  const write = (text: string) => {
    if (!readerGone) io.stdout.write(text)
  }
  return {
    json: options.json,
    get failed() {
      return failed
    },
    colour,
    write,
    line: (text = '') => write(`${text}\n`),
    printJson: (value) => write(`${JSON.stringify(value, null, 2)}\n`),
    note: (text) => {
      io.stderr.write(`${text}\n`)
    },
    table(columns, rows) {
      const widths = columns.map((column) =>
        Math.max(column.header.length, ...rows.map((row) => visibleLength(row[column.key] ?? ''))),
      )
      // Padded by visible width: a painted cell carries escape codes that take no columns.
      const render = (cells: string[]) =>
        cells
          .map(
            (cell, index) =>
              cell + ' '.repeat(Math.max(0, (widths[index] ?? 0) - visibleLength(cell))),
          )
          .join('  ')
          .trimEnd()
      write(`${paint.bold(render(columns.map((column) => column.header)))}\n`)
      for (const row of rows) write(`${render(columns.map((column) => row[column.key] ?? ''))}\n`)
    },
    paint,
  }
}

// biome-ignore lint/suspicious/noControlCharactersInRegex: an ANSI escape starts with ESC
const ANSI_SEQUENCE = /\u001b\[[0-9;]*m/g

function visibleLength(text: string): number {
  return text.replace(ANSI_SEQUENCE, '').length
}
