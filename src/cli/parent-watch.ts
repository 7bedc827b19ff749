// `npx lastmile …` runs node under `npm exec` through `sh -c`. SIGKILL of the npm process leaves the
// shell and node running: node still has a live parent (the shell), so "my parent changed" alone
// does not notice. When started by npm (npm sets npm_command), we remember every ancestor from the
// parent up to the npm process, with their start times, and stop when any of them is gone — the
// run's checkpoints up to the last save stay usable. Runs started any other way (a shell, nohup,
// systemd) are not watched, so `nohup lastmile … &` outlives its terminal as it should.
// LASTMILE_PARENT_WATCH=0 turns the watch off.
import { readFileSync } from 'node:fs';

interface Ancestor {
  pid: number;
  started: string;
}

function stat(pid: number): { ppid: number; started: string; name: string } | null {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = s.slice(s.lastIndexOf(')') + 2).split(' ');
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
    return { ppid: Number(fields[1]), started: fields[19]!, name: cmdline };
  } catch {
    return null;
  }
}

const isNpm = (cmdline: string): boolean => /^(npm|npx)( |$)|npm-cli\.js|npx-cli\.js/.test(cmdline);

/** The ancestors from our parent up to and including the npm process, or [] if npm did not start us. */
export function npmAncestors(env = process.env): Ancestor[] {
  if (!env.npm_command || env.LASTMILE_PARENT_WATCH === '0') return [];
  const chain: Ancestor[] = [];
  for (let pid = process.ppid; pid > 1 && chain.length < 16; ) {
    const s = stat(pid);
    if (!s) return [];
    chain.push({ pid, started: s.started });
    if (isNpm(s.name)) return chain;
    pid = s.ppid;
  }
  return [];
}

/** Poll the ancestors every interval; when one is gone, call onOrphaned (default: exit 143, as SIGTERM would). */
export function watchParent(intervalMs = 1000, onOrphaned = (): void => {
  process.stderr.write('lastmile: the npm/npx process that started this run is gone; stopping (checkpoints already written are kept)\n');
  process.exit(143);
}): () => void {
  const chain = npmAncestors();
  if (chain.length === 0) return () => {};
  const timer = setInterval(() => {
    if (chain.some((a) => stat(a.pid)?.started !== a.started)) {
      clearInterval(timer);
      onOrphaned();
    }
  }, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
