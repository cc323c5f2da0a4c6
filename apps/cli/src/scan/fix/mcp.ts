/**
 * The one place where `keywarden scan --fix` wraps an MCP configuration: it runs
 * `keywarden mcp-config --wrap --yes --config FILE` in-process and reads its JSON answer, so the
 * wrap logic (which variables move, what the vault must agree with, how the entry is rewritten,
 * backups and the atomic replace) has a single copy. When mcp-config learns every client's
 * format, this is the call to switch.
 */
import { chmod } from 'node:fs/promises'
import { run as mcpConfig } from '../../commands/mcp-config.ts'
import type { CommandContext } from '../../context.ts'
import type { Output } from '../../output.ts'

/** What wrapping one file did. */
export interface WrapResult {
  /** The servers now run through `keywarden run`, and the variables each had moved. */
  wrapped: Array<{ server: string; variables: Array<{ variable: string; secret: string }> }>
  /** Servers left as they were, with why (the vault holds a different value, …). */
  refused: Array<{ server: string; reason: string }>
  /** The original file's copy (mode 0600), or null when nothing was written. */
  backup: string | null
}

/** Wraps the servers of the MCP configuration `file` whose env holds secrets. */
export async function wrapMcpServers(context: CommandContext, file: string): Promise<WrapResult> {
  let answer: unknown
  const quiet: Output = {
    ...context.out,
    json: true,
    failed: false,
    write: () => {},
    line: () => {},
    table: () => {},
    printJson: (value) => {
      answer = value
    },
  }
  await mcpConfig(
    { ...context, out: quiet },
    { positionals: [], values: { wrap: true, yes: true, config: file }, passthrough: [] },
  )
  const result = answer as Partial<WrapResult> | undefined
  const backup = typeof result?.backup === 'string' ? result.backup : null
  // mcp-config keeps its backup with the file's own mode; this one holds the moved tokens.
  if (backup !== null) await chmod(backup, 0o600)
  return { wrapped: result?.wrapped ?? [], refused: result?.refused ?? [], backup }
}
