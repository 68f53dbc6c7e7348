/**
 * The child-process side of a job. Started by the runner as `node bin/run-ts.mjs
 * cloud/jobs/job-child.ts` with an IPC channel; receives one `start` message, imports the handler
 * module, runs it, relays its progress events, and reports `done` or `fail`. A `cancel` message
 * (or a disconnected parent) aborts the handler's signal. Heavy work (tfjs, onnxruntime) therefore
 * never blocks the API's event loop.
 */
import { toEdgekdError } from '../../shared/errors';
import { createParser } from '../../shared/contracts/parse';
import { FromChild, ToChild, jobErrorOf, type JobContext, type JobHandler } from './job-types';

const parseToChild = createParser(ToChild, 'job runner message');

function send(msg: FromChild): Promise<void> {
  return new Promise((resolve) => {
    if (!process.send || !process.connected) return resolve();
    process.send(msg, undefined, {}, () => resolve());
  });
}

const abort = new AbortController();
let started = false;

process.on('disconnect', () => {
  // The runner is gone: stop the work; the job's lease will expire and another runner resumes it.
  abort.abort(new Error('job runner disconnected'));
  setTimeout(() => process.exit(1), 2000).unref();
});

process.on('message', (raw) => {
  let msg: ToChild;
  try {
    msg = parseToChild.parse(raw);
  } catch (e) {
    void send({ t: 'fail', error: jobErrorOf(toEdgekdError(e)) }).then(() => process.exit(1));
    return;
  }
  if (msg.t === 'cancel') {
    abort.abort(new Error(msg.reason));
    return;
  }
  if (started) return;
  started = true;
  const { job, module } = msg;
  void (async () => {
    try {
      const mod = (await import(module)) as { run?: JobHandler; default?: JobHandler };
      const handler = mod.run ?? mod.default;
      if (typeof handler !== 'function') throw new Error(`job module ${module} exports no run()`);
      const ctx: JobContext = {
        jobId: job.id,
        attempt: job.attempt,
        resume: job.resume,
        workDir: job.workDir,
        signal: abort.signal,
        emit: (event) => void send({ t: 'event', event }),
      };
      const result = await handler(job.params, ctx);
      await send({ t: 'done', result: result ?? null });
      process.exit(0);
    } catch (e) {
      await send({ t: 'fail', error: jobErrorOf(toEdgekdError(e, 'EDGEKD_JOB_FAILED')) });
      process.exit(1);
    }
  })();
});

void send({ t: 'ready' });
