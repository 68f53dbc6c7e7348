/**
 * Environment for a process that hosts many simulated agents. On a device each agent is its own
 * process with libuv's default pool of 4 threads for file work; 500 simulated agents sharing one
 * process would share those 4 threads, and their fsyncs (state record, outbox WAL, slot files,
 * pointer) queue behind each other: the simulation would measure that queue, not the agents. The
 * pool grows with the agents per process (one thread per 16 agents, 4 to 64); an explicit
 * UV_THREADPOOL_SIZE in the environment wins.
 */
export function simProcessEnv(agentsInProcess: number, base: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  if (base.UV_THREADPOOL_SIZE) return { ...base };
  return { ...base, UV_THREADPOOL_SIZE: String(Math.min(64, Math.max(4, Math.ceil(agentsInProcess / 16)))) };
}
