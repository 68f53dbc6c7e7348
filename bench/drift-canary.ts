import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startEmbeddedBroker, type EmbeddedBroker } from '../cloud/broker/embedded-broker';
import { openSqlite } from '../cloud/store/sqlite-db';
import { FleetStore } from '../cloud/fleet/store/fleet-store';
import { DeviceRegistry } from '../cloud/fleet/registry/device-registry';
import { createFleetController, type FleetController } from '../cloud/fleet/fleet-controller';
import { isTerminal } from '../cloud/fleet/rollout/rollout-engine';
import type { RolloutRequest } from '../cloud/fleet/rollout/rollout-spec';
import { fleetCanaryRollout } from '../cloud/retrain/fleet-canary';
import { DEFAULT_RETRAIN_ROLLOUT } from '../cloud/retrain/retrain-loop';
import type { RolloutOutcome } from '../cloud/retrain/steps';
import type { RetrainContext } from '../cloud/retrain/steps';
import { createFleetSlice, type FleetSlice } from '../edge/sim/fleet-agents';
import { readPackageDir, type ModelManifest, type ModelPackage } from '../shared/package';
import type { TensorInput } from '../shared/protocol';
import { createLogger } from '../shared/log/logger';
import type { DeployedPackage } from './drift-deploy';

/**
 * The canary request of the benchmark's retrain rollouts: the production loop's waves and bake
 * (`DEFAULT_RETRAIN_ROLLOUT`) plus shadow evaluation and ML-quality gates. Each device runs the
 * candidate in shadow beside the serving model on its next live inputs before it activates.
 * `fleetCanaryRollout` turns the gates below into the drift-repair gates (the candidate's shadow
 * class histogram closer to the line's class prior than v1's, agreement ≥ 0.25, |confidence shift|
 * ≤ 0.3, no errors; `cloud/retrain/drift-repair-request.ts`). The agreement ≥ 0.5 written here is
 * the regression gate the first loop measurements used (`fleetCanaryRollout`'s `mlGate: 'regression'`).
 */
export const BENCH_CANARY_REQUEST: Omit<RolloutRequest, 'packageId' | 'target'> = {
  ...DEFAULT_RETRAIN_ROLLOUT,
  bakeMs: 2000,
  gates: { minShadowAgreement: 0.5, maxConfidenceShift: 0.3, maxErrorRate: 0, requireMetrics: true },
  activation: { shadow: { inferences: 128, maxWaitMs: 60_000 }, bakeMs: 1000 },
  timeouts: { offeredMs: 120_000, stepMs: 120_000, rollbackMs: 60_000 },
};

export interface CanaryFleet {
  /** The rollout step: the fleet canary on the real agents while they serve `feed`'s inputs. */
  rollout(pkg: ModelPackage, ctx: RetrainContext): Promise<RolloutOutcome & { gates: unknown }>;
  active(): Array<string | null>;
  close(): Promise<void>;
}

const GROUP = 'bench-line';

/**
 * A real fleet for the loop's rollout step, in this process: an embedded MQTT broker, the cloud's
 * fleet controller on an in-memory store, and `devices` real edge agents (`createAgent`, onnxruntime,
 * own state dirs and outboxes) provisioned in one group. v1 is rolled out to them first (no gates).
 * The retrain's package then goes through `fleetCanaryRollout`, the production loop's rollout engine,
 * while `feed` keeps every agent serving the (shifted) field stream, so shadow evaluation and bake
 * see live inputs.
 */
export async function startCanaryFleet(o: {
  devices: number;
  deployed: DeployedPackage;
  workDir: string;
  /** The next batch for agent `i` (raw inputs as a camera sends them), or null when there is none. */
  feed: (agent: number, manifest: ModelManifest) => TensorInput | null;
  request?: Omit<RolloutRequest, 'packageId' | 'target'>;
  log: (m: string) => void;
}): Promise<CanaryFleet> {
  const quiet = createLogger('bench-canary', 'warn');
  mkdirSync(o.workDir, { recursive: true });
  const db = openSqlite(':memory:');
  const service = { username: 'edgekd-cloud', password: randomBytes(18).toString('base64url') };
  const registry = new DeviceRegistry(await FleetStore.open(db), Date.now, service);
  const ids = Array.from({ length: o.devices }, (_, i) => `canary-${i}`);
  const credentials: Record<string, string> = {};
  for (const id of ids) credentials[id] = (await registry.provision({ deviceId: id, groups: [GROUP] })).password;
  let broker: EmbeddedBroker | null = null;
  let ctl: FleetController | null = null;
  let slice: FleetSlice | null = null;
  const close = async () => {
    await slice?.stop();
    await ctl?.close();
    await broker?.close();
  };
  try {
    broker = await startEmbeddedBroker({ port: 0, authenticate: (u, p) => registry.authenticate(u, p) });
    const url = `mqtt://127.0.0.1:${broker.port}`;
    ctl = await createFleetController({ db, brokerUrl: url, logger: quiet, tickMs: 100, mqttUsername: service.username, mqttPassword: service.password, mqttClientId: service.username, protocolVersion: 4 });
    for (const k of o.deployed.trusted.keys) await ctl.addTrustedKey(k);
    const trustedKeysFile = join(o.workDir, 'trusted-keys.json');
    writeFileSync(trustedKeysFile, JSON.stringify(o.deployed.trusted));
    slice = createFleetSlice(
      { deviceIds: ids, brokerUrl: url, trustedKeysFile, stateDir: join(o.workDir, 'agents'), engine: 'onnxruntime', protocolVersion: 4, heartbeatIntervalMs: 5000, startConcurrency: o.devices, credentials, connectTimeoutMs: 30_000 },
      quiet,
    );
    await slice.start();
    const fleet = ctl;
    const agents = slice.agents;

    // v1 on every agent, as the line's first model: no canary, no gates.
    const v1 = await readPackageDir(o.deployed.dir);
    const r1 = await fleet.registerPackage({ manifest: v1.manifest, signature: v1.signature, model: v1.model });
    const ro1 = await fleet.createRollout({ packageId: r1.packageId, target: { groups: [GROUP] }, waves: { canaryDevices: 0, firstWaveDevices: o.devices, growthFactor: 1 }, bakeMs: 0, gates: { minInstallSuccessPercent: 100, abortFailurePercent: 0 } });
    for (const t0 = Date.now(); ; ) {
      const s = (await fleet.getRolloutState(ro1.id))!;
      if (isTerminal(s.status)) {
        if (s.status !== 'completed') throw new Error(`the canary fleet's v1 rollout ended ${s.status}`);
        break;
      }
      if (Date.now() - t0 > 180_000) throw new Error('the canary fleet did not install v1 within 3 minutes');
      await sleep(100);
    }
    o.log(`canary fleet: ${o.devices} real agents on an embedded broker serve ${o.deployed.manifest.name} v${o.deployed.manifest.version}`);

    const engine = fleetCanaryRollout({ fleet, request: o.request ?? BENCH_CANARY_REQUEST, pollMs: 200, timeoutMs: 10 * 60_000 });
    return {
      async rollout(pkg, ctx) {
        // The field keeps flowing while the canary runs: the agents' shadow step and bake need it.
        let feeding = true;
        const feeders = agents.map(async (a, i) => {
          while (feeding) {
            const active = a.runtime.active();
            const input = active ? o.feed(i, active.manifest) : null;
            if (input) await a.infer(input, { topK: 1 }).catch(() => undefined);
            await sleep(input ? 5 : 50);
          }
        });
        try {
          const out = await engine(pkg, { groups: [GROUP] }, ctx);
          const state = await fleet.getRolloutState(out.rolloutId);
          const gates = state?.waves.map((w) => ({ wave: w.index, devices: w.deviceIds.length, verdict: w.verdict ?? null })) ?? null;
          return { ...out, gates };
        } finally {
          feeding = false;
          await Promise.all(feeders);
        }
      },
      active: () => agents.map((a) => a.status().activeModel?.version ?? null).map((v) => (v === null ? null : String(v))),
      close,
    };
  } catch (e) {
    await close();
    throw e;
  }
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
