import { join } from 'node:path';
import type { DatabaseSync } from 'node:sqlite';
import { Type, type Static } from 'typebox';
import { createParser, parseJson } from '../../shared/contracts/parse';
import { parseModelManifest, type ModelManifest } from '../../shared/package';
import { DeploymentState, Id, ModelRef, Offer, ShadowMetrics, WarmupMetrics, WireError } from '../../shared/protocol';
import { readJsonIfExists } from '../storage/atomic-file';
import { SlotName } from '../storage/slots';

/**
 * The agent's persisted progress (one row in the outbox database, rewritten after every
 * transition). It is the single source of truth a restarted agent resumes from.
 */
export const DeploymentRecord = Type.Object({
  deploymentId: Id,
  offer: Offer,
  state: DeploymentState,
  enteredAtMs: Type.Number(),
  slot: Type.Optional(SlotName),
  bakeStartedAtMs: Type.Optional(Type.Number()),
  /** Agent starts that happened while this deployment was baking (crash-loop detection). */
  bakeRestarts: Type.Integer({ minimum: 0 }),
  warmup: Type.Optional(WarmupMetrics),
  shadow: Type.Optional(ShadowMetrics),
  /** Set by a rollback command; honoured at the next step boundary (or at once by waiting steps). */
  abort: Type.Optional(Type.Object({ commandId: Type.Optional(Id), reason: Type.String() })),
  error: Type.Optional(WireError),
  failedStep: Type.Optional(DeploymentState),
});
export type DeploymentRecord = Static<typeof DeploymentRecord>;

/**
 * The manifest of the model a deployment installs: its offer's, the same document `stage` writes
 * beside the model in the slot (and `verify` checked against the signature).
 */
export function manifestOf(record: DeploymentRecord): ModelManifest {
  return parseModelManifest.parse(record.offer.manifest);
}

export const FinishedDeployment = Type.Object({
  deploymentId: Id,
  state: DeploymentState,
  model: ModelRef,
});
export type FinishedDeployment = Static<typeof FinishedDeployment>;

export const AgentState = Type.Object({
  /** +1 on every agent start; with the connection count it orders presence documents. */
  bootSeq: Type.Integer({ minimum: 0 }),
  current: Type.Union([DeploymentRecord, Type.Null()]),
  /** The most recent finished deployments, newest last (a re-delivered retained offer is ignored). */
  finished: Type.Array(FinishedDeployment),
  /** Recently executed command ids (commands are executed once). */
  commandsSeen: Type.Array(Id),
});
export type AgentState = Static<typeof AgentState>;

const parseState = createParser(AgentState, 'agent state file', 'EDGEKD_INTERNAL');
export const MAX_FINISHED = 100;
export const MAX_COMMANDS = 200;

export interface StateStore {
  load(): Promise<AgentState>;
  /** Records the state: it survives kill -9 when this returns, power loss once `durable()` resolves. */
  save(state: AgentState): Promise<void>;
  durable(): Promise<void>;
}

/** The database the state shares with the outbox (edge/storage/outbox.ts), and its WAL fsync. */
export interface SharedDatabase {
  readonly database: DatabaseSync;
  wrote(): void;
  durable(): Promise<unknown>;
}

/**
 * The state lives in the outbox's SQLite database, not in its own file: a transition and the
 * status report about it are then made power-loss durable by one fsync of that database's WAL
 * (on the thread pool, shared by everything written before it), where `state.json` by write,
 * fsync, rename and directory fsync cost two more fsyncs per transition. With ~1,000 agents on a
 * machine, fsyncs were the rollout's floor. The reconciler waits for `durable()` before the next
 * step acts on the device, so a step never runs ahead of the persisted state it follows from. A
 * `state.json` left by an older agent is read once when the database has no state yet.
 */
export function createStateStore(stateDir: string, shared: SharedDatabase): StateStore {
  const db = shared.database;
  db.exec('CREATE TABLE IF NOT EXISTS agent_state (id INTEGER PRIMARY KEY CHECK (id = 1), json TEXT NOT NULL)');
  const upsert = db.prepare('INSERT INTO agent_state (id, json) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET json = excluded.json');
  const select = db.prepare('SELECT json FROM agent_state WHERE id = 1');
  return {
    async load() {
      const row = select.get() as unknown as { json: string } | undefined;
      const raw = row ? parseJson(row.json, 'agent state') : await readJsonIfExists(join(stateDir, 'state.json'), 'agent state file');
      return raw === undefined ? { bootSeq: 0, current: null, finished: [], commandsSeen: [] } : parseState.parse(raw);
    },
    async save(state) {
      upsert.run(JSON.stringify(state));
      shared.wrote();
    },
    async durable() {
      await shared.durable();
    },
  };
}
