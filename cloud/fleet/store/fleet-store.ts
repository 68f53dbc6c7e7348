import { randomBytes } from 'node:crypto';
import type { SqlDb } from '../../store/sql-db';
import { migrate } from '../../store/sql-db';
import type { RolloutState } from '../rollout/rollout-engine';
import { fleetMigrations } from './migrations';
import { fencedWrite } from '../../scale/fenced-write';
import type { Fence } from '../../scale/leader-lease';
import type { ArtifactStore } from '../../scale/artifact-store';
import { EdgekdError } from '../../../shared/errors';

const EMPTY = new Uint8Array(0);
const PACKAGE_COLUMNS = 'package_id, name, version, sha256, size_bytes, manifest, signature, created_at';

export interface DeviceRecord {
  deviceId: string;
  passwordHash: string;
  tags: string[];
  groups: string[];
  createdAt: number;
  /** When the device was revoked (it can no longer authenticate), or null. */
  revokedAt: number | null;
  presence: 'online' | 'offline' | 'unknown';
  presenceBootSeq: number;
  presenceSessionSeq: number;
  lastSeen: number | null;
  activeModel: unknown;
  agentVersion: string | null;
  heartbeat: unknown;
}

export interface PackageRecord {
  packageId: string;
  name: string;
  version: number;
  sha256: string;
  sizeBytes: number;
  manifest: Record<string, unknown>;
  signature: Record<string, unknown>;
  createdAt: number;
}

export interface StoredReport {
  seq: number;
  idempotencyKey: string;
  deviceId: string;
  rolloutId: string | null;
  kind: string;
  body: unknown;
  receivedAt: number;
}

export interface PresenceUpdate {
  deviceId: string;
  presence: 'online' | 'offline';
  bootSeq: number;
  sessionSeq: number;
  at: number;
  activeModel?: unknown;
  agentVersion?: string;
}

export interface HeartbeatUpdate {
  deviceId: string;
  at: number;
  heartbeat: unknown;
  activeModel: unknown;
  agentVersion: string;
}

/**
 * The fleet's persistence on top of SqlDb (SQLite or PostgreSQL, same statements). Rollouts are
 * stored as the engine's JSON state plus `applied_report_seq`: on restart the state is loaded and
 * every report logged after that sequence number is applied again (report log = write-ahead log).
 */
export class FleetStore {
  /** Set while this process leads the fleet role on a shared store: rollout writes carry it. */
  private fence: Fence | null = null;
  private constructor(
    readonly db: SqlDb,
    /** Where package bytes live (null: in the row, as before the artifact store). */
    readonly artifacts: ArtifactStore | null,
  ) {}

  /**
   * Stamps rollout snapshot writes with the leader's fencing token: once another process has
   * taken the lease, they fail with EDGEKD_FENCED instead of overwriting the new leader's state.
   */
  setFence(fence: Fence | null): void {
    this.fence = fence;
  }

  static async open(db: SqlDb, opts: { artifacts?: ArtifactStore } = {}): Promise<FleetStore> {
    await migrate(db, fleetMigrations);
    return new FleetStore(db, opts.artifacts ?? null);
  }

  // ── devices ──────────────────────────────────────────────────────────────
  async insertDevice(d: { deviceId: string; passwordHash: string; tags: string[]; groups: string[]; createdAt: number }): Promise<boolean> {
    const n = await this.db.exec(
      `INSERT INTO fleet_devices (device_id, password_hash, tags, groups_json, created_at, presence, presence_boot_seq, presence_session_seq)
       VALUES (?, ?, ?, ?, ?, 'unknown', -1, -1) ON CONFLICT (device_id) DO NOTHING`,
      [d.deviceId, d.passwordHash, JSON.stringify(d.tags), JSON.stringify(d.groups), d.createdAt],
    );
    return n === 1;
  }

  async updateDeviceLabels(deviceId: string, tags: string[], groups: string[]): Promise<boolean> {
    return (await this.db.exec('UPDATE fleet_devices SET tags = ?, groups_json = ? WHERE device_id = ?', [JSON.stringify(tags), JSON.stringify(groups), deviceId])) === 1;
  }

  async updateDevicePassword(deviceId: string, passwordHash: string): Promise<boolean> {
    return (await this.db.exec('UPDATE fleet_devices SET password_hash = ? WHERE device_id = ? AND revoked_at IS NULL', [passwordHash, deviceId])) === 1;
  }

  /** Marks a device revoked; false when it is unknown or already revoked (the first time stays). */
  async revokeDevice(deviceId: string, at: number): Promise<boolean> {
    return (await this.db.exec('UPDATE fleet_devices SET revoked_at = ? WHERE device_id = ? AND revoked_at IS NULL', [at, deviceId])) === 1;
  }

  async deleteDevice(deviceId: string): Promise<boolean> {
    return (await this.db.exec('DELETE FROM fleet_devices WHERE device_id = ?', [deviceId])) === 1;
  }

  async getDevice(deviceId: string): Promise<DeviceRecord | null> {
    const rows = await this.db.query('SELECT * FROM fleet_devices WHERE device_id = ?', [deviceId]);
    return rows[0] ? toDevice(rows[0]) : null;
  }

  async listDevices(): Promise<DeviceRecord[]> {
    return (await this.db.query('SELECT * FROM fleet_devices ORDER BY device_id')).map(toDevice);
  }

  /**
   * Applies a presence document only if its (bootSeq, sessionSeq) is not older than the stored
   * one, so a late last will of a previous connection cannot mark a reconnected device offline.
   */
  async applyPresence(p: PresenceUpdate): Promise<boolean> {
    const n = await this.db.exec(
      `UPDATE fleet_devices SET presence = ?, presence_boot_seq = ?, presence_session_seq = ?, last_seen = ?,
         active_model = COALESCE(?, active_model), agent_version = COALESCE(?, agent_version)
       WHERE device_id = ? AND (presence_boot_seq < ? OR (presence_boot_seq = ? AND presence_session_seq < ?)
         OR (presence_boot_seq = ? AND presence_session_seq = ? AND ? = 'offline'))`,
      [
        p.presence, p.bootSeq, p.sessionSeq, p.at,
        p.activeModel === undefined ? null : JSON.stringify(p.activeModel), p.agentVersion ?? null,
        p.deviceId, p.bootSeq, p.bootSeq, p.sessionSeq, p.bootSeq, p.sessionSeq, p.presence,
      ],
    );
    return n === 1;
  }

  async applyHeartbeats(updates: readonly HeartbeatUpdate[]): Promise<void> {
    if (updates.length === 0) return;
    await this.db.transaction(async (tx) => {
      for (const u of updates) {
        await tx.exec('UPDATE fleet_devices SET last_seen = ?, heartbeat = ?, active_model = ?, agent_version = ? WHERE device_id = ?', [
          u.at, JSON.stringify(u.heartbeat), JSON.stringify(u.activeModel), u.agentVersion, u.deviceId,
        ]);
      }
    });
  }

  // ── trusted keys ─────────────────────────────────────────────────────────
  async putTrustedKey(keyId: string, entry: unknown, at: number): Promise<void> {
    await this.db.exec('INSERT INTO fleet_trusted_keys (key_id, entry, created_at) VALUES (?, ?, ?) ON CONFLICT (key_id) DO UPDATE SET entry = excluded.entry', [keyId, JSON.stringify(entry), at]);
  }

  async listTrustedKeys(): Promise<unknown[]> {
    return (await this.db.query<{ entry: string }>('SELECT entry FROM fleet_trusted_keys ORDER BY created_at, key_id')).map((r) => JSON.parse(r.entry));
  }

  // ── packages ─────────────────────────────────────────────────────────────
  /**
   * Registers a package once. With an artifact store the model bytes go there (content-addressed)
   * and the row keeps their address; without one (a library caller on one machine) they stay in
   * the row's blob as before.
   */
  async insertPackage(p: PackageRecord & { model: Uint8Array }): Promise<boolean> {
    const ref = this.artifacts ? await this.artifacts.put(p.model) : null;
    const n = await this.db.exec(
      `INSERT INTO fleet_packages (package_id, name, version, sha256, size_bytes, manifest, signature, model, artifact_sha256, created_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (package_id) DO NOTHING`,
      [p.packageId, p.name, p.version, p.sha256, p.sizeBytes, JSON.stringify(p.manifest), JSON.stringify(p.signature), ref ? EMPTY : p.model, ref?.sha256 ?? null, p.createdAt],
    );
    return n === 1;
  }

  async getPackage(packageId: string): Promise<PackageRecord | null> {
    const rows = await this.db.query(`SELECT ${PACKAGE_COLUMNS} FROM fleet_packages WHERE package_id = ?`, [packageId]);
    return rows[0] ? toPackage(rows[0]) : null;
  }

  /** The model bytes as stored (artifact or, for rows not moved yet, the blob); null for an unknown package. */
  async getPackageBytes(packageId: string): Promise<Uint8Array | null> {
    const rows = await this.db.query<{ model: Uint8Array | null; artifact_sha256: string | null }>('SELECT model, artifact_sha256 FROM fleet_packages WHERE package_id = ?', [packageId]);
    const row = rows[0];
    if (!row) return null;
    if (row.artifact_sha256) return this.artifactBytes(packageId, row.artifact_sha256);
    const m = row.model;
    return m ? new Uint8Array(m.buffer, m.byteOffset, m.byteLength) : null;
  }

  /**
   * Where a package's bytes can be read by range without loading them whole: the artifact's
   * address, or null when they are still a blob in the row (then use getPackageBytes).
   */
  async packageArtifact(packageId: string): Promise<string | null> {
    const rows = await this.db.query<{ artifact_sha256: string | null }>('SELECT artifact_sha256 FROM fleet_packages WHERE package_id = ?', [packageId]);
    return rows[0]?.artifact_sha256 ?? null;
  }

  /**
   * Moves package blobs written before the artifact store (or by a process without one) into it,
   * one package at a time: the bytes are put first, then the row switches to the address and
   * drops its blob in one conditional update, so a crash in between loses nothing (the blob is
   * still there, the put is repeated and is a no-op). Several processes may run it at once.
   * Returns how many rows this call moved.
   */
  async moveBlobsToArtifacts(): Promise<number> {
    const artifacts = this.artifacts;
    if (!artifacts) return 0;
    const ids = await this.db.query<{ package_id: string }>('SELECT package_id FROM fleet_packages WHERE artifact_sha256 IS NULL ORDER BY package_id');
    let moved = 0;
    for (const { package_id: id } of ids) {
      const bytes = await this.getPackageBytes(id);
      if (!bytes) continue;
      const ref = await artifacts.put(bytes);
      moved += await this.db.exec('UPDATE fleet_packages SET artifact_sha256 = ?, model = ? WHERE package_id = ? AND artifact_sha256 IS NULL', [ref.sha256, EMPTY, id]);
    }
    return moved;
  }

  private async artifactBytes(packageId: string, sha256: string): Promise<Uint8Array> {
    if (!this.artifacts) throw new EdgekdError('EDGEKD_CONFIG_INVALID', `package ${packageId} is in the artifact store, and this process was opened without one (--artifacts)`);
    const bytes = await this.artifacts.get(sha256);
    if (!bytes) throw new EdgekdError('EDGEKD_NOT_FOUND', `package ${packageId}: artifact ${sha256} is missing from the artifact store (is --artifacts the same shared path on every process?)`);
    return bytes;
  }

  async listPackages(): Promise<PackageRecord[]> {
    return (await this.db.query(`SELECT ${PACKAGE_COLUMNS} FROM fleet_packages ORDER BY name, version`)).map(toPackage);
  }

  // ── download secret ──────────────────────────────────────────────────────
  /**
   * The key of HTTP download tokens, made once per store and shared by every process on it, so a
   * token issued in an offer by the fleet leader is accepted by any process serving downloads, and
   * still after a takeover. It only grants reading the package of a deployment in flight.
   */
  async downloadSecret(now: number): Promise<Buffer> {
    await this.db.exec('INSERT INTO fleet_secrets (name, value, created_at) VALUES (?, ?, ?) ON CONFLICT (name) DO NOTHING', ['download-token', randomBytes(32).toString('base64url'), now]);
    const rows = await this.db.query<{ value: string }>('SELECT value FROM fleet_secrets WHERE name = ?', ['download-token']);
    return Buffer.from(rows[0]!.value, 'base64url');
  }

  // ── rollouts ─────────────────────────────────────────────────────────────
  async saveRollout(s: RolloutState, appliedReportSeq: number): Promise<void> {
    const fence = this.fence;
    if (fence) await fencedWrite(this.db, fence, (tx) => writeRollout(tx, s, appliedReportSeq));
    else await writeRollout(this.db, s, appliedReportSeq);
  }

  async loadRollouts(filter: { activeOnly?: boolean } = {}): Promise<Array<{ state: RolloutState; appliedReportSeq: number }>> {
    const where = filter.activeOnly ? "WHERE status NOT IN ('completed', 'rolled_back', 'aborted', 'failed')" : '';
    const rows = await this.db.query<{ state: string; applied_report_seq: number }>(`SELECT state, applied_report_seq FROM fleet_rollouts ${where} ORDER BY created_at`);
    return rows.map((r) => ({ state: JSON.parse(r.state) as RolloutState, appliedReportSeq: Number(r.applied_report_seq) }));
  }

  async getRollout(rolloutId: string): Promise<RolloutState | null> {
    const rows = await this.db.query<{ state: string }>('SELECT state FROM fleet_rollouts WHERE rollout_id = ?', [rolloutId]);
    return rows[0] ? (JSON.parse(rows[0].state) as RolloutState) : null;
  }

  // ── report log (dedup on idempotency key) ────────────────────────────────
  /** Logs a device report once. Returns its sequence number, or null if the key was seen before. */
  async logReport(r: Omit<StoredReport, 'seq'>): Promise<number | null> {
    return (await this.logReports([r]))[0] ?? null;
  }

  /**
   * logReport for many reports in one transaction (one commit instead of one per report); returns
   * each report's seq, or null for a duplicate, in input order.
   */
  async logReports(reports: ReadonlyArray<Omit<StoredReport, 'seq'>>): Promise<Array<number | null>> {
    if (reports.length === 0) return [];
    // One multi-row INSERT per slice instead of one statement per report: on PostgreSQL each
    // statement is a round trip, and a 5,000-device wave's reports queued behind them. Rows of a
    // VALUES list take their seq in list order; a key repeated within the batch is stored once
    // (its first occurrence) and the repeats are duplicates, as they would be one by one.
    const SLICE = 500; // × 6 parameters, under SQLite's and PostgreSQL's limits
    return this.db.transaction(async (tx) => {
      // Several processes log reports into one PostgreSQL (shared ingest), and the fleet leader
      // reads the log by seq (`reportsSince`). A seq is taken at INSERT but becomes visible at
      // COMMIT, so without this lock a reader could see seq 101 before a slower transaction's 100
      // commits, move past it and never apply 100. Holding one lock per schema from before the
      // first seq is drawn until the commit makes commit order equal seq order: whoever sees seq
      // N committed has seen every row below it. SQLite has one writer and needs nothing.
      if (tx.dialect === 'postgres') await tx.query("SELECT pg_advisory_xact_lock(hashtext('edgekd.fleet_reports.' || current_schema()))");
      const out: Array<number | null> = [];
      for (let i = 0; i < reports.length; i += SLICE) {
        const slice = reports.slice(i, i + SLICE);
        const rows = await tx.query<{ seq: number; device_id: string; idempotency_key: string }>(
          `INSERT INTO fleet_reports (idempotency_key, device_id, rollout_id, kind, body, received_at) VALUES ${slice.map(() => '(?, ?, ?, ?, ?, ?)').join(', ')}
           ON CONFLICT (device_id, idempotency_key) DO NOTHING RETURNING seq, device_id, idempotency_key`,
          slice.flatMap((r) => [r.idempotencyKey, r.deviceId, r.rolloutId, r.kind, JSON.stringify(r.body), r.receivedAt]),
        );
        const seqOf = new Map(rows.map((r) => [`${r.device_id}\u0000${r.idempotency_key}`, Number(r.seq)]));
        for (const r of slice) {
          const k = `${r.deviceId}\u0000${r.idempotencyKey}`;
          out.push(seqOf.get(k) ?? null);
          seqOf.delete(k); // a repeat later in the batch is a duplicate
        }
      }
      return out;
    });
  }

  /** Reports of a rollout logged after `seq` (and at most `upTo`, when given), in log order. */
  async reportsAfter(rolloutId: string, seq: number, upTo?: number): Promise<StoredReport[]> {
    const rows = upTo === undefined
      ? await this.db.query('SELECT * FROM fleet_reports WHERE rollout_id = ? AND seq > ? ORDER BY seq', [rolloutId, seq])
      : await this.db.query('SELECT * FROM fleet_reports WHERE rollout_id = ? AND seq > ? AND seq <= ? ORDER BY seq', [rolloutId, seq, upTo]);
    return rows.map(toReport);
  }

  /**
   * Every report logged after `seq`, in log order, at most `limit`: how the fleet leader follows
   * reports other processes logged. Complete up to the last row returned (see logReports' lock).
   */
  async reportsSince(seq: number, limit: number): Promise<StoredReport[]> {
    return (await this.db.query('SELECT * FROM fleet_reports WHERE seq > ? ORDER BY seq LIMIT ?', [seq, limit])).map(toReport);
  }

  /** The highest seq in the report log (0 when empty). */
  async lastReportSeq(): Promise<number> {
    const rows = await this.db.query<{ s: number | null }>('SELECT MAX(seq) AS s FROM fleet_reports');
    return Number(rows[0]?.s ?? 0);
  }

  async countReports(deviceId?: string): Promise<number> {
    const rows = deviceId
      ? await this.db.query<{ n: number }>('SELECT COUNT(*) AS n FROM fleet_reports WHERE device_id = ?', [deviceId])
      : await this.db.query<{ n: number }>('SELECT COUNT(*) AS n FROM fleet_reports');
    return Number(rows[0]?.n ?? 0);
  }
}

async function writeRollout(db: SqlDb, s: RolloutState, appliedReportSeq: number): Promise<void> {
  await db.exec(
    `INSERT INTO fleet_rollouts (rollout_id, package_id, status, state, applied_report_seq, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)
     ON CONFLICT (rollout_id) DO UPDATE SET status = excluded.status, state = excluded.state, applied_report_seq = excluded.applied_report_seq, updated_at = excluded.updated_at`,
    [s.id, s.spec.packageId, s.status, JSON.stringify(s), appliedReportSeq, s.createdAt, s.updatedAt],
  );
}

function toReport(r: Record<string, unknown>): StoredReport {
  return {
    seq: Number(r.seq), idempotencyKey: String(r.idempotency_key), deviceId: String(r.device_id), rolloutId: (r.rollout_id as string | null) ?? null,
    kind: String(r.kind), body: JSON.parse(String(r.body)), receivedAt: Number(r.received_at),
  };
}

function toDevice(r: Record<string, unknown>): DeviceRecord {
  return {
    deviceId: String(r.device_id),
    passwordHash: String(r.password_hash),
    tags: JSON.parse(String(r.tags)) as string[],
    groups: JSON.parse(String(r.groups_json)) as string[],
    createdAt: Number(r.created_at),
    revokedAt: r.revoked_at === null || r.revoked_at === undefined ? null : Number(r.revoked_at),
    presence: r.presence as DeviceRecord['presence'],
    presenceBootSeq: Number(r.presence_boot_seq),
    presenceSessionSeq: Number(r.presence_session_seq),
    lastSeen: r.last_seen === null || r.last_seen === undefined ? null : Number(r.last_seen),
    activeModel: r.active_model ? JSON.parse(String(r.active_model)) : null,
    agentVersion: (r.agent_version as string | null) ?? null,
    heartbeat: r.heartbeat ? JSON.parse(String(r.heartbeat)) : null,
  };
}

function toPackage(r: Record<string, unknown>): PackageRecord {
  return {
    packageId: String(r.package_id),
    name: String(r.name),
    version: Number(r.version),
    sha256: String(r.sha256),
    sizeBytes: Number(r.size_bytes),
    manifest: JSON.parse(String(r.manifest)) as Record<string, unknown>,
    signature: JSON.parse(String(r.signature)) as Record<string, unknown>,
    createdAt: Number(r.created_at),
  };
}
