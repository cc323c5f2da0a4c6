import { UsageError } from './errors.ts'

const UNITS: Readonly<Record<string, number>> = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 }

/**
 * A duration like `90d`, `24h`, `30m` or `45s`, in milliseconds.
 * @throws {UsageError} naming `flag` for anything else.
 */
export function parseDuration(text: string, flag: string): number {
  const match = /^(\d+)([smhd])$/.exec(text.trim())
  const amount = match?.[1]
  const unit = match?.[2]
  if (!amount || !unit) throw new UsageError(`${flag} must be a duration like 90d, 24h, 30m or 45s`)
  return Number(amount) * (UNITS[unit] ?? 0)
}

/**
 * A `--days N` window: a whole number of days from 0 to 3650, default 7.
 * @throws {UsageError} for anything else.
 */
export function daysFrom(days: unknown): number {
  if (days === undefined) return 7
  const value = Number(days)
  if (typeof days !== 'string' || !/^\d+$/.test(days) || value > 3650) {
    throw new UsageError('--days must be a whole number from 0 to 3650')
  }
  return value
}
