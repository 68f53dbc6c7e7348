import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { Type, type Static } from 'typebox';
import { createParser, parseJson } from '../../shared/contracts/parse';
import { EdgekdError, parseErrorCode, toEdgekdError } from '../../shared/errors';
import type { Logger } from '../../shared/log/logger';
import type { FleetController } from '../fleet/fleet-controller';
import { RolloutRequest } from '../fleet/rollout/rollout-spec';
import type { RolloutSummary } from '../fleet/rollout-summary';
import { SerialQueue } from '../store/serial-queue';
import { migratedOnFirstUse, type Migration, type SqlDb } from '../store/sql-db';
import { fencedWrite } from './fenced-write';
import type { Fence } from './leader-lease';

/**
 * Rollout changes made on a process that does not lead the fleet (an `api` process), forwarded
 * to the leader through the store: the change is a row in `edgekd_fleet_commands`, announced with
 * NOTIFY; the leader claims it, applies it on its controller and writes the outcome, each in a
 * fenced write; the sender polls the row for the outcome. A change nobody claimed before its
 * deadline is withdrawn by the sender (a conditional update), so a leader elected later never
 * applies a change whose sender already answered "timed out".
 */
export const FleetCommand = Type.Union([
  Type.Object({ kind: Type.Literal('create'), request: RolloutRequest }, { additionalProperties: false }),
  Type.Object({ kind: Type.Literal('pause'), rolloutId: Type.String({ minLength: 1, maxLength: 200 }) }, { additionalProperties: false }),
  Type.Object({ kind: Type.Literal('resume'), rolloutId: Type.String({ minLength: 1, maxLength: 200 }) }, { additionalProperties: false }),
  Type.Object({ kind: Type.Literal('abort'), rolloutId: Type.String({ minLength: 1, maxLength: 200 }), reason: Type.Optional(Type.String({ maxLength: 500 })) }, { additionalProperties: false }),
]);
export type FleetCommand = Static<typeof FleetCommand>;
const parseCommand = createParser(FleetCommand, 'fleet command', 'EDGEKD_INVALID_ARGUMENT');

const commandMigrations: readonly Migration[] = [
  {
    id: 'fleet-commands-001',
    async up(db) {
      // state: pending → running (claimed by the leader) → done | failed; pending → withdrawn.
      await db.exec(`CREATE TABLE edgekd_fleet_commands (
        id TEXT PRIMARY KEY,
        body TEXT NOT NULL,
        state TEXT NOT NULL,
        result TEXT,
        error TEXT,
        sender TEXT NOT NULL,
        applied_by TEXT,
        token BIGINT,
        created_at BIGINT NOT NULL,
        deadline BIGINT NOT NULL,
        finished_at BIGINT
      )`);
      await db.exec('CREATE INDEX edgekd_fleet_commands_state ON edgekd_fleet_commands (state, created_at)');
    },
  },
];

/** The NOTIFY channel, per schema so installations sharing a database do not hear each other. */
const channelOf = (schema: string | undefined): string => `edgekd_fleet_cmd_${(schema ?? 'public').replace(/[^a-z0-9_]/gi, '').toLowerCase()}`;

export interface FleetCommandSender {
  send(command: FleetCommand): Promise<RolloutSummary>;
}

export interface SenderOptions {
  readonly db: SqlDb;
  /** This process's id (kept on the row, for the operator). */
  readonly sender: string;
  readonly schema?: string;
  readonly now?: () => number;
  /** How long the leader has to claim the change (default 15 s: longer than a takeover with the default 6 s lease). */
  readonly timeoutMs?: number;
  /** How often the sender reads the row for the outcome (default 100 ms). */
  readonly pollMs?: number;
  readonly newId?: () => string;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** The `api` side: sends a change and waits for the leader's outcome, or a clear timeout. */
export function createFleetCommandSender(o: SenderOptions): FleetCommandSender {
  const db = migratedOnFirstUse(o.db, commandMigrations);
  const now = o.now ?? Date.now;
  const timeoutMs = o.timeoutMs ?? 15_000;
  const pollMs = o.pollMs ?? 100;
  const channel = channelOf(o.schema);

  const outcome = async (id: string): Promise<RolloutSummary | 'waiting'> => {
    const rows = await db.query<{ state: string; result: string | null; error: string | null }>('SELECT state, result, error FROM edgekd_fleet_commands WHERE id = ?', [id]);
    const row = rows[0];
    if (row?.state === 'done') return JSON.parse(row.result!) as RolloutSummary;
    if (row?.state === 'failed') {
      const e = JSON.parse(row.error!) as { code: string; message: string };
      throw new EdgekdError(parseErrorCode(e.code, 'EDGEKD_INTERNAL'), e.message);
    }
    return 'waiting';
  };

  return {
    async send(command) {
      const body = parseCommand.parse(command);
      const id = (o.newId ?? randomUUID)();
      const at = now();
      await db.exec('INSERT INTO edgekd_fleet_commands (id, body, state, sender, created_at, deadline) VALUES (?, ?, ?, ?, ?, ?)', [id, JSON.stringify(body), 'pending', o.sender, at, at + timeoutMs]);
      if (db.dialect === 'postgres') await db.exec('SELECT pg_notify(?, ?)', [channel, id]);
      const waitUntil = async (end: number): Promise<RolloutSummary | 'waiting'> => {
        for (;;) {
          const r = await outcome(id);
          if (r !== 'waiting' || now() >= end) return r;
          await sleep(pollMs);
        }
      };
      const first = await waitUntil(at + timeoutMs);
      if (first !== 'waiting') return first;
      // Withdraw it unless the leader claimed it meanwhile; a claimed change gets as long again to finish.
      const withdrawn = await db.exec("UPDATE edgekd_fleet_commands SET state = 'withdrawn', finished_at = ? WHERE id = ? AND state = 'pending'", [now(), id]);
      if (withdrawn === 1) {
        throw new EdgekdError('EDGEKD_LEADER_TIMEOUT', `no fleet leader took the ${body.kind} within ${timeoutMs} ms (none elected, or a takeover under way); nothing was changed, try again`);
      }
      const late = await waitUntil(now() + timeoutMs);
      if (late !== 'waiting') return late;
      throw new EdgekdError('EDGEKD_LEADER_TIMEOUT', `the fleet leader took the ${body.kind} but gave no outcome within ${2 * timeoutMs} ms (it may have lost its lease); check the rollout before trying again`);
    },
  };
}

export interface ApplierOptions {
  readonly db: SqlDb;
  /** The leader's lease: claiming and recording an outcome are fenced writes. */
  readonly fence: Fence;
  readonly holder: string;
  readonly fleet: Pick<FleetController, 'createRollout' | 'pauseRollout' | 'resumeRollout' | 'abortRollout'>;
  /** postgres:// URL for the LISTEN connection; without it (or on SQLite) the applier polls only. */
  readonly connectionString?: string;
  readonly schema?: string;
  readonly now?: () => number;
  /** Fallback poll for notices missed while the listener reconnected (default 1 s). */
  readonly pollMs?: number;
  readonly log?: Logger;
}

async function apply(fleet: ApplierOptions['fleet'], c: FleetCommand): Promise<RolloutSummary> {
  switch (c.kind) {
    case 'create':
      return fleet.createRollout(c.request);
    case 'pause':
      return fleet.pauseRollout(c.rolloutId);
    case 'resume':
      return fleet.resumeRollout(c.rolloutId);
    case 'abort':
      return fleet.abortRollout(c.rolloutId, c.reason);
  }
}

/**
 * The leader side: applies forwarded changes, one at a time in the order they were sent, while
 * this process holds the fleet lease. Returns how to stop (on step-down or shutdown).
 */
export async function startFleetCommandApplier(o: ApplierOptions): Promise<() => Promise<void>> {
  const db = migratedOnFirstUse(o.db, commandMigrations);
  const now = o.now ?? Date.now;
  const queue = new SerialQueue();
  let stopped = false;

  const applyOne = async (id: string, raw: string): Promise<void> => {
    const claimed = await fencedWrite(db, o.fence, (tx) =>
      tx.exec("UPDATE edgekd_fleet_commands SET state = 'running', applied_by = ?, token = ? WHERE id = ? AND state = 'pending' AND deadline > ?", [o.holder, o.fence.token, id, now()]),
    );
    if (claimed !== 1) return;
    let state: 'done' | 'failed';
    let result: string | null = null;
    let error: string | null = null;
    try {
      const summary = await apply(o.fleet, parseCommand.parse(parseJson(raw, 'fleet command', 'EDGEKD_INVALID_ARGUMENT')));
      state = 'done';
      result = JSON.stringify(summary);
    } catch (e) {
      const err = toEdgekdError(e);
      state = 'failed';
      error = JSON.stringify({ code: err.code, message: err.message });
    }
    await fencedWrite(db, o.fence, (tx) => tx.exec('UPDATE edgekd_fleet_commands SET state = ?, result = ?, error = ?, finished_at = ? WHERE id = ?', [state, result, error, now(), id]));
    o.log?.info({ command: id, state }, 'applied a forwarded rollout change');
  };

  const drain = (): Promise<void> =>
    queue.run(async () => {
      if (stopped) return;
      const rows = await db.query<{ id: string; body: string }>("SELECT id, body FROM edgekd_fleet_commands WHERE state = 'pending' AND deadline > ? ORDER BY created_at, id", [now()]);
      for (const r of rows) {
        if (stopped) return;
        await applyOne(r.id, r.body);
      }
    });
  const drainLogged = (): void => void drain().catch((err: unknown) => o.log?.warn({ err }, 'forwarded rollout changes: a round failed'));

  let client: pg.Client | null = null;
  if (o.connectionString && db.dialect === 'postgres') {
    const channel = channelOf(o.schema);
    const c = new pg.Client({ connectionString: o.connectionString });
    // A lost listener only delays changes until the next poll.
    c.on('error', (err) => o.log?.warn({ err }, 'forwarded rollout changes: the listener lost its connection; polling only'));
    c.on('notification', (m) => {
      if (m.channel === channel) drainLogged();
    });
    try {
      await c.connect();
      await c.query(`LISTEN ${channel}`);
      client = c;
    } catch (err) {
      // Leading does not depend on the listener: changes are then picked up by the poll.
      o.log?.warn({ err }, 'forwarded rollout changes: cannot listen for notices; polling only');
      await c.end().catch(() => undefined);
    }
  }
  const timer = setInterval(drainLogged, o.pollMs ?? 1_000);
  drainLogged();
  return async () => {
    stopped = true;
    clearInterval(timer);
    await client?.end().catch(() => undefined);
    await queue.run(async () => undefined);
  };
}
