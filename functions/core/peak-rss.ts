/**
 * This process's peak resident memory. On Linux, getrusage's maxRSS (process.resourceUsage().maxRSS)
 * is not the process's own: a child inherits the parent's high-water mark at fork and keeps it across
 * exec, so a worker spawned by a process holding 600 MiB reports 600 MiB however little it uses. The
 * kernel's VmHWM (/proc/self/status) is the high-water mark of this process image alone; where it is not
 * available, maxRSS is the upper bound left.
 */
import { readFileSync } from 'node:fs';

/** Peak resident set size in KiB. */
export function peakRssKiB(): number {
  try {
    const match = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync('/proc/self/status', 'utf8'));
    if (match) return Number(match[1]);
  } catch {
    // not Linux: fall through
  }
  return process.resourceUsage().maxRSS;
}

/** Peak resident set size in MiB, one decimal. */
export function peakRssMiB(): number {
  return Math.round((peakRssKiB() / 1024) * 10) / 10;
}
