/**
 * After a command has stopped everything it started, the process should end by itself. If some
 * library still holds the event loop (a socket in keep-alive, a timer), exit anyway after a grace
 * period and say what was left, rather than hang after "stopped.".
 */
export function exitAfterStop(graceMs = 2000): void {
  setTimeout(() => {
    const handles = (process as unknown as { _getActiveHandles?: () => object[] })._getActiveHandles?.() ?? [];
    const kinds = handles.map((h) => h.constructor?.name ?? 'unknown').filter((k) => k !== 'WriteStream' && k !== 'ReadStream');
    if (kinds.length) process.stderr.write(`exiting with handles still open: ${kinds.join(', ')}\n`);
    process.exit(process.exitCode ?? 0);
  }, graceMs).unref();
}
