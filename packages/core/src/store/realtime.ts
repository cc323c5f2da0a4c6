/**
 * The supabase store's change feed: Supabase Realtime broadcasts that a trigger on
 * `keywarden.secrets` sends (migration `20261203000009_realtime_changes.sql`), turned into the
 * same `subscribe(listener)` calls the postgres store makes from LISTEN. Runtime-neutral.
 *
 * Realtime delivers at most once: a client that was disconnected may have missed changes, so
 * every time the channel (re)joins, the listener hears {@link ALL_SECRETS_CHANGED} and the
 * client drops its whole cache. The cache TTL stays the fallback for anything still missed.
 * @module
 */
import { SECRET_NAME_PATTERN } from '../errors/index.ts'

/** The private Realtime topic the database broadcasts secret changes on. */
export const REALTIME_TOPIC = 'keywarden:secrets'
/** The broadcast event of one change; its payload is `{ name, version, op }`, never a value. */
export const REALTIME_EVENT = 'secret_changed'
/** What a listener hears when it may have missed changes: drop everything. */
export const ALL_SECRETS_CHANGED = '*'

/** A broadcast as supabase-js hands it to an `.on('broadcast', …)` callback. */
export interface RealtimeBroadcast {
  event?: string
  payload?: unknown
}

/**
 * The part of supabase-js's `RealtimeChannel` the feed uses, so tests (and other transports)
 * can give a channel of their own.
 */
export interface ChangeChannel {
  on(
    type: 'broadcast',
    filter: { event: string },
    callback: (message: RealtimeBroadcast) => void,
  ): unknown
  /** Joins; `callback` gets `SUBSCRIBED` on every (re)join, and the failures in between. */
  subscribe(callback: (status: string, error?: Error) => void): unknown
  unsubscribe(): Promise<unknown>
}

/** Opens a private channel on `topic`, not yet joined. */
export type OpenChangeChannel = (topic: string) => ChangeChannel

/** A running feed; `stop()` leaves the channel. */
export interface ChangeFeed {
  stop(): Promise<void>
}

/**
 * Joins the change topic and calls `onChange` with a secret's name for each broadcast, and
 * with {@link ALL_SECRETS_CHANGED} each time the channel is joined (the first time included:
 * the cache may have been filled while it was joining). Does not wait for the join: until the
 * first `SUBSCRIBED`, the flush that comes with it covers whatever was cached meanwhile.
 */
export function startChangeFeed(
  openChannel: OpenChangeChannel,
  onChange: (name: string) => void,
): ChangeFeed {
  const channel = openChannel(REALTIME_TOPIC)
  channel.on('broadcast', { event: REALTIME_EVENT }, (message) => {
    const name = changedName(message)
    // A malformed message cannot say what changed: drop everything rather than guess.
    onChange(name ?? ALL_SECRETS_CHANGED)
  })
  channel.subscribe((status) => {
    if (status === 'SUBSCRIBED') onChange(ALL_SECRETS_CHANGED)
  })
  return {
    async stop() {
      await channel.unsubscribe()
    },
  }
}

/** The secret name in a broadcast's payload, or undefined when it carries none. */
function changedName(message: RealtimeBroadcast): string | undefined {
  const payload = message.payload
  if (typeof payload !== 'object' || payload === null) return undefined
  const name = (payload as { name?: unknown }).name
  return typeof name === 'string' && SECRET_NAME_PATTERN.test(name) ? name : undefined
}
