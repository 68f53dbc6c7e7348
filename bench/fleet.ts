/**
 * Fleet rollout benchmark: a 200 KB signed package rolled out to N simulated agents through the
 * embedded broker (aedes, in the cloud process) and through Mosquitto (127.0.0.1:1883), one wave
 * of all N devices, no bake, MQTT chunk delivery (64 KiB chunks).
 *
 *   npm run bench:fleet               100, 1,000 and 5,000 agents on both brokers
 *   npm run bench:fleet -- --quick    100 and 1,000 agents (under 5 minutes)
 *   … -- --agents 200 --brokers embedded --impl scripted
 *   npm run bench:fleet -- --scenario broker-restart   only the broker-restart scenario (1,000
 *                                     agents on each broker; --restart-agents N, --down-ms MS)
 *   npm run bench:fleet -- --scenario failover   fleet leader killed mid-rollout (300 agents; --agents N)
 *   npm run bench:fleet -- --scenario scale      5,000 agents, 1 and then 2 ingest processes (--agents N, --ingest 1,2)
 *                                     (both: bench/fleet-scale-out.ts, PostgreSQL and Mosquitto)
 *
 * The broker-restart scenario (bench/fleet-broker-restart.ts) restarts an authenticated broker
 * (embedded, and a private Mosquitto on its own port with the files the cloud generates) under N
 * online agents in the middle of a rollout; its rows carry `scenario: "broker-restart"`.
 *
 * Measured in the cloud process: time from createRollout until every device is terminal, per-device
 * time from offer to committed (cloud clock), messages and bytes through the cloud's MQTT client,
 * and the cloud process's CPU time (process.cpuUsage; with the embedded broker that includes the
 * broker). Agents run in child processes (2 by default, this machine has 2 cores shared with them).
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os, { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import mqtt from 'mqtt';
import { startEmbeddedBroker } from '../cloud/broker/embedded-broker';
import { openSqlite } from '../cloud/store/sqlite-db';
import { createFleetController } from '../cloud/fleet/fleet-controller';
import { simProcessEnv } from '../edge/sim/sim-process-env';
import { resolveAgentConfig } from '../edge/agent/config';
import { isTerminal } from '../cloud/fleet/rollout/rollout-engine';
import { percentile } from '../shared/math/percentile';
import { createLogger } from '../shared/log/logger';
import { topicFor } from '../shared/protocol/codec';
import { sizedPackage } from '../test/fleet/helpers/sized-package';
import { MOSQUITTO_URL, tcpReachable } from '../test/helpers/services';
import { machineSummary, markdownTable, writeBenchReport } from './report';
import { runBrokerRestart, type BrokerRestartRow } from './fleet-broker-restart';
import { keptScaleOut, mergeScaleOutReport, runFailover, runScale, scaleOutMarkdown, type FailoverRow, type ScaleRow } from './fleet-scale-out';

const root = resolve(import.meta.dirname, '..');
const AGENT_RECONNECT_BASE_MS = resolveAgentConfig({ deviceId: 'bench', stateDir: 's', trustedKeysFile: 'k.json', mqtt: { url: 'mqtt://127.0.0.1' } }, tmpdir()).mqtt.reconnectPeriodMs;
const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    agents: { type: 'string' },
    brokers: { type: 'string', default: 'embedded,mosquitto' },
    /** `edge`: real agents (createAgent, light engine) in child processes; `scripted`: the protocol-only test device. */
    impl: { type: 'string', default: 'edge' },
    processes: { type: 'string', default: '2' },
    'timeout-s': { type: 'string', default: '120' },
    'no-report': { type: 'boolean', default: false },
    /** all | rollout | broker-restart | failover | scale (failover and scale run only when named) */
    scenario: { type: 'string', default: 'all' },
    /** scale scenario: ingest process counts, one row each (fleet leader alone = 1). */
    ingest: { type: 'string', default: '1,2' },
    'restart-agents': { type: 'string', default: '1000' },
    'down-ms': { type: 'string', default: '2000' },
    /** First backoff windows to compare (default: the agent's own default, mqtt.reconnectPeriodMs). */
    'reconnect-base-ms': { type: 'string', default: String(AGENT_RECONNECT_BASE_MS) },
  },
});

export interface FleetBenchRow {
  scenario: 'rollout';
  broker: 'embedded' | 'mosquitto';
  agents: number;
  agentImpl: string;
  packageBytes: number;
  allCommittedSeconds: number | null;
  p50Seconds: number | null;
  p99Seconds: number | null;
  committed: number;
  failed: number;
  messages: number;
  messagesPerSecond: number;
  bytesSent: number;
  cloudCpuSeconds: number;
  cloudCpuPercentOfOneCore: number;
  /** Seconds to start and connect all agents of this broker run (once per broker, before the first row). */
  agentStartSeconds: number;
  /** 1-minute load average when the rollout started (the machine is shared). */
  loadAverage1m: number;
  /** Mean time devices spent in each state/step before the next one (cloud clock). */
  meanStepSeconds: Record<string, number>;
}

const PACKAGE_BYTES = 200_000;
const log = createLogger('bench-fleet', process.env.EDGEKD_LOG_LEVEL ?? 'warn');

interface Launched {
  child: ChildProcess;
  ready: Promise<void>;
}

function launch(impl: string, url: string, prefix: string, from: number, count: number, workDir: string, trustedKeysFile: string): Launched {
  const args =
    impl === 'scripted'
      ? [join(root, 'bin/run-ts.mjs'), join(root, 'test/fleet/helpers/scripted-fleet-process.ts'), url, prefix, String(from), String(count)]
      : [join(root, 'bin/run-ts.mjs'), join(root, 'bench/fleet-agent-process.ts'), url, prefix, String(from), String(count), join(workDir, 'agents'), trustedKeysFile];
  const child = spawn(process.execPath, args, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'], env: { ...simProcessEnv(count), EDGEKD_LOG_LEVEL: 'warn' } });
  let err = '';
  child.stderr!.on('data', (b: Buffer) => (err = (err + b.toString()).slice(-4000)));
  const ready = new Promise<void>((res, rej) => {
    let out = '';
    child.stdout!.on('data', (b: Buffer) => {
      out += b.toString();
      if (/^ready$/m.test(out)) res();
    });
    child.once('exit', (code) => rej(new Error(`agent process exited with ${code} before ready: ${err}`)));
  });
  return { child, ready };
}

/**
 * One broker: start max(sizes) agents once, then for each size N (ascending) roll out version k of
 * the package to the first N agents (so later rows include agents that upgrade from the previous
 * version rather than install a first model; with the light engine and no shadow step both paths
 * do the same work).
 */
async function runBroker(broker: 'embedded' | 'mosquitto', sizes: number[], impl: string, processes: number, timeoutS: number): Promise<FleetBenchRow[]> {
  const work = mkdtempSync(join(tmpdir(), 'edgekd-bench-fleet-'));
  const embedded = broker === 'embedded' ? await startEmbeddedBroker({ port: 0 }) : null;
  const url = embedded?.url ?? MOSQUITTO_URL;
  const db = openSqlite(join(work, 'fleet.db'));
  const cloud = await createFleetController({ db, brokerUrl: url, logger: log, protocolVersion: broker === 'mosquitto' ? 5 : 4, tickMs: 100 });
  const children: ChildProcess[] = [];
  const prefix = `bench${Date.now().toString(36)}`;
  const maxAgents = Math.max(...sizes);
  const rows: FleetBenchRow[] = [];
  try {
    const first = sizedPackage({ targetBytes: PACKAGE_BYTES, version: 1, name: 'bench-model' });
    await cloud.addTrustedKey(first.trustedKeys.keys[0]!);
    const trustedKeysFile = join(work, 'trusted-keys.json');
    writeFileSync(trustedKeysFile, JSON.stringify(first.trustedKeys));
    const ids: string[] = [];
    for (let i = 0; i < maxAgents; i++) {
      ids.push(`${prefix}-${i}`);
      await cloud.provisionDevice({ deviceId: `${prefix}-${i}` });
    }
    const t0Agents = performance.now();
    const per = Math.ceil(maxAgents / processes);
    const launched: Launched[] = [];
    for (let p = 0; p < processes && p * per < maxAgents; p++) launched.push(launch(impl, url, prefix, p * per, Math.min(per, maxAgents - p * per), work, trustedKeysFile));
    children.push(...launched.map((l) => l.child));
    await Promise.all(launched.map((l) => l.ready));
    const agentStartSeconds = (performance.now() - t0Agents) / 1000;

    for (const [k, agents] of sizes.entries()) {
      const fx = k === 0 ? first : sizedPackage({ targetBytes: PACKAGE_BYTES, version: k + 1, name: 'bench-model', key: first.key });
      const pkg = await cloud.registerPackage({ manifest: fx.pkg.manifest, signature: fx.pkg.signature, model: fx.pkg.model });
      const target = ids.slice(0, agents);
      // Step timeline per device from the engine's device-state notices (cloud clock).
      const stepEntries = new Map<string, Array<[string, number]>>();
      const onNotice = (e: { notice: { kind: string; deviceId?: string; state?: string; step?: string } }): void => {
        const nt = e.notice;
        if (nt.kind !== 'device-state' || !nt.deviceId) return;
        const list = stepEntries.get(nt.deviceId) ?? [];
        list.push([nt.state === 'in_progress' ? (nt.step ?? '?') : nt.state!, performance.now()]);
        stepEntries.set(nt.deviceId, list);
      };
      cloud.events.on('rollout', onNotice);
      const load1 = os.loadavg()[0]!;
      const cpu0 = process.cpuUsage();
      const s0 = cloud.stats();
      const t0 = performance.now();
      const r = await cloud.createRollout({
        packageId: pkg.packageId,
        target: { devices: target },
        waves: { canaryDevices: 0, firstWaveDevices: agents, growthFactor: 1 },
        bakeMs: 0,
        gates: { abortFailurePercent: 100, minInstallSuccessPercent: 0 },
        timeouts: { offeredMs: timeoutS * 1000, stepMs: timeoutS * 1000, rollbackMs: 10_000 },
      });
      let state = (await cloud.getRolloutState(r.id))!;
      const deadline = t0 + timeoutS * 1000;
      while (!isTerminal(state.status) && performance.now() < deadline) {
        await new Promise((res) => setTimeout(res, 50));
        state = (await cloud.getRolloutState(r.id))!;
      }
      const t1 = performance.now();
      const cpu = process.cpuUsage(cpu0);
      const s1 = cloud.stats();
      cloud.events.off('rollout', onNotice);
      if (!isTerminal(state.status)) await cloud.abortRollout(r.id, 'benchmark timeout').catch(() => undefined);
      const devs = Object.values(state.devices);
      const committed = devs.filter((d) => d.state === 'committed');
      const lat = committed.map((d) => ((d.finishedAt ?? 0) - (d.offeredAt ?? 0)) / 1000);
      const seconds = (t1 - t0) / 1000;
      const stepSums = new Map<string, { total: number; n: number }>();
      for (const list of stepEntries.values()) {
        for (let i = 0; i + 1 < list.length; i++) {
          const [name, at] = list[i]!;
          const acc = stepSums.get(name) ?? { total: 0, n: 0 };
          acc.total += list[i + 1]![1] - at;
          acc.n++;
          stepSums.set(name, acc);
        }
      }
      const messages = s1.messagesIn - s0.messagesIn + (s1.messagesOut - s0.messagesOut);
      const cpuSeconds = (cpu.user + cpu.system) / 1e6;
      const row: FleetBenchRow = {
        scenario: 'rollout',
        broker,
        agents,
        agentImpl: impl,
        packageBytes: fx.pkg.model.byteLength,
        allCommittedSeconds: committed.length === agents ? round(seconds) : null,
        p50Seconds: lat.length ? round(percentile(lat, 50)!) : null,
        p99Seconds: lat.length ? round(percentile(lat, 99)!) : null,
        committed: committed.length,
        failed: agents - committed.length,
        messages,
        messagesPerSecond: Math.round(messages / seconds),
        bytesSent: s1.bytesOut - s0.bytesOut,
        cloudCpuSeconds: round(cpuSeconds),
        cloudCpuPercentOfOneCore: Math.round((100 * cpuSeconds) / seconds),
        agentStartSeconds: round(agentStartSeconds),
        loadAverage1m: round(load1),
        meanStepSeconds: Object.fromEntries([...stepSums].map(([n, v]) => [n, round(v.total / v.n / 1000)])),
      };
      console.log(JSON.stringify(row));
      rows.push(row);
    }
    return rows;
  } finally {
    for (const c of children) if (c.exitCode === null) c.kill('SIGTERM');
    await Promise.all(children.map((c) => (c.exitCode === null ? new Promise((res) => c.once('exit', res)) : undefined)));
    await cloud.close();
    await db.close();
    if (broker === 'mosquitto') await clearRetained(url, prefix, maxAgents);
    await embedded?.close();
    rmSync(work, { recursive: true, force: true });
  }
}

/** Leaves the shared Mosquitto as it was: clears the retained presence and offers of the bench devices. */
async function clearRetained(url: string, prefix: string, agents: number): Promise<void> {
  const c = await mqtt.connectAsync(url, { protocolVersion: 4, reconnectPeriod: 0 });
  for (let i = 0; i < agents; i++) {
    await c.publishAsync(topicFor('presence', `${prefix}-${i}`), '', { qos: 1, retain: true });
    await c.publishAsync(topicFor('offer', `${prefix}-${i}`), '', { qos: 1, retain: true });
  }
  await c.endAsync();
}

const round = (x: number): number => Math.round(x * 1000) / 1000;

async function restartRows(brokers: Array<'embedded' | 'mosquitto'>): Promise<BrokerRestartRow[]> {
  const out: BrokerRestartRow[] = [];
  let hasMosquitto = true;
  try {
    execFileSync('which', ['mosquitto'], { stdio: 'ignore' });
  } catch {
    hasMosquitto = false;
  }
  for (const broker of brokers) for (const base of values['reconnect-base-ms']!.split(',').map(Number)) {
    if (broker === 'mosquitto' && !hasMosquitto) continue;
    const row = await runBrokerRestart({ broker, reconnectBaseMs: base, agents: Number(values['restart-agents']), processes: Number(values.processes), downMs: Number(values['down-ms']), timeoutS: Math.max(60, Number(values['timeout-s'])), log });
    console.log(JSON.stringify(row));
    out.push(row);
  }
  return out;
}

function restartMarkdown(rows: BrokerRestartRow[]): string {
  if (rows.length === 0) return '';
  const table = markdownTable(rows, [
    ['broker', (r) => r.broker],
    ['agents', (r) => r.agents],
    ['backoff base (ms)', (r) => r.reconnectBaseMs],
    ['broker away (s)', (r) => r.downSeconds],
    ['all online + outboxes flushed (s)', (r) => r.allOnlineSeconds ?? 'not within the timeout'],
    ['peak connects/s', (r) => r.peakConnectsPerSecond],
    ['connects until all back', (r) => r.connectsAfterRestart],
    ['reports written', (r) => r.reportsWritten],
    ['reports lost', (r) => r.reportsLost],
    ['still in outboxes at the end', (r) => r.reportsPending],
    ['rollout committed', (r) => `${r.rolloutCommitted}/${r.agents}`],
    ['load avg', (r) => r.loadAverage1m],
  ]);
  const verdict = rows.map((r) => {
    const ok = r.allOnlineSeconds !== null && r.allOnlineSeconds <= 30 && r.peakConnectsPerSecond < r.agents / 4 && r.reportsLost === 0;
    return `${r.broker} (base ${r.reconnectBaseMs} ms): ${ok ? 'met' : 'NOT met'} (${r.allOnlineSeconds ?? '–'} s, peak ${r.peakConnectsPerSecond}/s vs < ${r.agents / 4}/s, ${r.reportsLost} lost)`;
  });
  return [
    `### Broker restart`,
    '',
    `N authenticated agents (edge/sim, light engine, their provisioned credentials) are online and in the middle of a rollout of a 20 KB package when the broker restarts: ` +
      `the embedded broker is closed and a new one started; the private Mosquitto (its own port, password file and ACL written by the cloud's code) is stopped and started with its persistence. ` +
      `A loopback proxy in front of the broker, in its own process, counts the TCP connections that reach it per second (it listens only while the broker is up; the per-second series is in bench/results/fleet.json). ` +
      `"All online" is the time from the broker's return until every agent is connected and every outbox is empty; "reports lost" compares each agent's outbox high-water mark with the rows the cloud stored for it after the rollout ended. ` +
      `The broker's loss is unclean for the agents (the socket closes without a DISCONNECT), so even their first attempt waits a full-jitter draw over [0, base], and each further one doubles the window (the base in the table; the agent default is ${AGENT_RECONNECT_BASE_MS / 1000} s; cap 30 s). ` +
      `The machine is a shared 2-core VM: the load average column says how busy it was when the broker went down.`,
    '',
    table,
    '',
    `Goal (all back within 30 s, peak below a quarter of the fleet per second, zero reports lost): ${verdict.join('; ')}.`,
  ].join('\n');
}

/** A broker-restart-only run keeps the rollout rows and section text of the last full run. */
function mergeRestartReport(rows: BrokerRestartRow[], command: string): void {
  const jsonPath = resolve(root, 'bench/results/fleet.json');
  const prev = existsSync(jsonPath) ? (JSON.parse(readFileSync(jsonPath, 'utf8')) as { rows?: Array<{ scenario?: string }>; [k: string]: unknown }) : { rows: [] };
  const kept = (prev.rows ?? []).filter((r) => r.scenario !== 'broker-restart');
  writeFileSync(jsonPath, JSON.stringify({ ...prev, name: 'fleet', brokerRestart: { command, machine: machineSummary(), measuredAt: new Date().toISOString() }, rows: [...kept, ...rows] }, null, 2) + '\n');
  const mdPath = resolve(root, 'BENCHMARKS.md');
  const md = readFileSync(mdPath, 'utf8');
  const begin = '<!-- bench:fleet-broker-restart -->';
  const end = '<!-- /bench:fleet-broker-restart -->';
  const block = `${begin}\n${restartMarkdown(rows)}\n\nCommand: \`${command}\` — measured ${new Date().toISOString()} on ${machineSummary()}.\n${end}`;
  const i = md.indexOf(begin);
  const j = md.indexOf(end);
  const fleetEnd = md.indexOf('<!-- /bench:fleet -->');
  const next = i >= 0 && j > i ? md.slice(0, i) + block + md.slice(j + end.length) : fleetEnd >= 0 ? `${md.slice(0, fleetEnd)}\n${block}\n${md.slice(fleetEnd)}` : `${md.trimEnd()}\n\n${block}\n`;
  writeFileSync(mdPath, next);
}

async function main(): Promise<void> {
  const tRun = performance.now();
  const command = `npm run bench:fleet${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`;
  if (values.scenario === 'broker-restart') {
    const rows = await restartRows(values.brokers!.split(',') as Array<'embedded' | 'mosquitto'>);
    if (!values['no-report']) mergeRestartReport(rows, command);
    console.log(restartMarkdown(rows));
    return;
  }
  if (values.scenario === 'failover' || values.scenario === 'scale') {
    const sizesOut = values.agents ? values.agents.split(',').map(Number) : [values.scenario === 'failover' ? 300 : 5000];
    const out: Array<FailoverRow | ScaleRow> = [];
    const ingestCounts = values.scenario === 'scale' ? values.ingest!.split(',').map(Number) : [0];
    for (const n of sizesOut) {
      for (const k of ingestCounts) {
        const row = values.scenario === 'failover' ? await runFailover(n) : await runScale(n, k);
        console.log(JSON.stringify(row));
        out.push(row);
      }
    }
    if (!values['no-report']) mergeScaleOutReport(out, command);
    console.log(scaleOutMarkdown(out, { [values.scenario]: { command, measuredAt: new Date().toISOString() } }));
    return;
  }
  const sizes = values.agents ? values.agents.split(',').map(Number) : values.quick ? [100, 1000] : [100, 1000, 5000];
  const brokers = values.brokers!.split(',') as Array<'embedded' | 'mosquitto'>;
  const mosquittoUp = await tcpReachable(new URL(MOSQUITTO_URL).hostname, Number(new URL(MOSQUITTO_URL).port || 1883));
  const rows: FleetBenchRow[] = [];
  const skipped: string[] = [];
  for (const broker of brokers) {
    if (broker === 'mosquitto' && !mosquittoUp) {
      skipped.push(`mosquitto (${MOSQUITTO_URL} not reachable)`);
      continue;
    }
    rows.push(...(await runBroker(broker, sizes, values.impl!, Number(values.processes), Number(values['timeout-s']))));
  }
  const restart = values.scenario === 'all' ? await restartRows(brokers) : [];
  // Measured by their own runs (--scenario failover|scale): kept as they are.
  const scaleOut = keptScaleOut();
  const goal = rows.find((r) => r.agents === 1000 && r.broker === 'embedded');
  const table = markdownTable(rows, [
    ['broker', (r) => r.broker],
    ['agents', (r) => r.agents],
    ['agent', (r) => r.agentImpl],
    ['package bytes', (r) => r.packageBytes],
    ['all committed (s)', (r) => r.allCommittedSeconds ?? `not all (${r.committed})`],
    ['p50 (s)', (r) => r.p50Seconds ?? '–'],
    ['p99 (s)', (r) => r.p99Seconds ?? '–'],
    ['failed', (r) => r.failed],
    ['msgs/s', (r) => r.messagesPerSecond],
    ['MB sent', (r) => (r.bytesSent / 1e6).toFixed(1)],
    ['cloud CPU s (% of 1 core)', (r) => `${r.cloudCpuSeconds} (${r.cloudCpuPercentOfOneCore}%)`],
    ['load avg', (r) => r.loadAverage1m],
  ]);
  const steps = markdownTable(rows, [
    ['broker', (r) => r.broker],
    ['agents', (r) => r.agents],
    ['mean seconds per device state (offered → downloading → … → committed)', (r) => Object.entries(r.meanStepSeconds).map(([k, v]) => `${k} ${v}`).join(', ')],
  ]);
  const markdown = [
    `One wave of all agents, no bake, agents started once per broker (rows reuse them; later rows upgrade from the previous version), MQTT chunks of 64 KiB, agents in ${values.processes} child processes on the same 2-core machine as the cloud (they compete for CPU). ` +
      `Per-device time is offer → committed on the cloud clock. Messages and bytes are counted at the cloud's MQTT client (in + out; bytes = payload bytes the cloud published). ` +
      `Cloud CPU is process.cpuUsage of the cloud process during the rollout (it includes the broker when embedded).`,
    '',
    table,
    '',
    'Where the time goes (mean time a device spent in each state before the next; cloud clock):',
    '',
    steps,
    '',
    goal
      ? `Goal (1,000 agents, all committed in ≤ 20 s, zero failed): ${goal.allCommittedSeconds !== null && goal.allCommittedSeconds <= 20 && goal.failed === 0 ? 'met' : 'NOT met'} (${goal.allCommittedSeconds ?? 'not all committed'} s, ${goal.failed} failed, embedded broker).`
      : 'Goal row (1,000 agents, embedded) not measured in this run.',
    rows.length
      ? `The cloud process used at most ${Math.max(...rows.map((r) => r.cloudCpuPercentOfOneCore))}% of one core in any row; the 1-minute load average on this shared 2-core machine was ${Math.min(...rows.map((r) => r.loadAverage1m))}–${Math.max(...rows.map((r) => r.loadAverage1m))} during the rows. The whole run took ${Math.round((performance.now() - tRun) / 1000)} s.`
      : '',
    ...(skipped.length ? ['', `Skipped: ${skipped.join('; ')}.`] : []),
    ...(restart.length ? ['', '<!-- bench:fleet-broker-restart -->', restartMarkdown(restart), '<!-- /bench:fleet-broker-restart -->'] : []),
    ...(scaleOut.block ? ['', scaleOut.block] : []),
  ].join('\n');
  if (!values['no-report']) writeBenchReport<FleetBenchRow | BrokerRestartRow | FailoverRow | ScaleRow>({ name: 'fleet', command, rows: [...rows, ...restart, ...scaleOut.rows], markdown });
  console.log(markdown);
}

await main();
