import { readFileSync } from 'node:fs';

/**
 * CPU time consumed by the calling OS thread (main thread or worker thread), in ms. On a machine
 * shared with other work, wall time measures the wait for a core as much as the work; thread CPU
 * time measures the work.
 *
 * Source: /proc/thread-self/schedstat (first field: nanoseconds on a CPU), else
 * /proc/thread-self/stat (utime + stime in 10 ms clock ticks), else NaN (macOS, Windows).
 */
export function threadCpuMs(): number {
  try {
    const ns = Number(readFileSync('/proc/thread-self/schedstat', 'utf8').split(' ')[0]);
    if (Number.isFinite(ns) && ns > 0) return ns / 1e6;
  } catch {
    // fall through to the coarser counter
  }
  try {
    const stat = readFileSync('/proc/thread-self/stat', 'utf8');
    // Fields after the parenthesised command name (which may contain spaces): utime is field 14
    // and stime field 15 of the whole line. USER_HZ is 100 on mainstream Linux builds.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(rest[11]) + Number(rest[12])) * 10;
  } catch {
    return Number.NaN;
  }
}
