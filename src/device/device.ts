// A device instance: one Wasm build over one linear memory whose size is fixed up front, like
// an MCU's SRAM. The first 64 KiB page holds the module's static data (lookup tables); the arena
// starts at ARENA_BASE in every build so buffer offsets, and hence results, never depend on it.
import { UnsupportedError, ConfigError } from '../errors.js';
import { BUILD_FLAVORS, bestBuild, detectFeatures, supportsBuild, type BuildFlavor } from './features.js';
import { compileBuild } from './wasm-source.js';
import { checkOptionsObject } from '../util/guards.js';

export const WASM_PAGE = 65536;
export const ARENA_BASE = WASM_PAGE;
/** Bytes kept readable past the arena's end so SIMD loads of padded tails never leave memory. */
export const ARENA_TAIL_SLACK = 64;
const FLAVOR_IDS: Record<number, BuildFlavor> = { 0: 'scalar', 1: 'simd', 2: 'relaxed' };

export type KernelFn = (...args: number[]) => number;

export interface DeviceOptions {
  /** Which build to run; 'auto' picks the fastest the engine supports. */
  build?: BuildFlavor | 'auto';
  /** Bytes available to the arena (above the static-data page). */
  arenaBytes?: number;
  /** Browser only: folder URL holding scalar.wasm / simd.wasm / relaxed.wasm. */
  wasmBaseUrl?: string | URL;
}

export class Device {
  readonly build: BuildFlavor;
  readonly memory: WebAssembly.Memory;
  readonly arenaBase = ARENA_BASE;
  readonly arenaBytes: number;
  private readonly kernels: Record<string, KernelFn>;

  private constructor(build: BuildFlavor, memory: WebAssembly.Memory, arenaBytes: number, instance: WebAssembly.Instance) {
    this.build = build;
    this.memory = memory;
    this.arenaBytes = arenaBytes;
    this.kernels = instance.exports as unknown as Record<string, KernelFn>;
  }

  static async create(options: DeviceOptions = {}): Promise<Device> {
    checkOptionsObject(options, 'Device.create');
    const requested = options.build ?? 'auto';
    const features = detectFeatures();
    if (requested !== 'auto' && !(BUILD_FLAVORS as readonly string[]).includes(requested)) {
      throw new ConfigError(`unknown build '${String(requested)}'; use auto, ${BUILD_FLAVORS.join(', ')}`);
    }
    const build = requested === 'auto' ? bestBuild(features) : requested;
    if (!supportsBuild(build, features)) {
      const hint = build === 'relaxed' ? " (Node 20 needs '--experimental-wasm-relaxed-simd')" : '';
      throw new UnsupportedError(`this engine cannot run the '${build}' build${hint}; use build 'auto' or 'scalar'`);
    }
    const arenaBytes = options.arenaBytes ?? 16 * 1024 * 1024;
    if (!Number.isInteger(arenaBytes) || arenaBytes <= 0 || arenaBytes > 1024 * 1024 * 1024) {
      throw new ConfigError(`arenaBytes must be an integer in 1..1 GiB, got ${arenaBytes}`);
    }
    const pages = Math.ceil((ARENA_BASE + arenaBytes + ARENA_TAIL_SLACK) / WASM_PAGE);
    const memory = new WebAssembly.Memory({ initial: pages, maximum: pages });
    const module = await compileBuild(build, options.wasmBaseUrl);
    const instance = await WebAssembly.instantiate(module, {
      env: {
        memory,
        abort: () => {
          throw new Error('device abort');
        },
      },
    });
    const device = new Device(build, memory, arenaBytes, instance);
    const heapBase = device.kernel('heap_base')();
    if (heapBase > ARENA_BASE) throw new Error(`device static data (${heapBase} B) exceeds its ${ARENA_BASE} B page`);
    const flavor = FLAVOR_IDS[device.kernel('build_flavor')()];
    if (flavor !== build) throw new Error(`build/${build}.wasm reports flavour '${flavor}': rebuild with npm run build:wasm`);
    return device;
  }

  /** A raw device export. Wrappers in src/kernels validate arguments before calling it. */
  kernel(name: string): KernelFn {
    const fn = this.kernels[name];
    if (typeof fn !== 'function') throw new Error(`device has no kernel '${name}'`);
    return fn;
  }

  get arenaEnd(): number {
    return this.arenaBase + this.arenaBytes;
  }

  get bytes(): Uint8Array {
    return new Uint8Array(this.memory.buffer);
  }
}
