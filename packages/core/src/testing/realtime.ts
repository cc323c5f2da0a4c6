/**
 * Test-only: what Supabase provides of Realtime inside the database, so the change feed's
 * database half can be tested where the Realtime server (an Elixir service) cannot run. Run it
 * before the migrations (`createPostgresBackend({ prepare })`), as Supabase has it before a
 * user's migrations run.
 *
 * `realtime.send(payload jsonb, event text, topic text, private boolean default true)` has
 * Supabase's signature and behaviour: it inserts into `realtime.messages` in the caller's
 * transaction (the server broadcasts rows after commit) and turns its own failures into
 * warnings. Here nothing broadcasts: the rows are the record of what would have been sent.
 * `id` is an identity (as in Supabase's earlier `realtime.messages`) so tests can order calls.
 */
/** `realtime.send` as Supabase defines it (CREATE OR REPLACE, to restore it after a test). */
export const SUPABASE_REALTIME_SEND_SQL = `
CREATE OR REPLACE FUNCTION realtime.send(payload jsonb, event text, topic text, private boolean DEFAULT true)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  BEGIN
    PERFORM pg_catalog.set_config('realtime.topic', topic, true);
    INSERT INTO realtime.messages (payload, event, topic, private, extension)
    VALUES (payload, event, topic, private, 'broadcast');
  EXCEPTION WHEN OTHERS THEN
    RAISE WARNING 'ErrorSendingBroadcastMessage: %', SQLERRM;
  END;
END
$$`

/** The `realtime` schema, `realtime.messages` and `realtime.send`, as on Supabase. */
export const SUPABASE_REALTIME_SQL = `
CREATE SCHEMA realtime;
CREATE TABLE realtime.messages (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  topic text NOT NULL,
  extension text NOT NULL,
  payload jsonb,
  event text,
  private boolean DEFAULT false,
  updated_at timestamp NOT NULL DEFAULT now(),
  inserted_at timestamp NOT NULL DEFAULT now()
);
${SUPABASE_REALTIME_SEND_SQL};
GRANT USAGE ON SCHEMA realtime TO postgres;
GRANT SELECT, INSERT ON realtime.messages TO postgres;
GRANT EXECUTE ON FUNCTION realtime.send(jsonb, text, text, boolean) TO postgres;
`

/** One recorded `realtime.send` call. */
export interface RecordedBroadcast {
  id: number
  topic: string
  event: string
  private: boolean
  payload: Record<string, unknown>
}

/** Reads the recorded calls after `afterId`, oldest first (run it as the owner). */
export const RECORDED_BROADCASTS_SQL = `
SELECT id::int, topic, event, private, payload FROM realtime.messages WHERE id > $1 ORDER BY id`
