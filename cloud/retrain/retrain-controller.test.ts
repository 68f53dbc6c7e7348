import { afterEach, beforeEach, describe as plainDescribe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { openSqlite } from '../store/sqlite-db';
import { openPostgres } from '../store/postgres-db';
import type { SqlDb } from '../store/sql-db';
import { describeWithPostgres, POSTGRES_URL } from '../../test/helpers/services';
import { createDriftService, type DriftService } from '../drift/drift-service';
import { fakeDriftEnvelope } from '../drift/testing-reports';
import { createRetrainController } from './retrain-controller';
import type { RetrainContext, RetrainSteps } from './steps';

const MIN = 60_000;

function fakeSteps(outcome: 'promoted' | 'rolled-back', seen: RetrainContext[], opts: { blockDistill?: Promise<void> } = {}): RetrainSteps {
  return {
    async distill(ctx) {
      seen.push(ctx);
      await opts.blockDistill;
      if (ctx.signal.aborted) throw ctx.signal.reason;
      return { student: 'student-handle', distillRunId: 'd-1', summary: { epochs: 2 } };
    },
    async package() {
      return { package: { name: 'fm-student', version: 4, sha256: 'd'.repeat(64) }, artifact: null, summary: { precision: 'int8' } };
    },
    async rollout() {
      return { outcome, rolloutId: 'r-1', summary: { canaryAgreement: 0.97 } };
    },
  };
}

async function suite(name: string, open: () => Promise<SqlDb>, d: typeof plainDescribe | typeof plainDescribe.skip): Promise<void> {
  d(`retrain loop on ${name}`, () => {
    let db: SqlDb;
    let now: number;
    let drift: DriftService;
    beforeEach(async () => {
      db = await open();
      now = 1_800_000_000_000;
      drift = createDriftService({ db, clock: () => now, cohortOf: (id) => (id.startsWith('s1') ? 'site-1' : 'site-2') });
      await drift.migrate();
    });
    afterEach(async () => db.close());

    const feedCohort = async (drifted: number, total: number, tag: string) => {
      for (let i = 0; i < total; i++) {
        const bad = i < drifted;
        await drift.ingest(
          fakeDriftEnvelope({
            deviceId: `s1-dev${i}`,
            key: `${tag}-${i}`,
            p: bad ? 1e-8 : 0.4,
            alarm: bad,
            at: now,
            features: [{ layer: 'conv1_bn', mean: [bad ? 1 : 0], variance: [1], sampleCount: 1000 }],
          }),
        );
      }
    };

    it('deduplicates redelivered reports and keeps per-device state', async () => {
      const e = fakeDriftEnvelope({ deviceId: 's1-a', key: 'k1', p: 0.5, alarm: false, at: now });
      expect((await drift.ingest(e)).status).toBe('accepted');
      expect((await drift.ingest(e)).status).toBe('duplicate');
      expect(await drift.devices()).toMatchObject([{ deviceId: 's1-a', cohort: 'site-1', alarmActive: false }]);
      await expect(drift.ingest({ ...e, idempotencyKey: 'k2', stats: { nonsense: true } })).rejects.toMatchObject({ code: 'EDGEKD_MESSAGE_INVALID' });
    });

    it('opens a cohort alarm, waits for persistence, then runs distill → package → rollout with no human and records lineage', async () => {
      const seen: RetrainContext[] = [];
      const ctl = createRetrainController({ db, clock: () => now, drift, steps: fakeSteps('promoted', seen), policy: { minAlarmDurationMs: 10 * MIN } });
      await feedCohort(4, 10, 'a');
      const first = await ctl.tick();
      expect(first).toHaveLength(1);
      expect(first[0]!.decision.action).toBe('wait');
      expect((await drift.cohortAlarms({ openOnly: true }))[0]!.cohort).toBe('site-1');

      now += 11 * MIN;
      await feedCohort(4, 10, 'b');
      const second = await ctl.tick();
      expect(second[0]!.decision.action).toBe('start');
      await ctl.idle();

      const runId = second[0]!.runId!;
      const run = await ctl.run(runId);
      expect(run).toMatchObject({ state: 'promoted', outcome: 'promoted', packageRef: { name: 'fm-student', version: 4 } });
      expect(run!.steps.map((s) => s.name)).toEqual(['distill', 'package', 'rollout']);
      // The field's feature statistics reached the distillation step as BN targets.
      expect(seen[0]!.featureTargets[0]).toMatchObject({ layer: 'conv1_bn', mean: [1] });
      const lin = await ctl.lineage(runId);
      // Evidence accumulates while the alarm is open: both rounds of the 4 drifted devices, none of the clean ones.
      expect(lin!.reports).toHaveLength(8);
      expect([...new Set(lin!.reports.map((r) => r.deviceId))].sort()).toEqual(['s1-dev0', 's1-dev1', 's1-dev2', 's1-dev3']);
      expect(lin!.package).toEqual({ name: 'fm-student', version: 4, sha256: 'd'.repeat(64) });
      const kinds = (await drift.actions()).map((a) => a.kind);
      expect(kinds).toEqual(expect.arrayContaining(['cohort-alarm-opened', 'retrain-deferred', 'retrain-started', 'retrain-promoted']));

      // Cool-down: the alarm is still open but no second run starts.
      now += MIN;
      await feedCohort(4, 10, 'c');
      expect((await ctl.tick())[0]!.decision.reason).toMatch(/cool-down/);
    });

    it('pausing blocks new runs and cancels a run in flight, both logged with the reason', async () => {
      let release!: () => void;
      const gate = new Promise<void>((r) => (release = r));
      const ctl = createRetrainController({ db, clock: () => now, drift, steps: fakeSteps('promoted', [], { blockDistill: gate }), policy: { minAlarmDurationMs: 0 } });
      await feedCohort(5, 10, 'a');
      const t = await ctl.tick();
      expect(t[0]!.decision.action).toBe('start');
      await ctl.pause('operator investigating a camera fault', 'alice');
      release();
      await ctl.idle();
      expect((await ctl.run(t[0]!.runId!))!.state).toBe('cancelled');
      now += 7 * 3_600_000;
      await feedCohort(5, 10, 'b');
      expect((await ctl.tick())[0]!.decision.reason).toBe('automatic retraining is paused: operator investigating a camera fault');
      await expect(ctl.resume('  ', 'alice')).rejects.toMatchObject({ code: 'EDGEKD_INVALID_ARGUMENT' });
      await ctl.resume('camera fixed', 'alice');
      expect((await ctl.tick())[0]!.decision.action).toBe('start');
      await ctl.idle();
      const acts = await drift.actions();
      expect(acts.find((a) => a.kind === 'retrain-paused')).toMatchObject({ actor: 'alice', reason: 'operator investigating a camera fault' });
      expect(acts.find((a) => a.kind === 'retrain-cancelled')!.reason).toMatch(/EDGEKD_RUN_CANCELLED/);
    });

    it('persists policy changes with the actor, validates them, and applies them on the next tick', async () => {
      const ctl = createRetrainController({ db, clock: () => now, drift, steps: fakeSteps('promoted', []), policy: { minAlarmDurationMs: 60 * MIN } });
      await feedCohort(5, 10, 'a');
      expect((await ctl.tick())[0]!.decision.action).toBe('wait');
      await expect(ctl.setPolicy({ cooldownMs: -1 }, 'bob')).rejects.toMatchObject({ code: 'EDGEKD_INVALID_ARGUMENT' });
      await expect(ctl.setPolicy({ bogus: 1 } as never, 'bob')).rejects.toMatchObject({ code: 'EDGEKD_INVALID_ARGUMENT' });
      expect((await ctl.setPolicy({ minAlarmDurationMs: 0 }, 'bob')).minAlarmDurationMs).toBe(0);
      const again = createRetrainController({ db, clock: () => now, drift, steps: fakeSteps('promoted', []), policy: { minAlarmDurationMs: 60 * MIN } });
      expect((await again.getPolicy()).minAlarmDurationMs).toBe(0); // persisted, not per process
      expect((await again.tick())[0]!.decision.action).toBe('start');
      await again.idle();
      expect((await drift.actions()).find((a) => a.kind === 'retrain-policy-changed')).toMatchObject({ actor: 'bob' });
    });

    it('hands the adaptation set in the policy, defaults filled, to the next run it starts and names it in the start action', async () => {
      const seen: RetrainContext[] = [];
      const ctl = createRetrainController({ db, clock: () => now, drift, steps: fakeSteps('promoted', seen), policy: { minAlarmDurationMs: 0 } });
      const set = await ctl.setPolicy({ adaptation: { method: 'field-batchnorm', layers: 'first', fieldWeight: 0.3 } }, 'bob');
      const inForce = { method: 'field-batchnorm', layers: 'first', fieldWeight: 0.3, imitation: { fraction: 0.5, teacherOn: 'clean' } };
      expect(set.adaptation).toEqual(inForce);
      await feedCohort(5, 10, 'a');
      expect((await ctl.tick())[0]!.decision.action).toBe('start');
      await ctl.idle();
      expect(seen[0]!.adaptation).toEqual(inForce);
      expect((await drift.actions()).find((a) => a.kind === 'retrain-started')!.details).toMatchObject({ adaptation: inForce });
      // A later change is replaced as a whole: what it leaves out is back at its default.
      expect((await ctl.setPolicy({ adaptation: { imitation: { teacherOn: 'degraded' } } }, 'bob')).adaptation).toEqual({ method: 'auto', layers: 'all', fieldWeight: 0.5, imitation: { fraction: 0.5, teacherOn: 'degraded' } });
    });

    it('refuses a bad adaptation with a typed error and keeps the stored policy as it was', async () => {
      const ctl = createRetrainController({ db, clock: () => now, drift, steps: fakeSteps('promoted', []) });
      const before = await ctl.setPolicy({ cooldownMs: 1000, adaptation: { method: 'field-imitation', imitation: { fraction: 0.25 } } }, 'bob');
      for (const bad of [
        { method: 'retrain-harder' },
        { fieldWeight: 1.5 },
        { layers: 'some' },
        { imitation: { fraction: -0.1 } },
        { imitation: { teacherOn: 'teacher' } },
        { useFieldTargets: false },
      ]) {
        await expect(ctl.setPolicy({ cooldownMs: 5, adaptation: bad } as never, 'mallory')).rejects.toMatchObject({ code: 'EDGEKD_INVALID_ARGUMENT' });
      }
      await expect(ctl.setPolicy({ maxConcurrentRuns: 1.5 }, 'mallory')).rejects.toMatchObject({ code: 'EDGEKD_INVALID_ARGUMENT' });
      expect(await ctl.getPolicy()).toEqual(before);
      expect((await drift.actions()).filter((a) => a.kind === 'retrain-policy-changed').map((a) => a.actor)).toEqual(['bob']);
    });

    it('reads a policy stored before the adaptation setting existed with the default adaptation', async () => {
      const ctl = createRetrainController({ db, clock: () => now, drift, steps: fakeSteps('promoted', []) });
      await ctl.getPolicy(); // creates the controller's tables
      await db.exec('INSERT INTO drift_retrain_policy (scope, policy, actor, updated_at) VALUES (?, ?, ?, ?)', ['retrain', JSON.stringify({ cooldownMs: 60_000 }), 'old-cloud', now]);
      const p = await ctl.getPolicy();
      expect(p.cooldownMs).toBe(60_000);
      expect(p.adaptation).toEqual({ method: 'auto', layers: 'all', fieldWeight: 0.5, imitation: { fraction: 0.5, teacherOn: 'clean' } });
      // Changing another field keeps the old row's fields and still no stored adaptation.
      expect(await ctl.setPolicy({ minAlarmDurationMs: 0 }, 'bob')).toMatchObject({ cooldownMs: 60_000, minAlarmDurationMs: 0, adaptation: { method: 'auto' } });
    });

    it('records a rolled-back canary and a failing step', async () => {
      const ctl = createRetrainController({ db, clock: () => now, drift, steps: fakeSteps('rolled-back', []), policy: { minAlarmDurationMs: 0 } });
      await feedCohort(5, 10, 'a');
      const [t] = await ctl.tick();
      await ctl.idle();
      expect((await ctl.run(t!.runId!))!.state).toBe('rolled-back');

      const failing: RetrainSteps = { ...fakeSteps('promoted', []), package: async () => Promise.reject(new Error('quantizer exploded')) };
      const ctl2 = createRetrainController({ db, clock: () => now, drift, steps: failing, policy: { minAlarmDurationMs: 0, cooldownMs: 0 } });
      now += MIN;
      await feedCohort(5, 10, 'b');
      const [t2] = await ctl2.tick();
      await ctl2.idle();
      const run = await ctl2.run(t2!.runId!);
      expect(run).toMatchObject({ state: 'failed' });
      expect(run!.steps.find((s) => s.name === 'package')!.error).toMatch(/quantizer exploded/);
    });
  });
}

await suite('SQLite', async () => openSqlite(':memory:'), plainDescribe);
await suite('PostgreSQL', async () => openPostgres(POSTGRES_URL, { schema: `drift_${randomUUID().slice(0, 8)}` }), await describeWithPostgres());
