// The constructor arguments of the device sessions, checked before any field is read, so a caller
// passing null or a plain object gets a typed error instead of a TypeError from deep inside.
import { ConfigError } from '../errors.js';
import { Mcu } from '../device/mcu.js';
import { checkModel, checkOptionsObject, describe } from '../util/guards.js';

export function checkSessionArguments(mcu: unknown, model: unknown, options: unknown, what: string): void {
  if (!(mcu instanceof Mcu)) throw new ConfigError(`${what} needs an Mcu (from Mcu.create), got ${describe(mcu)}`);
  checkModel(model, `${what}: model`);
  checkOptionsObject(options, what);
}
