import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync, rmSync, chmodSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join, resolve } from 'node:path';
import { freePort, waitForPort } from '../../../shared/net/free-port';

const root = resolve(import.meta.dirname ?? __dirname, '../../..');

export interface MosquittoProcess {
  url: string;
  port: number;
  stop(): Promise<void>;
  /** Stops and starts again on the same port with the same persistence directory. */
  restart(): Promise<void>;
}

/**
 * Starts the `mosquitto` binary with deploy/mosquitto/mosquitto.conf and deploy/mosquitto/acl,
 * changed only where a test must: a free loopback port, a temporary password file (made by
 * `mosquitto_passwd`) and persistence directory, and running as the current user.
 */
export async function startMosquittoWithDeployConfig(users: Record<string, string>): Promise<MosquittoProcess> {
  const dir = mkdtempSync(join(tmpdir(), 'edgekd-mosq-'));
  const passwd = join(dir, 'passwd');
  let first = true;
  for (const [u, p] of Object.entries(users)) {
    execFileSync('mosquitto_passwd', first ? ['-b', '-c', passwd, u, p] : ['-b', passwd, u, p], { stdio: 'ignore' });
    first = false;
  }
  chmodSync(passwd, 0o600);
  return startMosquittoWithFiles({ dir, passwordFile: passwd, aclFile: join(root, 'deploy/mosquitto/acl'), pidFile: join(dir, 'mosquitto.pid') });
}

/** Paths of the auth files (written by the cloud: cloud/broker/mosquitto-access.ts) inside a fresh folder. */
export function mosquittoAuthPaths(): { dir: string; passwordFile: string; aclFile: string; pidFile: string } {
  const dir = mkdtempSync(join(tmpdir(), 'edgekd-mosq-'));
  return { dir, passwordFile: join(dir, 'passwd'), aclFile: join(dir, 'acl'), pidFile: join(dir, 'mosquitto.pid') };
}

/**
 * deploy/mosquitto/mosquitto.conf with the given password file, ACL and pid file, a free loopback
 * port and persistence in `dir` (removed by stop()).
 */
export async function startMosquittoWithFiles(f: { dir: string; passwordFile: string; aclFile: string; pidFile: string }): Promise<MosquittoProcess> {
  const dir = f.dir;
  const port = await freePort();
  const conf = readFileSync(join(root, 'deploy/mosquitto/mosquitto.conf'), 'utf8')
    .replace(/^password_file .*$/m, `password_file ${f.passwordFile}`)
    .replace(/^acl_file .*$/m, `acl_file ${f.aclFile}`)
    .replace(/^pid_file .*$/m, `pid_file ${f.pidFile}`)
    .replace(/^persistence_location .*$/m, `persistence_location ${dir}/`)
    .replace(/^listener 1883 127\.0\.0\.1$/m, `listener ${port} 127.0.0.1`);
  const confPath = join(dir, 'mosquitto.conf');
  writeFileSync(confPath, `${conf}\nuser ${userInfo().username}\n`);
  let child: ChildProcess | null = null;
  const start = async (): Promise<void> => {
    child = spawn('mosquitto', ['-c', confPath], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr?.on('data', (b: Buffer) => (stderr += b.toString()));
    const exited = new Promise<never>((_, reject) => child!.once('exit', (code) => reject(new Error(`mosquitto exited with ${code}: ${stderr}`))));
    await Promise.race([waitForPort(port), exited]);
    child.removeAllListeners('exit');
  };
  const stop = async (): Promise<void> => {
    const c = child;
    child = null;
    if (!c || c.exitCode !== null) return;
    await new Promise<void>((r) => {
      c.once('exit', () => r());
      c.kill('SIGTERM');
    });
  };
  await start();
  return {
    url: `mqtt://127.0.0.1:${port}`,
    port,
    async stop() {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
    async restart() {
      await stop();
      await start();
    },
  };
}
