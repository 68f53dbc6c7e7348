import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { CLOUD_ROLES } from '../../cloud/scale/cloud-roles';

const root = resolve(__dirname, '../..');
// Parsed YAML documents, checked field by field below.
type Obj = Record<string, any>;

const load = (file: string): Obj[] =>
  parseAllDocuments(readFileSync(join(__dirname, file), 'utf8')).map((d) => {
    expect(d.errors, `${file}: YAML errors`).toEqual([]);
    return d.toJS() as Obj;
  });

// The flags `edgekd cloud` accepts, from its own --help (the CLI is the contract, not a copy of it).
const help = execFileSync(process.execPath, [join(root, 'bin/edgekd.mjs'), 'cloud', '--help'], { cwd: root, encoding: 'utf8' });
const cliFlags = new Set([...help.matchAll(/(?:^|[\s,])(--[a-z][a-z0-9-]*)/g)].map((m) => m[1]!));

const common = load('common.yaml');
const configMap = common.find((o) => o.kind === 'ConfigMap')!;
const pvc = common.find((o) => o.kind === 'PersistentVolumeClaim')!;

describe.each(['api', 'fleet', 'worker'] as const)('deploy/k8s/%s.yaml', (role) => {
  const docs = load(`${role}.yaml`);
  const dep = docs.find((o) => o.kind === 'Deployment')!;
  const c = dep.spec.template.spec.containers[0] as Obj;
  const args = c.args as string[];
  const flag = (name: string): string | undefined => {
    const i = args.indexOf(name);
    return i >= 0 ? args[i + 1] : undefined;
  };

  it('runs `edgekd cloud` in its role with flags the CLI accepts', () => {
    expect(c.command).toEqual(['node', 'bin/edgekd.mjs']);
    expect(args[0]).toBe('cloud');
    expect(CLOUD_ROLES).toContain(role);
    expect(flag('--role')).toBe(role);
    for (const a of args.filter((x) => x.startsWith('--'))) expect(cliFlags, `${a} is not an edgekd cloud flag`).toContain(a);
    // Split roles need PostgreSQL and an external broker (cloud/scale/cloud-roles.ts).
    expect(flag('--db')).toBe('$(EDGEKD_DB_URL)');
    expect(flag('--broker')).toBe('$(EDGEKD_BROKER_URL)');
    expect(configMap.data['db-url']).toMatch(/^postgres:\/\/[^:@/]+@/); // a user, no password
    expect(configMap.data['broker-url']).toMatch(/^mqtts?:\/\//);
    expect(flag('--process-id')).toBe('$(POD_NAME)');
    expect(flag('--host')).toBe('0.0.0.0');
  });

  it('takes every variable it expands from the pod, a ConfigMap or a Secret; secrets only by reference', () => {
    const env = new Map((c.env as Obj[]).map((e) => [e.name as string, e]));
    for (const a of args) for (const m of a.matchAll(/\$\(([A-Z_]+)\)/g)) expect(env.has(m[1]!), `${m[1]} is not set`).toBe(true);
    expect(env.get('POD_NAME')!.valueFrom.fieldRef.fieldPath).toBe('metadata.name');
    for (const [name, key] of [['PGPASSWORD', 'edgekd-postgres'], ['EDGEKD_BROKER_PASSWORD', 'edgekd-broker']]) {
      expect(env.get(name!)!.valueFrom.secretKeyRef.name).toBe(key);
      expect(env.get(name!)!.value).toBeUndefined();
    }
    for (const e of env.values()) if (e.value !== undefined) expect(e.name).not.toMatch(/PASSWORD|TOKEN|SECRET|KEY/);
    for (const e of env.values()) if (e.valueFrom?.configMapKeyRef) expect(configMap.data).toHaveProperty(e.valueFrom.configMapKeyRef.key);
    // API tokens come from a mounted Secret file, never the command line.
    expect(args).not.toContain('--token');
    const mounts = new Map((c.volumeMounts as Obj[]).map((m) => [m.name as string, m]));
    const volumes = new Map((dep.spec.template.spec.volumes as Obj[]).map((v) => [v.name as string, v]));
    expect(flag('--token-file')!.startsWith(`${mounts.get('api-tokens')!.mountPath}/`)).toBe(true);
    expect(volumes.get('api-tokens')!.secret.secretName).toBe('edgekd-api-tokens');
    expect(flag('--broker-ca')!.startsWith(`${mounts.get('broker-ca')!.mountPath}/`)).toBe(true);
    expect(flag('--data')).toBe(mounts.get('data')!.mountPath);
    expect(volumes.get('data')!.persistentVolumeClaim.claimName).toBe(pvc.metadata.name);
    expect(pvc.spec.accessModes).toEqual(['ReadWriteMany']);
    for (const m of mounts.values()) expect(volumes.has(m.name), `volume ${m.name}`).toBe(true);
  });

  it('probes the HTTP port the process listens on: liveness /api/health, readiness the leader route on fleet', () => {
    const port = c.ports.find((p: Obj) => p.name === 'http');
    expect(String(port.containerPort)).toBe(flag('--port'));
    expect(c.livenessProbe.httpGet).toEqual({ path: '/api/health', port: 'http' });
    expect(c.readinessProbe.httpGet).toEqual({ path: role === 'fleet' ? '/api/fleet/leader' : '/api/health', port: 'http' });
    const labels = dep.spec.template.metadata.labels;
    expect(dep.spec.selector.matchLabels).toEqual(labels);
    expect(labels['app.kubernetes.io/component']).toBe(role);
    const svc = docs.find((o) => o.kind === 'Service');
    if (role === 'worker') expect(svc).toBeUndefined();
    else expect(svc!.spec.selector).toEqual(labels);
    // A fleet standby is never ready: a rolling update must be allowed to go on with one ready pod.
    if (role === 'fleet') expect(dep.spec.strategy.rollingUpdate).toEqual({ maxSurge: 0, maxUnavailable: 1 });
  });
});
