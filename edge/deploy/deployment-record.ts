import { join } from 'node:path';
import { Type, type Static } from 'typebox';
import { createParser } from '../../shared/contracts/parse';
import { DeploymentState, Id, ModelRef, Offer, ShadowMetrics, WarmupMetrics, WireError } from '../../shared/protocol';
import { readJsonIfExists, writeFileAtomic } from '../storage/atomic-file';
import { SlotName } from '../storage/slots';

/**
 * The agent's persisted progress (`<stateDir>/state.json`, replaced atomically after every
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
  save(state: AgentState): Promise<void>;
}

export function createStateStore(stateDir: string): StateStore {
  const path = join(stateDir, 'state.json');
  return {
    async load() {
      const raw = await readJsonIfExists(path, 'agent state file');
      return raw === undefined ? { bootSeq: 0, current: null, finished: [], commandsSeen: [] } : parseState.parse(raw);
    },
    save: (state) => writeFileAtomic(path, JSON.stringify(state)),
  };
}
