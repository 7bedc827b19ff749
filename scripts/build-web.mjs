// Builds the static page into dist-web/: two esbuild bundles (the page and its training worker), the
// HTML and CSS, the three device builds, the shipped backbone and the bundled sample set. The folder
// works from any static host, offline: no server logic, nothing fetched from elsewhere.
//
//   dist-web/index.html, style.css   the page
//   dist-web/main.js                 UI bundle (no device code)
//   dist-web/worker.js               training worker bundle (the library's runtime, kernels, trainer)
//   dist-web/wasm/{scalar,simd,relaxed}.wasm
//   dist-web/models/mnist-cnn-digits04.lmdl
//   dist-web/assets/digits-5to9.bin
import { build } from 'esbuild';
import { copyFileSync, existsSync, mkdirSync, rmSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, 'dist-web');
const BACKBONE = 'mnist-cnn-digits04.lmdl';
const SAMPLES = 'digits-5to9.bin';
// Node-only library modules: if one of these reaches a bundle, the browser build is wrong.
const NODE_ONLY = [/src\/cli\//, /src\/report\//, /src\/util\/package-root\.ts$/, /src\/data\/(mnist|idx|image-folder|fashion-mnist)\.ts$/, /src\/model\/onnx-/, /src\/cost\/model-graph\.ts$/];

function need(path, hint) {
  if (!existsSync(path)) {
    console.error(`build-web: ${relative(root, path)} is missing; ${hint}`);
    process.exit(1);
  }
}

const wasm = ['scalar', 'simd', 'relaxed'].map((f) => join(root, 'build', `${f}.wasm`));
for (const w of wasm) need(w, "build the device with 'npm run build:wasm' (npm install does it)");
need(join(root, 'models', BACKBONE), 'it ships with the repository');
need(join(root, 'web', 'assets', SAMPLES), "generate it with 'node scripts/gen-web-samples.mjs'");

rmSync(out, { recursive: true, force: true });
mkdirSync(join(out, 'wasm'), { recursive: true });
mkdirSync(join(out, 'models'), { recursive: true });
mkdirSync(join(out, 'assets'), { recursive: true });

const result = await build({
  entryPoints: { main: join(root, 'web/src/main.ts'), worker: join(root, 'web/src/worker.ts') },
  outdir: out,
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: ['es2022'],
  minify: true,
  sourcemap: 'linked',
  metafile: true,
  legalComments: 'none',
  // The library reaches node:fs etc. only through dynamic imports behind an "is this Node?" check
  // (wasm-source.ts); they never run in a browser, so they stay unresolved imports in the bundle.
  external: ['node:*'],
  logLevel: 'warning',
});

const inputs = Object.keys(result.metafile.inputs);
const leaked = inputs.filter((i) => NODE_ONLY.some((re) => re.test(i)));
if (leaked.length) {
  console.error(`build-web: Node-only modules reached the browser bundle: ${leaked.join(', ')}`);
  process.exit(1);
}
// node: builtins may appear only as dynamic imports (never evaluated in a browser); a static one
// would fail the page at load time.
for (const [file, output] of Object.entries(result.metafile.outputs)) {
  const statics = output.imports.filter((i) => i.path.startsWith('node:') && i.kind !== 'dynamic-import');
  if (statics.length) {
    console.error(`build-web: ${file} statically imports ${statics.map((i) => i.path).join(', ')}; a browser cannot load it`);
    process.exit(1);
  }
}
const mainInputs = Object.keys(result.metafile.outputs[relative(root, join(out, 'main.js'))]?.inputs ?? {});
if (mainInputs.some((i) => /src\/(runtime\/(device|session|mcu)|kernels)\//.test(i) || /src\/runtime\/(device|session|mcu)\.ts$/.test(i))) {
  console.error('build-web: the page bundle pulled in device code; only the worker should');
  process.exit(1);
}

for (const f of ['index.html', 'style.css']) copyFileSync(join(root, 'web', f), join(out, f));
for (const w of wasm) copyFileSync(w, join(out, 'wasm', w.split('/').pop()));
copyFileSync(join(root, 'models', BACKBONE), join(out, 'models', BACKBONE));
copyFileSync(join(root, 'web', 'assets', SAMPLES), join(out, 'assets', SAMPLES));

const size = (p) => statSync(join(out, p)).size;
const files = ['index.html', 'style.css', 'main.js', 'worker.js', 'wasm/relaxed.wasm', 'wasm/simd.wasm', 'wasm/scalar.wasm', `models/${BACKBONE}`, `assets/${SAMPLES}`];
const total = files.reduce((s, f) => s + size(f), 0);
console.log(`built ${relative(process.cwd(), out) || out}/ (${(total / 1024).toFixed(0)} KiB without source maps)`);
for (const f of files) console.log(`  ${f.padEnd(34)} ${(size(f) / 1024).toFixed(1).padStart(7)} KiB`);
