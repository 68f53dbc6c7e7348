import type { TrustedKeys } from '../../shared/package';
import type { StatusReport } from '../../shared/protocol';
import type { ResolvedAgentConfig } from '../agent/config';
import type { ChunkTransport } from '../delivery/mqtt-chunk-download';
import type { LoadedModel, ModelRuntime } from '../inference/model-runtime';
import type { SlotStore } from '../storage/slots';
import type { DeploymentRecord } from './deployment-record';
import type { ModelLoader } from './model-loader';

/** Models held in memory between steps (lost on restart; every step can rebuild them from disk). */
export interface ModelMemory {
  /** Warmed candidate, not serving yet. */
  candidate: LoadedModel | null;
  /** The model that served before the switch, kept for a fast rollback until commit. */
  previous: LoadedModel | null;
}

/** What every executor gets. */
export interface ExecContext {
  readonly config: ResolvedAgentConfig;
  readonly slots: SlotStore;
  readonly runtime: ModelRuntime;
  readonly trustedKeys: TrustedKeys;
  readonly chunks: ChunkTransport;
  readonly memory: ModelMemory;
  readonly record: DeploymentRecord;
  readonly signal: AbortSignal;
  readonly runtimeVersion: string;
  readonly maxOpset: number;
  readonly nowMs: () => number;
  readonly newId: () => string;
  readonly partPath: string;
  readonly diskFreeBytes: () => Promise<number | null>;
  readonly fetchImpl?: typeof fetch;
  /** Download progress (heartbeats show it). */
  progress(bytesDone: number): void;
  /** Records measurements on the deployment before a step returns or throws. */
  note(patch: Partial<DeploymentRecord>): void;
  /** Loads (no warm-up) slot models; a deployment's own manifest comes from `record` (`manifestOf`). */
  readonly models: ModelLoader;
}

/** What a step returns: fields for the record and extra fields for the status report of the next state. */
export interface StepResult {
  readonly patch?: Partial<DeploymentRecord>;
  readonly report?: Partial<StatusReport>;
}
