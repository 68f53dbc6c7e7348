import { randomUUID } from 'node:crypto';
import type { SqlDb } from '../store/sql-db';
import { migrate } from '../store/sql-db';
import { createLogger, type Logger } from '../../shared/log/logger';
import { parseDriftReport, type DriftReport } from '../../shared/drift/reference';
import type { DriftReportEnvelope } from '../../shared/protocol';
import { driftMigrations } from './migrations';
import { poolLayerSketches } from '../../shared/drift/layer-sketch';
import { poolInputStatisticMeans, type InputStatisticMeans } from '../../shared/drift/pool-input-statistics';
import type { LayerSketch } from '../../shared/drift/reference';
import { aggregateCohort, devicePValue, poolFeatureStatistics, DEFAULT_FLEET_AGGREGATION, type CohortVerdict, type FleetAggregationConfig } from './fleet-aggregation';

export interface DriftServiceDeps {
  db: SqlDb;
  clock: () => number;
  logger?: Logger;
  /** Cohort of a device (site, camera type…); default: every device in 'default'. */
  cohortOf?: (deviceId: string) => string | Promise<string>;
  aggregation?: Partial<FleetAggregationConfig>;
  /** Devices whose last report is older than this do not vote (default 30 min). */
  staleAfterMs?: number;
  newId?: () => string;
}

export interface StoredReport {
  id: string;
  deviceId: string;
  cohort: string;
  modelName: string;
  modelVersion: string;
  receivedAt: number;
  pValue: number;
  report: DriftReport;
}

export interface DeviceDriftState {
  deviceId: string;
  cohort: string;
  modelName: string;
  modelVersion: string;
  alarmActive: boolean;
  alarmSince: number | null;
  lastReportId: string;
  lastReportAt: number;
  pValue: number;
}

export interface CohortAlarm {
  id: string;
  cohort: string;
  modelName: string;
  modelVersion: string;
  openedAt: number;
  closedAt: number | null;
  lastVerdict: CohortVerdict;
  evidence: string[];
}

export interface DriftAction {
  id: string;
  at: number;
  actor: string;
  kind: string;
  reason: string;
  details: Record<string, unknown>;
}

export interface DriftService {
  migrate(): Promise<void>;
  /** Stores one report (idempotent on device + idempotency key); the body is parsed with the drift schema. */
  ingest(envelope: DriftReportEnvelope): Promise<{ status: 'accepted' | 'duplicate'; reportId: string }>;
  /** Fleet verdicts per cohort and model; opens and closes cohort alarms (logged as actions). */
  evaluate(): Promise<CohortVerdict[]>;
  devices(): Promise<DeviceDriftState[]>;
  reports(filter?: { deviceId?: string; cohort?: string; ids?: string[]; limit?: number }): Promise<StoredReport[]>;
  cohortAlarms(filter?: { openOnly?: boolean }): Promise<CohortAlarm[]>;
  /** Pooled field feature statistics of the given reports: BN-matching targets for re-distillation. */
  fieldFeatureTargets(reportIds: readonly string[]): Promise<ReturnType<typeof poolFeatureStatistics>>;
  /** Pooled per-layer sketches of the served student in the given reports (statistics-only adaptation). */
  fieldLayerSketches(reportIds: readonly string[]): Promise<LayerSketch[]>;
  /**
   * The field's change of input statistics: the pooled period means of the given (drifted) reports,
   * and of the same cohort and model's latest reports without an alarm received before them (the
   * clean baseline, at most 200 reports). Null when either has no input statistics.
   */
  fieldInputShift(reportIds: readonly string[]): Promise<{ field: InputStatisticMeans & { sampleCount: number }; baseline: InputStatisticMeans & { sampleCount: number } } | null>;
  recordAction(a: Omit<DriftAction, 'id' | 'at'>): Promise<DriftAction>;
  actions(limit?: number): Promise<DriftAction[]>;
}

const MAX_EVIDENCE = 200;

/**
 * Cloud side of drift: ingestion into the store, per-device state, fleet verdicts with
 * false-discovery control and quorum, persisted cohort alarms and the action log. The console
 * mounts these functions; the retrain controller reads cohort alarms and evidence from here.
 */
export function createDriftService(deps: DriftServiceDeps): DriftService {
  const { db, clock } = deps;
  const log = deps.logger ?? createLogger('drift');
  const newId = deps.newId ?? randomUUID;
  const cohortOf = deps.cohortOf ?? (() => 'default');
  const agg: FleetAggregationConfig = { ...DEFAULT_FLEET_AGGREGATION, ...deps.aggregation };
  const staleAfter = deps.staleAfterMs ?? 30 * 60_000;

  const recordAction: DriftService['recordAction'] = async (a) => {
    const row: DriftAction = { id: newId(), at: clock(), ...a };
    await db.exec('INSERT INTO drift_actions (id, at, actor, kind, reason, details) VALUES (?, ?, ?, ?, ?, ?)', [row.id, row.at, row.actor, row.kind, row.reason, JSON.stringify(row.details)]);
    log.info({ kind: row.kind, actor: row.actor, details: row.details }, row.reason);
    return row;
  };

  const toReport = (r: Record<string, unknown>): StoredReport => ({
    id: String(r.id),
    deviceId: String(r.device_id),
    cohort: String(r.cohort),
    modelName: String(r.model_name),
    modelVersion: String(r.model_version),
    receivedAt: Number(r.received_at),
    pValue: Number(r.p_value),
    report: JSON.parse(String(r.body)) as DriftReport,
  });

  const toAlarm = (r: Record<string, unknown>): CohortAlarm => ({
    id: String(r.id),
    cohort: String(r.cohort),
    modelName: String(r.model_name),
    modelVersion: String(r.model_version),
    openedAt: Number(r.opened_at),
    closedAt: r.closed_at === null || r.closed_at === undefined ? null : Number(r.closed_at),
    lastVerdict: JSON.parse(String(r.last_verdict)) as CohortVerdict,
    evidence: JSON.parse(String(r.evidence)) as string[],
  });

  return {
    async migrate() {
      await migrate(db, driftMigrations);
    },

    async ingest(envelope) {
      const report = parseDriftReport.parse(envelope.stats);
      const reportId = `${envelope.deviceId}:${envelope.idempotencyKey}`;
      const cohort = await cohortOf(envelope.deviceId);
      const now = clock();
      const p = devicePValue(report);
      return db.transaction(async (tx) => {
        const inserted = await tx.exec(
          `INSERT INTO drift_reports (id, device_id, cohort, model_name, model_version, period_start, period_end, sample_count, alarm_active, p_value, body, received_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`,
          [reportId, envelope.deviceId, cohort, envelope.model.name, String(envelope.model.version), report.periodStart, report.periodEnd, report.sampleCount, report.alarm.active ? 1 : 0, p, JSON.stringify(report), now],
        );
        if (inserted === 0) return { status: 'duplicate' as const, reportId };
        const prev = await tx.query<{ alarm_since: number | null; alarm_active: number }>('SELECT alarm_since, alarm_active FROM drift_device_state WHERE device_id = ?', [envelope.deviceId]);
        const since = report.alarm.active ? (prev[0]?.alarm_active ? (prev[0].alarm_since ?? now) : (report.alarm.since ?? now)) : null;
        await tx.exec(
          `INSERT INTO drift_device_state (device_id, cohort, model_name, model_version, alarm_active, alarm_since, last_report_id, last_report_at, p_value)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
           ON CONFLICT (device_id) DO UPDATE SET cohort = excluded.cohort, model_name = excluded.model_name, model_version = excluded.model_version,
             alarm_active = excluded.alarm_active, alarm_since = excluded.alarm_since, last_report_id = excluded.last_report_id,
             last_report_at = excluded.last_report_at, p_value = excluded.p_value`,
          [envelope.deviceId, cohort, envelope.model.name, String(envelope.model.version), report.alarm.active ? 1 : 0, since, reportId, now, p],
        );
        return { status: 'accepted' as const, reportId };
      });
    },

    async evaluate() {
      const now = clock();
      const fresh = await db.query('SELECT * FROM drift_device_state WHERE last_report_at >= ? ORDER BY device_id', [now - staleAfter]);
      const groups = new Map<string, Array<Record<string, unknown>>>();
      for (const r of fresh) {
        const key = JSON.stringify([r.cohort, r.model_name, r.model_version]);
        let g = groups.get(key);
        if (!g) groups.set(key, (g = []));
        g.push(r);
      }
      const verdicts: CohortVerdict[] = [];
      for (const [key, rows] of groups) {
        const [cohort, modelName, modelVersion] = JSON.parse(key) as [string, string, string];
        const ids = rows.map((r) => String(r.last_report_id));
        const reports = new Map((await reportsById(ids)).map((r) => [r.id, r]));
        const latest = rows.flatMap((r) => {
          const rep = reports.get(String(r.last_report_id));
          return rep ? [{ deviceId: String(r.device_id), reportId: rep.id, report: rep.report }] : [];
        });
        const v = aggregateCohort(cohort, { name: modelName, version: modelVersion }, latest, agg);
        verdicts.push(v);
        const open = (await db.query('SELECT * FROM drift_cohort_alarms WHERE cohort = ? AND model_name = ? AND model_version = ? AND closed_at IS NULL', [cohort, modelName, modelVersion])).map(toAlarm)[0];
        if (v.alarm && !open) {
          const id = newId();
          await db.exec('INSERT INTO drift_cohort_alarms (id, cohort, model_name, model_version, opened_at, closed_at, last_verdict, evidence) VALUES (?, ?, ?, ?, ?, NULL, ?, ?)', [
            id, cohort, modelName, modelVersion, now, JSON.stringify(v), JSON.stringify(v.evidence.slice(0, MAX_EVIDENCE)),
          ]);
          await recordAction({
            actor: 'auto',
            kind: 'cohort-alarm-opened',
            reason: `${v.discoveries.length} of ${v.devices} devices in cohort ${cohort} drifted (BH q=${agg.fdrQ}, quorum ${v.quorum})`,
            details: { alarmId: id, cohort, modelName, modelVersion, discoveries: v.discoveries, evidence: v.evidence },
          });
        } else if (v.alarm && open) {
          const evidence = [...new Set([...open.evidence, ...v.evidence])].slice(-MAX_EVIDENCE);
          await db.exec('UPDATE drift_cohort_alarms SET last_verdict = ?, evidence = ? WHERE id = ?', [JSON.stringify(v), JSON.stringify(evidence), open.id]);
        } else if (!v.alarm && open) {
          await db.exec('UPDATE drift_cohort_alarms SET closed_at = ?, last_verdict = ? WHERE id = ?', [now, JSON.stringify(v), open.id]);
          await recordAction({
            actor: 'auto',
            kind: 'cohort-alarm-closed',
            reason: `cohort ${cohort}: ${v.discoveries.length} discoveries, below the quorum of ${v.quorum}`,
            details: { alarmId: open.id, cohort, modelName, modelVersion },
          });
        }
      }
      return verdicts;
    },

    async devices() {
      const rows = await db.query('SELECT * FROM drift_device_state ORDER BY device_id');
      return rows.map((r) => ({
        deviceId: String(r.device_id),
        cohort: String(r.cohort),
        modelName: String(r.model_name),
        modelVersion: String(r.model_version),
        alarmActive: Number(r.alarm_active) === 1,
        alarmSince: r.alarm_since === null || r.alarm_since === undefined ? null : Number(r.alarm_since),
        lastReportId: String(r.last_report_id),
        lastReportAt: Number(r.last_report_at),
        pValue: Number(r.p_value),
      }));
    },

    async reports(filter = {}) {
      if (filter.ids) return reportsById(filter.ids);
      const where: string[] = [];
      const params: Array<string | number> = [];
      if (filter.deviceId) {
        where.push('device_id = ?');
        params.push(filter.deviceId);
      }
      if (filter.cohort) {
        where.push('cohort = ?');
        params.push(filter.cohort);
      }
      params.push(Math.min(1000, Math.max(1, filter.limit ?? 100)));
      const rows = await db.query(`SELECT * FROM drift_reports ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY received_at DESC, id LIMIT ?`, params);
      return rows.map(toReport);
    },

    async cohortAlarms(filter = {}) {
      const rows = await db.query(`SELECT * FROM drift_cohort_alarms ${filter.openOnly ? 'WHERE closed_at IS NULL' : ''} ORDER BY opened_at DESC`);
      return rows.map(toAlarm);
    },

    async fieldFeatureTargets(reportIds) {
      return poolFeatureStatistics((await reportsById(reportIds)).map((r) => r.report));
    },

    async fieldLayerSketches(reportIds) {
      return poolLayerSketches((await reportsById(reportIds)).flatMap((r) => r.report.layerSketches ?? []));
    },

    async fieldInputShift(reportIds) {
      const drifted = await reportsById(reportIds);
      const field = poolInputStatisticMeans(drifted.map((r) => r.report));
      const first = drifted.reduce<StoredReport | null>((a, r) => (a === null || r.receivedAt < a.receivedAt ? r : a), null);
      if (!field || !first) return null;
      const rows = await db.query(
        'SELECT * FROM drift_reports WHERE cohort = ? AND model_name = ? AND model_version = ? AND alarm_active = 0 AND received_at < ? ORDER BY received_at DESC, id LIMIT 200',
        [first.cohort, first.modelName, first.modelVersion, first.receivedAt],
      );
      const baseline = poolInputStatisticMeans(rows.map(toReport).map((r) => r.report));
      return baseline ? { field, baseline } : null;
    },

    recordAction,

    async actions(limit = 100) {
      const rows = await db.query('SELECT * FROM drift_actions ORDER BY at DESC, id LIMIT ?', [Math.min(1000, Math.max(1, limit))]);
      return rows.map((r) => ({ id: String(r.id), at: Number(r.at), actor: String(r.actor), kind: String(r.kind), reason: String(r.reason), details: JSON.parse(String(r.details)) as Record<string, unknown> }));
    },
  };

  async function reportsById(ids: readonly string[]): Promise<StoredReport[]> {
    const out: StoredReport[] = [];
    for (let i = 0; i < ids.length; i += 200) {
      const chunk = ids.slice(i, i + 200);
      if (chunk.length === 0) continue;
      const rows = await db.query(`SELECT * FROM drift_reports WHERE id IN (${chunk.map(() => '?').join(', ')})`, chunk);
      out.push(...rows.map(toReport));
    }
    return out;
  }
}
