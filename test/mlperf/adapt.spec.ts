// QZO-FF adaptation of imported int8 MLPerf Tiny models: the exact lift onto the 16-bit grid, what
// it does to zero-shot outputs, the CLI end to end (kept head, new head; head, last:K, full), and
// the adapted model exported as int8 .tflite: re-imported exactly as written and run by Arm NN.
import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { importTflite } from '../../src/tflite/import.js';
import { createInt8Runner } from '../../src/runtime/int8-run.js';
import { liftModelTo16, requantizeModelTo8 } from '../../src/tflite/requantize.js';
import { loadModel, saveModel, type QuantizedModel } from '../../src/model/model.js';
import { resolveGraph } from '../../src/model/graph.js';
import { QuantizedSession } from '../../src/runtime/session.js';
import { Mcu } from '../../src/device/mcu.js';
import { main } from '../../src/cli/main.js';
import { armnnRun, compare, mlperfModel, randomInt8, MLPERF_MODELS } from './armnn.js';
import { writeFashionFolder } from './fashion-folder.js';

const rows: Record<string, unknown>[] = [];
const KWS_LABELS = 'down,go,left,no,off,on,right,stop,up,yes,silence,unknown';

async function logits(model: QuantizedModel, x: Int8Array, size: number): Promise<Int32Array> {
  const plan = QuantizedSession.plan(model, { batch: 1 });
  const r16 = (b: number) => Math.ceil(b / 16) * 16 + 16;
  const session = new QuantizedSession(await Mcu.create({ budget: { sramBytes: r16(plan.sramBytes), flashBytes: r16(plan.flashBytes) } }), model, { batch: 1 });
  const out: number[] = [];
  for (let i = 0; i < x.length; i += size) {
    session.setInput(x.subarray(i, i + size));
    session.forward();
    out.push(...(session.readLogits() as Int32Array));
  }
  return Int32Array.from(out);
}

async function cli(args: string[]): Promise<void> {
  const orig = console.log;
  console.log = () => {};
  try {
    expect(await main(['node', 'lastmile', '-q', ...args]), args.join(' ')).toBe(0);
  } finally {
    console.log = orig;
  }
}

describe('adapting imported int8 models', () => {
  for (const name of MLPERF_MODELS) {
    it(`${name}: the 16-bit lift keeps every real weight value; a lifted head gives exactly 2^k × the int8 logits`, async () => {
      const { path, bytes } = mlperfModel(name);
      const model = importTflite(bytes, path) as QuantizedModel;
      const lifted = liftModelTo16(model);
      for (const [layer, p] of Object.entries(lifted.params)) {
        const o = model.params[layer]!;
        const channels = o.bias.length;
        const per = o.weights.length / channels;
        const last = resolveGraph(model.architecture).nodes.find((n) => n.node.name === layer)!.node.kind === 'depthwise';
        const ch = (i: number) => (o.weightScales.length === 1 ? 0 : last ? i % channels : Math.floor(i / per));
        for (let i = 0; i < o.weights.length; i++) expect(p.weights[i]! * p.weightScales[ch(i)]!).toBe(o.weights[i]! * o.weightScales[ch(i)]!);
      }
      expect(requantizeModelTo8(lifted).params).toEqual(model.params);
      const graph = resolveGraph(model.architecture);
      const head = graph.nodes[graph.nodes.length - 1]!.node.name;
      const size = graph.inputShape.reduce((a, b) => a * b, 1);
      const x = randomInt8(200 * size, 77);
      const base = await logits(model, x, size);
      const headOnly = await logits(liftModelTo16(model, new Set([head])), x, size);
      const k = model.params[head]!.weightScales[0]! / liftModelTo16(model, new Set([head])).params[head]!.weightScales[0]!;
      expect(Array.from(headOnly)).toEqual(Array.from(base, (v) => v * k));
      // Lifting every layer: requantized layers round twice (TFLM's MultiplyByQuantizedMultiplier) with a shift 8 larger.
      const [a, b] = [await createInt8Runner(model), await createInt8Runner(lifted)];
      const full = compare(a.run(x), b.run(x), a.outputSize);
      rows.push({ model: name, headLiftLogitsExact: true, fullLiftOutputExact: +full.exactShare.toFixed(4), fullLiftMaxDiff: full.maxAbsDiff, fullLiftTop1Agree: `${full.argmaxAgree}/${full.samples}` });
    });
  }

  it('KWS in the CLI: import with labels, adapt (kept head, new head; head, last:2, full), export int8 .tflite, re-import exactly, Arm NN runs it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lastmile-kws-'));
    const { path } = mlperfModel('kws_ref_model');
    await cli(['import', '--tflite', path, '--labels', KWS_LABELS, '--out', join(dir, 'kws.lmdl')]);
    // Data named like three of the model's keywords: the head is kept and labels map by name.
    await writeFashionFolder(join(dir, 'named'), [0, 1, 7], 30, ['go', 'no', 'yes']);
    await writeFashionFolder(join(dir, 'new'), [0, 1, 7], 30);
    const common = ['--ways', '3', '--shots', '5', '--queries', '20', '--classes', '0-2', '--steps', '8', '--device', '512k/1m', '--no-baseline'];
    await cli(['adapt', '--model', join(dir, 'kws.lmdl'), '--data', `folder:${join(dir, 'named')}`, '--train', 'head', '--out', join(dir, 'kept'), ...common]);
    const kept = JSON.parse(readFileSync(join(dir, 'kept', 'report.json'), 'utf8'));
    expect(kept.head).toBe('kept');
    for (const train of ['head', 'last:2', 'full']) {
      const out = join(dir, `new-${train.replace(':', '')}`);
      await cli(['adapt', '--model', join(dir, 'kws.lmdl'), '--data', `folder:${join(dir, 'new')}`, '--train', train, '--out', out, ...common]);
      const r = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8'));
      expect(r.head).toBe('replaced');
      expect(r.losses.length).toBe(8);
      rows.push({ model: `kws ${train} (new head, 3 Fashion classes)`, zeroShot: r.zeroShot, after16: r.after, afterInt8: r.afterInt8, sramPeak: r.sramPeak });
      const adapted = loadModel(new Uint8Array(readFileSync(join(out, 'model.lmdl')))) as QuantizedModel;
      await cli(['export', '--format', 'tflite', '--model', join(out, 'model.lmdl'), '--out', join(out, 'model.tflite')]);
      const exported = new Uint8Array(readFileSync(join(out, 'model.tflite')));
      const back = importTflite(exported) as QuantizedModel;
      expect(back.params).toEqual(requantizeModelTo8(adapted).params);
      const runner = await createInt8Runner(back);
      const x = randomInt8(20 * runner.inputSize, 5);
      writeFileSync(join(out, 'x.bin'), x);
      const agreement = compare(runner.run(x), armnnRun(join(out, 'model.tflite'), x), runner.outputSize);
      expect(agreement.argmaxAgree).toBeGreaterThanOrEqual(18);
    }
    rows.push({ model: 'kws head (kept head, data named go/no/yes)', zeroShot: kept.zeroShot, after16: kept.after, afterInt8: kept.afterInt8 });
    void saveModel;
  });

  afterAll(() => {
    console.log('\nAdapting imported int8 models');
    console.table(rows);
  });
});
