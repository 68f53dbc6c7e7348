import { createHash, randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { EdgekdError } from '../../shared/errors';
import { parseJson } from '../../shared/contracts/parse';
import type { SqlDb, SqlRow } from '../store/sql-db';
import { migrate, type Migration } from '../store/sql-db';
import type { JobRunner } from '../jobs/job-runner';
import type { TeacherCatalog } from './ports';
import { checkUploadName } from './upload-names';
import type { Teacher, TeacherUpload } from './schemas';
import { jobResult, submitJob, type JobKind } from '../jobs/job-kinds';

export const TEACHER_IMPORT_KIND = 'teacher-import' satisfies JobKind;

export const teacherCatalogMigrations: readonly Migration[] = [
  {
    id: 'api-001',
    async up(db) {
      await db.exec(`CREATE TABLE edgekd_teachers (
        id TEXT PRIMARY KEY, name TEXT NOT NULL, format TEXT NOT NULL, status TEXT NOT NULL, source TEXT NOT NULL,
        path TEXT NOT NULL, sha256 TEXT NOT NULL, created_at BIGINT NOT NULL, import_job_id TEXT, info TEXT NOT NULL)`);
    },
  },
];

interface Row extends SqlRow {
  id: string; name: string; format: string; status: string; source: string; path: string; sha256: string; created_at: number; import_job_id: string | null; info: string;
}
const toTeacher = (r: Row): Teacher => ({
  id: r.id, name: r.name, format: r.format as Teacher['format'], status: r.status as Teacher['status'], source: r.source, path: r.path,
  sha256: r.sha256, createdAt: Number(r.created_at), importJobId: r.import_job_id, info: JSON.parse(r.info) as Record<string, unknown>,
});

function hashFiles(dir: string): { sha256: string; bytes: number; files: string[] } {
  const h = createHash('sha256');
  let bytes = 0;
  const files = readdirSync(dir).filter((f) => statSync(join(dir, f)).isFile()).sort();
  for (const f of files) {
    const b = readFileSync(join(dir, f));
    h.update(f).update('\0').update(b);
    bytes += b.length;
  }
  return { sha256: h.digest('hex'), bytes, files };
}

/** Checks a TensorFlow.js layers model.json: topology present, every weights file it names supplied. */
function checkTfjsModel(modelJson: unknown, present: ReadonlySet<string>): Record<string, unknown> {
  const m = modelJson as { modelTopology?: unknown; weightsManifest?: Array<{ paths?: string[] }>; format?: string };
  if (!m || typeof m !== 'object' || !m.modelTopology) throw new EdgekdError('EDGEKD_MODEL_LOAD_FAILED', 'model.json has no modelTopology: not a TensorFlow.js layers model');
  if (!Array.isArray(m.weightsManifest)) throw new EdgekdError('EDGEKD_MODEL_LOAD_FAILED', 'model.json has no weightsManifest');
  const needed = m.weightsManifest.flatMap((g) => g.paths ?? []).map((p) => p.replace(/^\.\//, ''));
  const missing = needed.filter((p) => !present.has(p));
  if (missing.length) throw new EdgekdError('EDGEKD_MODEL_LOAD_FAILED', `weights files named by model.json are missing: ${missing.join(', ')}`);
  const text = JSON.stringify(m.modelTopology);
  return { weightsFiles: needed, batchNormLayers: (text.match(/"class_name":"BatchNormalization"/g) ?? []).length };
}

/**
 * The teachers the cloud can distil from: the bundled default plus uploads, as TensorFlow.js
 * layers models on disk. An ONNX upload is stored and converted by a `teacher-import` job; its
 * status follows that job (read lazily, so it survives restarts without a listener).
 */
export async function createTeacherCatalog(opts: { db: SqlDb; dataDir: string; jobs: JobRunner; now?: () => number }): Promise<TeacherCatalog & { registerFolder(dir: string, name: string, source: string): Promise<Teacher> }> {
  await migrate(opts.db, teacherCatalogMigrations);
  const now = opts.now ?? Date.now;
  const db = opts.db;

  const refresh = async (t: Teacher): Promise<Teacher> => {
    if (t.status !== 'importing' || !t.importJobId) return t;
    const job = await opts.jobs.get(t.importJobId).catch(() => null);
    if (!job || (job.state !== 'succeeded' && job.state !== 'failed' && job.state !== 'cancelled')) return t;
    const status = job.state === 'succeeded' ? 'ready' : 'failed';
    const info = { ...t.info, ...(job.state === 'succeeded' ? { import: jobResult(job, TEACHER_IMPORT_KIND) } : { importError: job.error }) };
    await db.exec('UPDATE edgekd_teachers SET status = ?, info = ? WHERE id = ?', [status, JSON.stringify(info), t.id]);
    return { ...t, status, info };
  };

  const get = async (id: string): Promise<Teacher> => {
    const rows = await db.query<Row>('SELECT * FROM edgekd_teachers WHERE id = ?', [id]);
    if (!rows[0]) throw new EdgekdError('EDGEKD_NOT_FOUND', `no teacher ${id}`);
    return refresh(toTeacher(rows[0]));
  };

  return {
    get,
    async list() {
      const rows = await db.query<Row>('SELECT * FROM edgekd_teachers ORDER BY created_at DESC, id');
      return Promise.all(rows.map((r) => refresh(toTeacher(r))));
    },
    /** Registers a TensorFlow.js model folder in place (the bundled teacher); idempotent by name. */
    async registerFolder(dir, name, source) {
      const path = resolve(dir);
      const modelPath = join(path, 'model.json');
      if (!existsSync(modelPath)) throw new EdgekdError('EDGEKD_NOT_FOUND', `no model.json in ${path}`);
      const files = hashFiles(path);
      const check = checkTfjsModel(parseJson(readFileSync(modelPath), 'model.json', 'EDGEKD_MODEL_LOAD_FAILED'), new Set(files.files));
      let meta: Record<string, unknown> = {};
      for (const f of ['teacher.json', 'meta.json', 'metadata.json']) {
        if (existsSync(join(path, f))) meta = { ...meta, ...(parseJson(readFileSync(join(path, f)), f) as Record<string, unknown>) };
      }
      const info = { ...meta, ...check, bytes: files.bytes };
      await db.exec(
        `INSERT INTO edgekd_teachers (id, name, format, status, source, path, sha256, created_at, import_job_id, info) VALUES (?, ?, 'tfjs', 'ready', ?, ?, ?, ?, NULL, ?)
         ON CONFLICT (id) DO UPDATE SET path = excluded.path, sha256 = excluded.sha256, info = excluded.info, status = 'ready'`,
        [name, name, source, path, files.sha256, now(), JSON.stringify(info)],
      );
      return get(name);
    },
    async upload(u: TeacherUpload, by: string) {
      checkUploadName('teacher name', u.name);
      for (const f of Object.keys(u.files)) checkUploadName('file name', f);
      const existing = await db.query('SELECT id FROM edgekd_teachers WHERE id = ?', [u.name]);
      if (existing.length) throw new EdgekdError('EDGEKD_JOB_STATE', `a teacher named ${u.name} exists already`);
      const buffers = new Map(Object.entries(u.files).map(([k, v]) => [k, Buffer.from(v, 'base64')]));
      let info: Record<string, unknown>;
      if (u.format === 'tfjs') {
        const model = buffers.get('model.json');
        if (!model) throw new EdgekdError('EDGEKD_INVALID_ARGUMENT', 'a tfjs upload needs model.json among its files');
        info = checkTfjsModel(parseJson(model, 'model.json', 'EDGEKD_MODEL_LOAD_FAILED'), new Set(buffers.keys()));
      } else {
        if (!opts.jobs.kinds.includes(TEACHER_IMPORT_KIND)) {
          throw new EdgekdError('EDGEKD_FEATURE_UNAVAILABLE', 'ONNX teacher import is not available in this cloud (started without it)');
        }
        const onnx = [...buffers.keys()].filter((k) => k.endsWith('.onnx'));
        if (onnx.length !== 1) throw new EdgekdError('EDGEKD_INVALID_ARGUMENT', `an onnx upload needs exactly one .onnx file, got ${onnx.length}`);
        info = { onnxFile: onnx[0] };
      }
      const dir = join(opts.dataDir, 'teachers', `${u.name}-${randomUUID().slice(0, 8)}`);
      mkdirSync(dir, { recursive: true });
      for (const [name, b] of buffers) writeFileSync(join(dir, name), b);
      const files = hashFiles(dir);
      let jobId: string | null = null;
      let path = dir;
      if (u.format === 'onnx') {
        path = join(dir, 'tfjs');
        const job = await submitJob(opts.jobs, TEACHER_IMPORT_KIND, { onnxPath: join(dir, String(info.onnxFile)), outDir: path, name: u.name, ...(u.dataset ? { dataset: u.dataset } : {}), requestedBy: by });
        jobId = job.id;
      }
      await db.exec(
        'INSERT INTO edgekd_teachers (id, name, format, status, source, path, sha256, created_at, import_job_id, info) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
        [u.name, u.name, u.format, u.format === 'tfjs' ? 'ready' : 'importing', `upload by ${by}`, path, files.sha256, now(), jobId, JSON.stringify({ ...info, bytes: files.bytes })],
      );
      return get(u.name);
    },
  };
}
