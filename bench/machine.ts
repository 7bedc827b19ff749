// What a benchmark number was measured on, recorded beside it so figures from different machines
// (or a busy one) are never compared blindly.
import os from 'node:os';

export interface MachineInfo {
  cpu: string;
  /** Logical cores the OS reports; every benchmark here runs on one. */
  cores: number;
  arch: string;
  platform: string;
  node: string;
  v8: string;
  /** 1-minute load average when the run started: > 0 means other work shared the cores. */
  loadAverage: number;
  date: string;
}

export function describeMachine(now = new Date()): MachineInfo {
  const cpus = os.cpus();
  return {
    cpu: cpus[0]?.model.trim() || 'unknown',
    cores: cpus.length,
    arch: process.arch,
    platform: `${os.type()} ${os.release()}`,
    node: process.version,
    v8: process.versions.v8,
    loadAverage: Number(os.loadavg()[0]!.toFixed(2)),
    date: now.toISOString(),
  };
}
