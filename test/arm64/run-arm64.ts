/**
 * npm run test:arm64
 *
 * The edge agent bundle proven on arm64, under emulation: `dist/edgekd-agent.mjs` (built here by
 * deploy/edge/build-agent.mjs, as `npm run build:edge` does) runs on the official linux-arm64 Node
 * from the npm registry (scripts/node.sh 22 --arch arm64) under Debian's `qemu-aarch64-static`,
 * with onnxruntime-node's own arm64 binary (node_modules/onnxruntime-node/bin/napi-v6/linux/arm64).
 * Beside it, the same bundle runs on x64 Node 22. Both connect to an embedded broker and a real
 * fleet controller (SQLite store), which rolls out one signed int8 package: the fashion-mnist
 * teacher, quantized by the product's export path with calibration samples from teacher inversion
 * (no real image). The run checks that the arm64 agent went through download, verify, stage,
 * activate and commit, that it serves /v1/infer with the same top-1 as the x64 agent on fixed
 * inputs (another seeded inversion batch), and that it sent a drift report. Then the TensorRT-target
 * int8 artifact of the same teacher goes to the arm64 agent, whose provider list is the Jetson
 * example's (tensorrt, cuda, cpu): it must commit and serve on the CPU provider and log the
 * fallback (the npm onnxruntime-node build has no GPU providers). Writes
 * test-artifacts/arm64.json and exits non-zero when any check fails.
 *
 * Needs (Debian): `apt-get install qemu-user-static libc6-arm64-cross libstdc++6-arm64-cross`
 * (the emulator, and the arm64 C/C++ runtime that Node and libonnxruntime link against).
 *
 * Emulation detail: onnxruntime reads /proc/cpuinfo at load (its cpuinfo library); qemu-user
 * passes the host's x86 file through, and the library then crashes on the missing ARM fields. The
 * agent therefore runs in a private mount namespace (unshare; a user namespace as well when not
 * root) where /proc/cpuinfo is an ARM one (Cortex-A78AE, the Jetson Orin core). Nothing outside
 * that process tree sees it.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { initCompute } from '../../cloud/compute';
import { invertTeacher } from '../../cloud/export/invert-teacher';
import { buildStudentPackage } from '../../cloud/export/student-package';
import { QUANTIZE_ALL } from '../../cloud/export/layer-precision';
import { loadModel } from '../../cloud/zoo/model-io';
import type { ModelPackage } from '../../shared/package/build-package';
import { fleetWorld, until, type FleetWorld } from '../fleet/helpers/fleet-world';

const root = resolve(import.meta.dirname, '../..');
const started = Date.now();
const log = (m: string): void => console.error(`[test:arm64 ${((Date.now() - started) / 1000).toFixed(0)}s] ${m}`);
const SYSROOT = '/usr/aarch64-linux-gnu';
const STEPS = ['downloading', 'verifying', 'staging', 'activating'] as const;
/** Emulated V8 and onnxruntime are slow: these bound the waits, they are not expected durations. */
const AGENT_ONLINE_MS = 300_000;
const ROLLOUT_MS = 600_000;

function which(cmd: string): string | null {
  try {
    return execFileSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' }).trim() || null;
  } catch {
    return null;
  }
}

function fail(message: string): never {
  log(`FAILED: ${message}`);
  process.exit(1);
}

// ---- what the emulated run needs ----
const qemu = which('qemu-aarch64-static') ?? fail('qemu-aarch64-static not found: apt-get install qemu-user-static');
if (!existsSync(join(SYSROOT, 'lib/ld-linux-aarch64.so.1')) || !existsSync(join(SYSROOT, 'lib/libstdc++.so.6'))) {
  fail(`no arm64 C/C++ runtime in ${SYSROOT}: apt-get install libc6-arm64-cross libstdc++6-arm64-cross`);
}
const ortArm64 = join(root, 'node_modules/onnxruntime-node/bin/napi-v6/linux/arm64/onnxruntime_binding.node');
if (!existsSync(ortArm64)) fail(`${ortArm64} missing: npm ci`);
const armNode = join(execFileSync(join(root, 'scripts/node.sh'), ['22', '--arch', 'arm64'], { encoding: 'utf8' }).trim(), 'node');
const work = mkdtempSync(join(tmpdir(), 'edgekd-arm64-'));
const cpuinfo = join(work, 'cpuinfo');
writeFileSync(cpuinfo, armCpuinfo(cpus().length));
const asRoot = process.getuid?.() === 0;
/** The command line that runs `args` on the arm64 Node, emulated, with an ARM /proc/cpuinfo. */
const emulated = (args: string[]): { command: string; args: string[] } => ({
  command: 'unshare',
  args: [...(asRoot ? ['--mount'] : ['--user', '--map-root-user', '--mount']), '--', 'sh', '-c', 'mount --bind "$1" /proc/cpuinfo && shift && exec "$@"', 'sh', cpuinfo, qemu, '-L', SYSROOT, armNode, ...args],
});
const probe = emulated(['-p', 'JSON.stringify({ arch: process.arch, node: process.versions.node })']);
const armRuntime = JSON.parse(execFileSync(probe.command, probe.args, { encoding: 'utf8' })) as { arch: string; node: string };
if (armRuntime.arch !== 'arm64') fail(`the emulated Node reports arch ${armRuntime.arch}`);
log(`arm64 Node ${armRuntime.node} runs under ${qemu}`);

// ---- the bundle, as npm run build:edge makes it ----
const bundle = join(root, 'dist/edgekd-agent.mjs');
execFileSync(process.execPath, [join(root, 'deploy/edge/build-agent.mjs'), '--outfile', bundle], { stdio: ['ignore', 'ignore', 'inherit'] });
log(`bundle built: ${bundle}`);

let world: FleetWorld | null = null;
const phases: Record<string, number> = {};
const mark = (name: string, since: number): void => void (phases[name] = Math.round((Date.now() - since) / 100) / 10);
let exitCode = 1;
try {
  const t0 = Date.now();
  world = await fleetWorld({
    agents: 2,
    broker: 'embedded',
    prefix: `arm64-${process.pid}`,
    // The Jetson example's provider list: on the CPU-only npm build both agents fall back to cpu.
    agentConfig: { driftReportEveryMs: 2_000, heartbeatIntervalMs: 2_000, inference: { executionProviders: ['tensorrt', 'cuda', 'cpu'] } },
    // Agent 0 is the emulated arm64 one, agent 1 the same bundle on this x64 Node.
    agentLaunch: (i) => (configFile) => (i === 0 ? emulated([bundle, '--config', configFile]) : { command: process.execPath, args: [bundle, '--config', configFile] }),
  });
  const w = world;
  const [arm, x64] = [w.agents[0]!, w.agents[1]!];

  // While the agents boot: the int8 package, through the product's export path.
  const t1 = Date.now();
  const { pkg, inputs, tensorrtPkg } = await int8Packages(w);
  mark('packageSeconds', t1);
  log(`signed int8 package: ${pkg.model.length} bytes, ${pkg.manifest.quantization.precision}`);

  const presenceOf = (deviceId: string) =>
    w.events.findLast((e) => e.type === 'presence' && e.deviceId === deviceId && e.presence?.state === 'online');
  await until(() => presenceOf(arm.deviceId) !== undefined && presenceOf(x64.deviceId) !== undefined, AGENT_ONLINE_MS, 'both agents online').catch((e: Error) => {
    throw new Error(`${e.message}\n--- arm64 agent log ---\n${arm.log().slice(-4000)}`);
  });
  mark('agentsOnlineSeconds', t0);
  const armPresence = presenceOf(arm.deviceId)!;
  const runtime = armPresence.type === 'presence' ? armPresence.presence?.runtime : undefined;
  log(`arm64 agent online: ${JSON.stringify(runtime)}`);
  if (runtime?.arch !== 'arm64') throw new Error(`the emulated agent reported arch ${runtime?.arch}`);

  // ---- the rollout ----
  const t2 = Date.now();
  const packageId = await w.register(pkg);
  const r = await w.cloud.createRollout({
    packageId,
    target: { groups: ['lab'] },
    bakeMs: 1_000,
    activation: { warmupRuns: 2, bakeMs: 1_000 },
    timeouts: { offeredMs: ROLLOUT_MS, stepMs: ROLLOUT_MS },
  });
  const done = await w.waitStatus(r.id, ['completed', 'rolled_back', 'failed'], ROLLOUT_MS);
  mark('rolloutSeconds', t2);
  const steps = new Set(
    w.events.flatMap((e) => (e.type === 'rollout' && e.notice.kind === 'device-state' && e.notice.deviceId === arm.deviceId && e.notice.step ? [e.notice.step] : [])),
  );
  const armState = (await w.cloud.getRolloutState(r.id))?.devices[arm.deviceId]?.state;
  const committed = done.status === 'completed' && armState === 'committed' && STEPS.every((s) => steps.has(s));
  log(`rollout ${done.status}, arm64 device ${armState}, steps seen: ${[...steps].join(' → ')}`);

  // ---- the same top-1 on fixed inputs ----
  const t3 = Date.now();
  const top1 = async (a: typeof arm, x: Float32Array): Promise<{ index: number; margin: number; provider: string; version: number }> => {
    const res = await a.infer({ input: { dtype: 'float32', shape: [1, 28, 28, 1], data: Array.from(x) }, topK: 2 });
    if (res.status !== 200) throw new Error(`${a.deviceId} /v1/infer answered ${res.status}: ${JSON.stringify(res.json)}`);
    const result = res.json.result as { topK: Array<Array<{ index: number; probability: number }>>; executionProvider: string; model: { version: number } };
    const [first, second] = result.topK[0]!;
    return { index: first!.index, margin: first!.probability - second!.probability, provider: result.executionProvider, version: result.model.version };
  };
  const per = 28 * 28;
  const pairs: Array<{ arm64: number; x64: number; arm64Margin: number }> = [];
  let armProvider = '';
  for (let i = 0; i < inputs.length / per; i++) {
    const x = inputs.subarray(i * per, (i + 1) * per);
    const [a, b] = [await top1(arm, x), await top1(x64, x)];
    if (a.version !== pkg.manifest.version || b.version !== pkg.manifest.version) throw new Error(`served versions ${a.version}/${b.version}, rolled out ${pkg.manifest.version}`);
    armProvider = a.provider;
    pairs.push({ arm64: a.index, x64: b.index, arm64Margin: Math.round(a.margin * 1e4) / 1e4 });
  }
  mark('inferSeconds', t3);
  const top1MatchesX64 = pairs.length > 0 && pairs.every((p) => p.arm64 === p.x64);
  log(`top-1 on ${pairs.length} fixed inputs: arm64 ${pairs.map((p) => p.arm64).join('')}, x64 ${pairs.map((p) => p.x64).join('')} (${armProvider})`);

  // ---- a drift report from the arm64 agent about the inferences it just served ----
  const t4 = Date.now();
  const drift = await until(
    () => w.events.some((e) => e.type === 'drift' && e.deviceId === arm.deviceId && e.report.window.inferences > 0),
    120_000,
    'a drift report from the arm64 agent',
  ).then(() => true, (e: Error) => (log(e.message), false));
  mark('driftSeconds', t4);

  // ---- the TensorRT-target int8 artifact on the same device (CPU provider: no GPU here) ----
  const t5 = Date.now();
  const r2 = await w.cloud.createRollout({
    packageId: await w.register(tensorrtPkg),
    target: { devices: [arm.deviceId] },
    bakeMs: 1_000,
    activation: { warmupRuns: 2, bakeMs: 1_000 },
    timeouts: { offeredMs: ROLLOUT_MS, stepMs: ROLLOUT_MS },
  });
  const done2 = await w.waitStatus(r2.id, ['completed', 'rolled_back', 'failed'], ROLLOUT_MS);
  const served2 = await top1(arm, inputs.subarray(0, per)).catch(() => null);
  const tensorrtArtifactServedOnCpu = done2.status === 'completed' && served2?.version === tensorrtPkg.manifest.version && served2.provider === 'cpu';
  const fallbackLogged = /execution provider fallback: running on cpu/.test(arm.log());
  mark('tensorrtArtifactSeconds', t5);
  log(`TensorRT-target int8 artifact on arm64: rollout ${done2.status}, served by ${served2?.provider} (v${served2?.version}); provider fallback logged: ${fallbackLogged}`);

  const seconds = Math.round((Date.now() - started) / 100) / 10;
  const artifact = {
    arch: runtime.arch,
    node: runtime.node,
    onnxruntime: runtime.onnxruntime,
    executionProvider: armProvider,
    committed,
    stepsSeen: [...steps],
    top1MatchesX64,
    fixedInputs: pairs.length,
    /** Smallest top-1 − top-2 probability gap on arm64: how close the closest call was. */
    minTop1Margin: Math.min(...pairs.map((p) => p.arm64Margin)),
    top1: pairs,
    driftReportSent: drift,
    package: { precision: pkg.manifest.quantization.precision, target: 'cpu', bytes: pkg.model.length },
    /** The TensorRT-target int8 artifact, rolled out to the arm64 agent and served by its CPU provider. */
    tensorrtArtifactServedOnCpu,
    providerFallbackLogged: fallbackLogged,
    emulator: 'qemu-aarch64-static',
    phases,
    seconds,
  };
  mkdirSync(join(root, 'test-artifacts'), { recursive: true });
  writeFileSync(join(root, 'test-artifacts/arm64.json'), JSON.stringify(artifact, null, 2) + '\n');
  log(`wrote test-artifacts/arm64.json: committed ${committed}, top1MatchesX64 ${top1MatchesX64}, driftReportSent ${drift}, ${seconds} s`);
  exitCode = committed && top1MatchesX64 && drift && tensorrtArtifactServedOnCpu && fallbackLogged ? 0 : 1;
  if (exitCode !== 0) log(`--- arm64 agent log (tail) ---\n${arm.log().slice(-4000)}`);
} catch (e) {
  log(`FAILED: ${(e as Error).stack ?? e}`);
} finally {
  await world?.close().catch(() => undefined);
  rmSync(work, { recursive: true, force: true });
}
process.exit(exitCode);

/**
 * The committed fashion-mnist teacher as signed int8 packages (the CPU QDQ artifact as version 1,
 * the TensorRT one as version 2), calibrated on teacher inversions, plus a second, differently seeded inversion batch as the fixed inputs (deterministic,
 * synthetic, inside the input range). The artifact records the smallest top-1 margin seen, so a
 * match on near-ties can be told from a match on clear calls.
 */
async function int8Packages(w: FleetWorld): Promise<{ pkg: ModelPackage; tensorrtPkg: ModelPackage; inputs: Float32Array }> {
  await initCompute({ backend: 'wasm' });
  const teacher = await loadModel(join(root, 'models/teachers/fashion-mnist-lenet5-bn'));
  const range = { low: -1, high: 1 };
  const calibration = invertTeacher(teacher, { count: 64, steps: 20, seed: 1, range });
  const fixed = invertTeacher(teacher, { count: 20, steps: 20, seed: 2, batchSize: 20, range });
  const build = async (version: number, target: 'cpu' | 'tensorrt'): Promise<ModelPackage> =>
    (
      await buildStudentPackage({
        model: teacher,
        info: {
          name: 'arm64-check',
          version,
          labels: ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot'],
          // The fixed inputs are in model units already.
          normalisation: { rawRange: [-1, 1], scale: [1], offset: [0] },
          lineage: { exporter: 'edgekd-test-arm64' },
        },
        key: w.key,
        precision: 'int8',
        target,
        // Every layer quantized: for a model this small the default rule would ship fp32 (int8
        // declined as slower), and this check is about int8 QDQ kernels on arm64.
        floatLayerRule: QUANTIZE_ALL,
        // This check exists to run an int8 model on arm64, so no timing may turn it back into fp32.
        int8Check: 'off',
        calibration: { method: 'minmax', samples: calibration },
      })
    ).pkg;
  const pkg = await build(1, 'cpu');
  if (pkg.manifest.quantization.precision !== 'int8') throw new Error(`expected an int8 package, got ${pkg.manifest.quantization.precision}`);
  const tensorrtPkg = await build(2, 'tensorrt');
  teacher.dispose();
  return { pkg, tensorrtPkg, inputs: fixed.data };
}

/** /proc/cpuinfo as an arm64 Linux kernel writes it for Cortex-A78AE cores (Jetson Orin). */
function armCpuinfo(cores: number): string {
  const features = 'fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp uscat ilrcpc flagm paca pacg';
  return Array.from({ length: cores }, (_, i) =>
    [`processor\t: ${i}`, 'BogoMIPS\t: 62.50', `Features\t: ${features}`, 'CPU implementer\t: 0x41', 'CPU architecture: 8', 'CPU variant\t: 0x0', 'CPU part\t: 0xd42', 'CPU revision\t: 1', ''].join('\n'),
  ).join('\n') + '\n';
}
