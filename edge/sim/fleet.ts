import { fork, type ChildProcess } from 'node:child_process';
import { simProcessEnv } from './sim-process-env';
import { fileURLToPath } from 'node:url';
import { EdgekdError } from '../../shared/errors';
import type { FleetSliceSpec, FleetSliceStatus } from './fleet-agents';

export interface SimulatedFleetOptions extends Omit<FleetSliceSpec, 'deviceIds'> {
  readonly agents: number;
  /** Worker processes; agents are split evenly. */
  readonly processes: number;
  readonly idPrefix: string;
}

export interface SimulatedFleet {
  readonly deviceIds: readonly string[];
  /** Resolves when every agent has started and connected (birth published). */
  ready(): Promise<void>;
  status(): Promise<FleetSliceStatus>;
  /** Reports each agent ever wrote to its outbox, by device id. */
  reportsWritten(): Promise<Record<string, number>>;
  stop(): Promise<void>;
}

/** Device ids of a simulated fleet: `<prefix>00001`, … (fixed width so they sort). */
export function simulatedDeviceIds(prefix: string, n: number): string[] {
  const width = Math.max(5, String(n).length);
  return Array.from({ length: n }, (_, i) => `${prefix}${String(i + 1).padStart(width, '0')}`);
}

/**
 * Starts N real agents in P forked processes (each agent: own MQTT connection, own state dir,
 * own SQLite outbox). Workers run TypeScript through tsx (`--import tsx`).
 */
export function startSimulatedFleet(o: SimulatedFleetOptions): SimulatedFleet {
  if (o.agents < 1 || o.processes < 1) throw new EdgekdError('EDGEKD_INVALID_ARGUMENT', 'agents and processes must be ≥ 1');
  const deviceIds = simulatedDeviceIds(o.idPrefix, o.agents);
  const procs = Math.min(o.processes, o.agents);
  const workerFile = fileURLToPath(new URL('./fleet-worker.ts', import.meta.url));
  const children: ChildProcess[] = [];
  const readies: Array<Promise<void>> = [];
  for (let p = 0; p < procs; p++) {
    const ids = deviceIds.filter((_, i) => i % procs === p);
    const child = fork(workerFile, [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'], env: simProcessEnv(ids.length) });
    children.push(child);
    const { agents: _a, processes: _p, idPrefix: _i, ...rest } = o;
    const spec: FleetSliceSpec = { ...rest, deviceIds: ids };
    readies.push(
      new Promise((resolve, reject) => {
        const onMsg = (m: { type: string; message?: string }): void => {
          if (m.type === 'ready') {
            child.off('message', onMsg);
            resolve();
          } else if (m.type === 'error') reject(new EdgekdError('EDGEKD_INTERNAL', `simulation worker ${p}: ${m.message}`));
        };
        child.on('message', onMsg);
        child.once('exit', (code) => reject(new EdgekdError('EDGEKD_INTERNAL', `simulation worker ${p} exited with ${code}`)));
      }),
    );
    child.send({ type: 'start', spec });
  }
  const ask = (child: ChildProcess): Promise<FleetSliceStatus | null> =>
    new Promise((resolve) => {
      const onMsg = (m: { type: string; status?: FleetSliceStatus }): void => {
        if (m.type !== 'status') return;
        child.off('message', onMsg);
        resolve(m.status ?? null);
      };
      child.on('message', onMsg);
      child.send({ type: 'status' });
    });
  return {
    deviceIds,
    ready: () => Promise.all(readies).then(() => undefined),
    async status() {
      const all = await Promise.all(children.map(ask));
      const s: FleetSliceStatus = { agents: 0, connected: 0, byModel: {}, outboxPending: 0 };
      for (const x of all) {
        if (!x) continue;
        s.agents += x.agents;
        s.connected += x.connected;
        s.outboxPending += x.outboxPending;
        for (const [k, v] of Object.entries(x.byModel)) s.byModel[k] = (s.byModel[k] ?? 0) + v;
      }
      return s;
    },
    async reportsWritten() {
      const parts = await Promise.all(
        children.map(
          (child) =>
            new Promise<Record<string, number>>((resolve) => {
              const onMsg = (m: { type: string; reports?: Record<string, number> }): void => {
                if (m.type !== 'reports') return;
                child.off('message', onMsg);
                resolve(m.reports ?? {});
              };
              child.on('message', onMsg);
              child.send({ type: 'reports' });
            }),
        ),
      );
      return Object.assign({}, ...parts) as Record<string, number>;
    },
    async stop() {
      await Promise.all(
        children.map(
          (c) =>
            new Promise<void>((resolve) => {
              if (c.exitCode !== null) return resolve();
              const t = setTimeout(() => c.kill('SIGKILL'), 15_000);
              c.once('exit', () => {
                clearTimeout(t);
                resolve();
              });
              c.send({ type: 'stop' });
            }),
        ),
      );
    },
  };
}
