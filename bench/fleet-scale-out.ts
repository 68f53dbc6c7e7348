/**
 * Scale-out rows of bench:fleet (docs/scale-out.md): `edgekd cloud` processes on PostgreSQL
 * (127.0.0.1:5432) and Mosquitto (127.0.0.1:1883), agents from edge/sim (light engine) in child
 * processes, everything on this one machine.
 *
 *   npm run bench:fleet -- --scenario failover [--agents 300]   fleet, fleet, worker, api; leader killed mid-wave
 *   npm run bench:fleet -- --scenario scale [--agents 5000]     one wave of every agent, with 1 and then 2 ingest
 *                                                               processes (fleet; fleet + ingest) in the same run
 *
 * Rows are merged into bench/results/fleet.json (rows of other scenarios are kept) and into the
 * `bench:fleet-scale-out` block of BENCHMARKS.md.
 */
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join, resolve } from 'node:path';
import mqtt from 'mqtt';
import { simulatedDeviceIds, type SimulatedFleet } from '../edge/sim/fleet';
import { FleetStore } from '../cloud/fleet/store/fleet-store';
import { runLeaderKill, seedFleet, startAgents, startMultiCloud, type CloudProc, type MultiCloud } from '../test/scale/multi-process.test-helper';
import { until } from '../cloud/scale/postgres-schema.test-helper';
import { topicFor } from '../shared/protocol/codec';
import { MOSQUITTO_URL } from '../test/helpers/services';
import { machineSummary, markdownTable } from './report';

const root = resolve(import.meta.dirname, '..');

export interface FailoverRow {
  scenario: 'failover';
  /** Cloud processes (fleet, fleet, worker, api). */
  processes: number;
  agents: number;
  /** From the rollout's creation to the SIGKILL of the fleet leader. */
  leaderKilledAtSeconds: number;
  /** From the SIGKILL until the standby holds the lease and answers GET /api/fleet/leader with 200. */
  takeoverSeconds: number;
  /** From the rollout's creation until every device committed (null: not all). */
  allCommittedSeconds: number | null;
  failed: number;
  committed: number;
  committedAtKill: number;
  leaderTtlMs: number;
  /** Devices that saw more than one offer document for their deployment (the test requires 0). */
  devicesWithSecondOffer: number;
  /** Offers the new leader re-published unchanged (in flight at the kill). */
  offersRepublished: number;
  loadAverage1m: number;
}

export interface ScaleRow {
  scenario: 'scale';
  /** Processes in the ingest share group: the fleet leader, plus `processes - 1` `--role ingest` processes. */
  processes: number;
  agents: number;
  engine: 'light';
  packageBytes: number;
  allCommittedSeconds: number | null;
  /** Device reports the cloud stored (fleet_reports rows) per second of the rollout. */
  reportsPerSecond: number;
  reportsStored: number;
  failed: number;
  committed: number;
  agentStartSeconds: number;
  loadAverage1m: number;
  /** Highest 1-minute load average seen during the rollout (sampled every 250 ms). */
  loadAverage1mMax?: number;
  /** CPU seconds during the rollout: the fleet process, the ingest processes, all PostgreSQL processes, Mosquitto, the agent processes (Linux /proc). */
  cpuSeconds?: { fleet: number; ingest?: number; postgres: number; mosquitto: number; agents: number };
  /** Status reports logged by the `--role ingest` processes (the rest by the fleet leader). */
  reportsByIngestProcesses?: number;
  /** Device states every 10 s of the rollout (seconds: counts), to show where it stalled. */
  progress?: Array<{ seconds: number; counts: Record<string, number> }>;
  /** What bounds the row, where a goal is out of reach of this build. */
  limits?: string;
}

const round = (x: number): number => Math.round(x * 1000) / 1000;

/**
 * CPU seconds (user + system) used so far by the processes whose command line matches, from
 * /proc (Linux; 100 ticks per second). Processes that exit between two samples lose their share,
 * so it is sampled while the rollout's processes are all alive.
 */
function cpuSeconds(match: (cmdline: string) => boolean): number {
  let ticks = 0;
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      if (!match(readFileSync(`/proc/${pid}/cmdline`, 'utf8'))) continue;
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(f[11]) + Number(f[12]);
    } catch {
      // gone in between
    }
  }
  return ticks / 100;
}
const schemaName = (): string => `bench_${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;

async function clearRetained(deviceIds: readonly string[]): Promise<void> {
  const c = await mqtt.connectAsync(MOSQUITTO_URL, { protocolVersion: 4, reconnectPeriod: 0 });
  for (let i = 0; i < deviceIds.length; i += 250) {
    await Promise.all(deviceIds.slice(i, i + 250).flatMap((id) => [
      c.publishAsync(topicFor('presence', id), '', { qos: 1, retain: true }),
      c.publishAsync(topicFor('offer', id), '', { qos: 1, retain: true }),
    ]));
  }
  await c.endAsync();
}

/** The last output of each cloud process, for a run that failed. */
function printProcessLogs(cloud: MultiCloud): void {
  for (const p of cloud.procs) console.error(`--- ${p.role} ${p.processId}\n${p.out().slice(-3000)}`);
}

/** Stops the agents and the cloud processes, drops the schema, clears retained messages and the run's folder. */
async function stopAll(cloud: MultiCloud, agents: SimulatedFleet | undefined, deviceIds: readonly string[], dir: string | undefined): Promise<void> {
  await agents?.stop();
  await cloud.close({ dropSchema: true });
  await clearRetained(deviceIds).catch(() => undefined);
  if (dir) rmSync(dir, { recursive: true, force: true });
}

export async function runFailover(agentsN: number): Promise<FailoverRow> {
  const cloud = await startMultiCloud({ schema: schemaName() });
  const prefix = `bfo${Date.now().toString(36)}-`;
  const deviceIds = simulatedDeviceIds(prefix, agentsN);
  let agents: SimulatedFleet | undefined;
  let dir: string | undefined;
  try {
    const seeded = await seedFleet(cloud.db, { deviceIds, group: 'failover', packageBytes: 20_000, name: 'failover-model' });
    dir = seeded.dir;
    agents = startAgents({ prefix, agents: agentsN, processes: 2, trustedKeysFile: seeded.trustedKeysFile, stateDir: join(dir, 'agents') });
    await agents.ready();
    const load = os.loadavg()[0]!;
    const run = await runLeaderKill({ cloud, prefix, packageId: seeded.packageId, group: 'failover', agents: agentsN, timeoutMs: 180_000, killAfterCommitted: Math.round(agentsN / 6) });
    const byDevice = [...run.offers.byDevice().values()];
    await run.offers.close();
    return {
      scenario: 'failover', processes: run.processes, agents: agentsN, leaderKilledAtSeconds: round(run.leaderKilledAtSeconds), takeoverSeconds: round(run.takeoverSeconds),
      allCommittedSeconds: run.allCommittedSeconds === null ? null : round(run.allCommittedSeconds), failed: run.failed, committed: run.committed, committedAtKill: run.committedAtKill,
      leaderTtlMs: 6_000, devicesWithSecondOffer: byDevice.filter((s) => s.payloads.size > 1 || s.deployments.size > 1).length,
      offersRepublished: byDevice.filter((s) => s.publications > 1).length, loadAverage1m: round(load),
    };
  } catch (e) {
    printProcessLogs(cloud);
    throw e;
  } finally {
    await stopAll(cloud, agents, deviceIds, dir);
  }
}

/**
 * One `fleet` process (the leader) and `ingestProcesses - 1` `--role ingest` processes, all in one
 * (private) ingest share group, and N agents; one wave of all of them, no bake. Reports per
 * second: rows the cloud stored in fleet_reports during the rollout over its duration.
 */
export async function runScale(agentsN: number, ingestProcesses: number): Promise<ScaleRow> {
  const prefix = `bsc${Date.now().toString(36)}-`;
  const cloud = await startMultiCloud({ schema: schemaName(), ingestGroup: `bench-ingest-${prefix}` });
  const deviceIds = simulatedDeviceIds(prefix, agentsN);
  let agents: SimulatedFleet | undefined;
  let dir: string | undefined;
  const packageBytes = 20_000;
  try {
    const seeded = await seedFleet(cloud.db, { deviceIds, group: 'scale', packageBytes, name: 'scale-model' });
    dir = seeded.dir;
    const t0Agents = performance.now();
    agents = startAgents({ prefix, agents: agentsN, processes: 2, trustedKeysFile: seeded.trustedKeysFile, stateDir: join(dir, 'agents') });
    await agents.ready();
    const agentStartSeconds = (performance.now() - t0Agents) / 1000;
    const fleet = cloud.start('fleet', `${prefix}f`);
    const ingest = Array.from({ length: ingestProcesses - 1 }, (_, i) => cloud.start('ingest', `${prefix}i${i}`));
    await until('the fleet leader', async () => (await cloud.api(fleet, '/api/fleet/leader')).status === 200, 120_000);
    await Promise.all(ingest.map((p) => p.url()));
    const store = await FleetStore.open(cloud.db);
    const load = os.loadavg()[0]!;
    const reports0 = await store.countReports();
    const groups = {
      fleet: (c: string) => c.includes(`--process-id\0${prefix}f\0`),
      ingest: (c: string) => c.includes('--role\0ingest\0') && c.includes(`--process-id\0${prefix}i`),
      postgres: (c: string) => c.startsWith('postgres'),
      mosquitto: (c: string) => c.startsWith('mosquitto'),
      agents: (c: string) => c.includes('edge/sim/fleet-worker.ts'),
    };
    const cpu0 = Object.fromEntries(Object.entries(groups).map(([k, m]) => [k, cpuSeconds(m)]));
    const created = await cloud.api(fleet, '/api/rollouts', {
      method: 'POST',
      body: {
        packageId: seeded.packageId, target: { groups: ['scale'] }, waves: { canaryDevices: 0, firstWaveDevices: agentsN, growthFactor: 1 }, bakeMs: 0,
        gates: { abortFailurePercent: 100, minInstallSuccessPercent: 0 }, timeouts: { offeredMs: 300_000, stepMs: 300_000, rollbackMs: 30_000 },
      },
    });
    if (created.status !== 201) throw new Error(`rollout refused: ${created.status} ${JSON.stringify(created.body)}`);
    const t0 = performance.now();
    const id = (created.body as { id: string }).id;
    let state = (await store.getRollout(id))!;
    const progress: NonNullable<ScaleRow['progress']> = [];
    let loadMax = load;
    const countStates = (): Record<string, number> => {
      const counts: Record<string, number> = {};
      for (const dev of Object.values(state.devices)) {
        const k = dev.state === 'in_progress' ? `in_progress:${dev.step ?? '?'}` : dev.state;
        counts[k] = (counts[k] ?? 0) + 1;
      }
      return counts;
    };
    while (!['completed', 'rolled_back', 'aborted', 'failed'].includes(state.status) && performance.now() - t0 < 300_000) {
      await new Promise((r) => setTimeout(r, 250));
      state = (await store.getRollout(id))!;
      loadMax = Math.max(loadMax, os.loadavg()[0]!);
      const seconds = (performance.now() - t0) / 1000;
      if (seconds >= (progress.length + 1) * 10) {
        progress.push({ seconds: Math.round(seconds), counts: countStates() });
        console.error(`scale ${agentsN} agents, ${ingestProcesses} ingest: ${JSON.stringify(progress.at(-1))} load ${os.loadavg()[0]!.toFixed(1)}`);
      }
    }
    const seconds = (performance.now() - t0) / 1000;
    const cpu = Object.fromEntries(Object.entries(groups).map(([k, m]) => [k, round(cpuSeconds(m) - cpu0[k]!)])) as ScaleRow['cpuSeconds'] & object;
    const reports = (await store.countReports()) - reports0;
    const byIngest = await ingestLogged(cloud, ingest);
    const devs = Object.values(state.devices);
    const committed = devs.filter((d) => d.state === 'committed').length;
    return {
      scenario: 'scale', processes: ingestProcesses, agents: agentsN, engine: 'light', packageBytes, allCommittedSeconds: committed === agentsN ? round(seconds) : null,
      reportsPerSecond: Math.round(reports / seconds), reportsStored: reports, failed: devs.filter((d) => ['failed', 'rejected', 'timed_out'].includes(d.state)).length, committed,
      agentStartSeconds: round(agentStartSeconds), loadAverage1m: round(load), loadAverage1mMax: round(loadMax), cpuSeconds: cpu,
      ...(ingest.length ? { reportsByIngestProcesses: byIngest } : {}),
      progress,
      limits: 'Every process (cloud, PostgreSQL, Mosquitto, the 2 agent processes) shares the same 2 cores, which other work on the machine also uses',
    };
  } catch (e) {
    printProcessLogs(cloud);
    throw e;
  } finally {
    await stopAll(cloud, agents, deviceIds, dir);
  }
}

/** Status reports logged by the ingest processes, from their /metrics. */
async function ingestLogged(cloud: MultiCloud, procs: readonly CloudProc[]): Promise<number> {
  let n = 0;
  for (const p of procs) {
    const text = await (await fetch(`${await p.url()}/metrics`, { headers: { authorization: `Bearer ${cloud.token}` } })).text();
    n += Number(/^edgekd_ingest_reports_logged_total (\d+)/m.exec(text)?.[1] ?? 0);
  }
  return n;
}

/** "N agents: 2 processes X reports/s vs 1 process Y (ratio)" for each agent count with both rows. */
function twoVsOne(scale: readonly ScaleRow[]): string {
  const parts: string[] = [];
  for (const agents of [...new Set(scale.map((r) => r.agents))]) {
    const one = scale.find((r) => r.agents === agents && r.processes === 1);
    const two = scale.find((r) => r.agents === agents && r.processes === 2);
    if (one && two) parts.push(`${agents} agents: ${two.reportsPerSecond} vs ${one.reportsPerSecond} reports/s (×${(two.reportsPerSecond / Math.max(1, one.reportsPerSecond)).toFixed(2)})`);
  }
  return parts.join('; ') || 'no pair of rows';
}

const BEGIN = '<!-- bench:fleet-scale-out -->';
const END = '<!-- /bench:fleet-scale-out -->';

type Provenance = Record<string, { command: string; measuredAt: string; machine?: string }>;

export function scaleOutMarkdown(rows: ReadonlyArray<FailoverRow | ScaleRow>, provenance: Provenance): string {
  const failover = rows.filter((r): r is FailoverRow => r.scenario === 'failover');
  const scale = rows.filter((r): r is ScaleRow => r.scenario === 'scale');
  const parts = ['### Scale-out (PostgreSQL + Mosquitto, several cloud processes)', ''];
  if (failover.length) {
    parts.push(
      '`failover`: `edgekd cloud --role fleet` ×2, `--role worker` and `--role api` as child processes on one PostgreSQL schema and Mosquitto; a rollout (canary 10, then waves of 40, 80, …; no bake) to N light-engine agents in 2 processes, created on the leader; the leader is killed with SIGKILL once a wave is in flight. ' +
        'Takeover is from the SIGKILL until the standby holds the lease and answers `GET /api/fleet/leader` (lease ttl 6 s: the lease lapses up to 6 s after the last renewal, then the standby starts its fleet controller, which loads the rollout and replays the reports logged after its last snapshot). Times are wall clock in the benchmark process.',
      '',
      markdownTable(failover, [
        ['processes', (r) => r.processes],
        ['agents', (r) => r.agents],
        ['leader killed at (s)', (r) => r.leaderKilledAtSeconds],
        ['committed at kill', (r) => r.committedAtKill],
        ['takeover (s)', (r) => r.takeoverSeconds],
        ['all committed (s)', (r) => r.allCommittedSeconds ?? `not all (${r.committed})`],
        ['failed', (r) => r.failed],
        ['devices offered twice', (r) => r.devicesWithSecondOffer],
        ['offers re-published unchanged', (r) => r.offersRepublished],
        ['load avg', (r) => r.loadAverage1m],
      ]),
      '',
      `Goal (takeover within 10 s, rollout completes, zero failed): ${failover.map((r) => (r.takeoverSeconds <= 10 && r.allCommittedSeconds !== null && r.failed === 0 ? 'met' : 'NOT met') + ` (${r.takeoverSeconds} s, ${r.failed} failed)`).join('; ')}.`,
      '',
    );
  }
  if (scale.length) {
    parts.push(
      '`scale`: one `edgekd cloud --role fleet` process (the leader), alone (1 ingest process) or with one `edgekd cloud --role ingest` process in the same MQTT 5 share group (2), on PostgreSQL and Mosquitto; N light-engine agents in 2 processes, one wave of all of them (20 KB package, MQTT chunks, no bake). Reports per second = rows the cloud stored in `fleet_reports` during the rollout / its duration. Rows of one agent count come from one run, one after the other.',
      '',
      markdownTable(scale, [
        ['ingest processes', (r) => r.processes],
        ['agents', (r) => r.agents],
        ['all committed (s)', (r) => r.allCommittedSeconds ?? `not all (${r.committed})`],
        ['reports/s', (r) => r.reportsPerSecond],
        ['reports stored', (r) => r.reportsStored],
        ['by the ingest process', (r) => r.reportsByIngestProcesses ?? '–'],
        ['failed', (r) => r.failed],
        ['agent start (s)', (r) => r.agentStartSeconds],
        ['CPU s: fleet / ingest / postgres / mosquitto / agents', (r) => (r.cpuSeconds ? `${r.cpuSeconds.fleet} / ${r.cpuSeconds.ingest ?? '–'} / ${r.cpuSeconds.postgres} / ${r.cpuSeconds.mosquitto} / ${r.cpuSeconds.agents}` : '–')],
        ['CPU share of the 2 cores', (r) => (r.cpuSeconds && r.allCommittedSeconds ? `${Math.round((100 * Object.values(r.cpuSeconds).reduce((a, b) => a + b, 0)) / (2 * r.allCommittedSeconds))}%` : '–')],
        ['load avg (start / max)', (r) => `${r.loadAverage1m} / ${r.loadAverage1mMax ?? '–'}`],
      ]),
      '',
      `Goal (5,000 agents all committed within 60 s, zero failed): ${scale.filter((r) => r.agents >= 5000).map((r) => (r.allCommittedSeconds !== null && r.allCommittedSeconds <= 60 && r.failed === 0 ? 'met' : 'NOT met') + ` (${r.allCommittedSeconds ?? 'not all committed'} s, ${r.failed} failed)`).join('; ') || 'no 5,000-agent row'}. ` +
        `Two ingest processes against one (same run, same agent count): ${twoVsOne(scale)}. ${scale.at(-1)?.limits ?? ''}.`,
      '',
    );
  }
  for (const [scenario, p] of Object.entries(provenance).sort()) parts.push(`\`${scenario}\`: last run \`${p.command}\` — measured ${p.measuredAt} on ${p.machine ?? machineSummary()}.`, '');
  return `${BEGIN}\n${parts.join('\n')}\n${END}`;
}

/** Merges rows of the scenarios run into fleet.json (other rows kept) and the block into BENCHMARKS.md (inside the fleet section). */
export function mergeScaleOutReport(rows: ReadonlyArray<FailoverRow | ScaleRow>, command: string): void {
  const jsonPath = resolve(root, 'bench/results/fleet.json');
  const prev = existsSync(jsonPath) ? (JSON.parse(readFileSync(jsonPath, 'utf8')) as { rows?: Array<{ scenario?: string }>; [k: string]: unknown }) : { rows: [] };
  // A row replaces the earlier row of the same scenario, agent count and process count only.
  const keyOf = (r: { scenario?: string; agents?: number; processes?: number }): string => `${r.scenario}/${r.agents}/${r.processes}`;
  const replacedKeys = new Set(rows.map(keyOf));
  const replaced = new Set(rows.map((r) => r.scenario));
  const kept = (prev.rows ?? []).filter((r) => !replacedKeys.has(keyOf(r)));
  const measuredAt = new Date().toISOString();
  const scaleOut: Provenance = { ...((prev.scaleOut as Provenance) ?? {}), ...Object.fromEntries([...replaced].map((s) => [s, { command, machine: machineSummary(), measuredAt }])) };
  const all = [...kept, ...rows] as Array<{ scenario?: string }>;
  writeFileSync(jsonPath, JSON.stringify({ ...prev, name: 'fleet', scaleOut, rows: all }, null, 2) + '\n');
  const mdPath = resolve(root, 'BENCHMARKS.md');
  const md = readFileSync(mdPath, 'utf8');
  const block = scaleOutMarkdown(all.filter((r): r is FailoverRow | ScaleRow => r.scenario === 'failover' || r.scenario === 'scale'), scaleOut);
  const i = md.indexOf(BEGIN);
  const j = md.indexOf(END);
  const fleetEnd = md.indexOf('<!-- /bench:fleet -->');
  const next = i >= 0 && j > i ? md.slice(0, i) + block + md.slice(j + END.length) : fleetEnd >= 0 ? `${md.slice(0, fleetEnd)}${block}\n${md.slice(fleetEnd)}` : `${md.trimEnd()}\n\n${block}\n`;
  writeFileSync(mdPath, next);
}

/** For a full bench:fleet run, which rewrites the fleet section: the scale-out rows and block of the last scale-out run. */
export function keptScaleOut(): { rows: Array<FailoverRow | ScaleRow>; block: string } {
  const jsonPath = resolve(root, 'bench/results/fleet.json');
  const prev = existsSync(jsonPath) ? (JSON.parse(readFileSync(jsonPath, 'utf8')) as { rows?: Array<{ scenario?: string }> }) : { rows: [] };
  const rows = (prev.rows ?? []).filter((r): r is FailoverRow | ScaleRow => r.scenario === 'failover' || r.scenario === 'scale');
  const md = existsSync(resolve(root, 'BENCHMARKS.md')) ? readFileSync(resolve(root, 'BENCHMARKS.md'), 'utf8') : '';
  const i = md.indexOf(BEGIN);
  const j = md.indexOf(END);
  return { rows, block: i >= 0 && j > i ? md.slice(i, j + END.length) : '' };
}
