import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createParser } from '../../shared/contracts/parse';
import { FromChild, type ToChild } from './job-types';

const RUN_TS = fileURLToPath(new URL('../../bin/run-ts.mjs', import.meta.url));
const CHILD_ENTRY = fileURLToPath(new URL('./job-child.ts', import.meta.url));
const parseFromChild = createParser(FromChild, 'job child message');

export interface ChildHandle {
  readonly pid: number | undefined;
  send(msg: ToChild): void;
  kill(signal: NodeJS.Signals): void;
  /** Resolves with the exit code (or the signal's name) once the process is gone. */
  readonly exited: Promise<number | string>;
}

/**
 * Starts one child process for one job. Messages that fail the IPC schema are dropped with a
 * log line by the caller (`onInvalid`) rather than trusted.
 */
export function startChild(opts: {
  env?: NodeJS.ProcessEnv;
  onMessage: (msg: FromChild) => void;
  onInvalid: (err: Error) => void;
}): ChildHandle {
  const child: ChildProcess = fork(RUN_TS, [CHILD_ENTRY], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    env: { ...process.env, ...opts.env },
    serialization: 'json',
  });
  child.on('message', (raw) => {
    const r = parseFromChild.tryParse(raw);
    if (r.ok) opts.onMessage(r.value);
    else opts.onInvalid(r.error);
  });
  const exited = new Promise<number | string>((resolve) => {
    child.once('exit', (code, signal) => resolve(code ?? signal ?? -1));
    child.once('error', () => resolve(-1));
  });
  return {
    pid: child.pid,
    send(msg) {
      if (child.connected) child.send(msg);
    },
    kill(signal) {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    },
    exited,
  };
}
