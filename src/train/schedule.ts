// Learning-rate schedules: a pure function of the step, so a resumed run sees the same rates.
import { ConfigError } from '../errors.js';

export type ScheduleSpec =
  | { kind: 'constant' }
  | { kind: 'cosine'; /** Final rate as a fraction of the initial (default 0). */ floor?: number }
  | { kind: 'step'; /** Multiply by gamma every `every` steps. */ every: number; gamma: number };

export type Schedule = (step: number, totalSteps: number) => number;

export function makeSchedule(lr: number, spec: ScheduleSpec = { kind: 'constant' }): Schedule {
  if (!Number.isFinite(lr) || lr <= 0) throw new ConfigError(`learning rate must be a finite number > 0, got ${lr}`);
  switch (spec.kind) {
    case 'constant':
      return () => lr;
    case 'cosine': {
      const floor = spec.floor ?? 0;
      if (!(floor >= 0 && floor <= 1)) throw new ConfigError(`cosine floor must be in [0, 1], got ${floor}`);
      return (step, total) => {
        const t = total <= 1 ? 0 : Math.min(1, step / (total - 1));
        return lr * (floor + (1 - floor) * 0.5 * (1 + Math.cos(Math.PI * t)));
      };
    }
    case 'step':
      if (!Number.isInteger(spec.every) || spec.every < 1) throw new ConfigError(`step schedule 'every' must be a positive integer, got ${spec.every}`);
      if (!(spec.gamma > 0 && spec.gamma <= 1)) throw new ConfigError(`step schedule gamma must be in (0, 1], got ${spec.gamma}`);
      return (step) => lr * spec.gamma ** Math.floor(step / spec.every);
    default:
      throw new ConfigError(`unknown schedule '${(spec as { kind: string }).kind}'; use constant, cosine or step`);
  }
}

export function parseSchedule(text: string): ScheduleSpec {
  const [kind, ...args] = text.split(':');
  if (kind === 'constant') return { kind };
  if (kind === 'cosine') return { kind, floor: args[0] === undefined ? 0 : Number(args[0]) };
  if (kind === 'step') return { kind, every: Number(args[0] ?? 50), gamma: Number(args[1] ?? 0.5) };
  throw new ConfigError(`unknown schedule '${text}'; use constant, cosine[:floor] or step[:every[:gamma]]`);
}
