// The documented command shape on the real MLPerf Tiny KWS model (../shared beside the repository:
// this fails, not skips, without it) and espeak-ng speech (rendered by speech.spec.ts's generator).
import { describe, it, expect, beforeAll } from 'vitest';
import { lastmile as run } from '../helpers/cli.js';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
// @ts-expect-error plain ESM script without types
import { generate, KEYWORDS, OTHER_WORDS, DEV_VOICES } from '../../scripts/gen-speech.mjs';

const ROOT = resolve(import.meta.dirname, '../..');
const MODEL = resolve(ROOT, '../shared/mlperf-tiny/kws_ref_model.tflite');
const SPEECH = resolve(ROOT, '.cache/speech/kws');
const LABELS = 'down,go,left,no,off,on,right,stop,up,yes,silence,unknown';

// Spawned, not spawnSync: a test worker blocked for a minute misses vitest's RPC deadlines.
async function lastmile(...args: string[]) {
  const r = await run(args, { cwd: ROOT, timeoutMs: 20 * 60_000 });
  return { code: r.code, stdout: r.stdout, stderr: r.stderr };
}

beforeAll(() => {
  generate({ out: SPEECH, words: [...KEYWORDS, ...OTHER_WORDS], voices: DEV_VOICES, speeds: [130, 160, 190], pitches: [35, 50, 65], snr: [30, 15] });
});

describe('lastmile import --tflite + adapt --data wav:DIR', () => {
  it('imports the KWS model and adapts it to a voice with its own head (10-way, 3-shot, last:2)', async () => {
    expect(existsSync(MODEL), `${MODEL} is missing: put ../shared/mlperf-tiny beside the repository`).toBe(true);
    const out = mkdtempSync(join(tmpdir(), 'kws-cli-'));
    const imp = await lastmile('import', '--tflite', MODEL, '--labels', LABELS, '--out', join(out, 'kws.lmdl'));
    expect(imp.code, imp.stderr).toBe(0);
    const r = await lastmile('adapt', '--model', join(out, 'kws.lmdl'), '--data', `wav:${join(SPEECH, 'en-029')}`, '--classes', 'down,go,left,no,off,on,right,stop,up,yes',
      '--ways', '10', '--shots', '3', '--queries', '5', '--train', 'last:2', '--steps', '30', '--seed', '2', '--json', '--out', join(out, 'run'));
    expect(r.code, r.stderr).toBe(0);
    const json = JSON.parse(r.stdout);
    expect(json.head).toBe('kept');
    expect(json.classes).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(json.steps).toBe(30);
    expect(json.zeroShot).toBeGreaterThan(20);
    expect(json.memory.ff.fits).toBe(true);
    // wav:DIR data: the MFCC front end is planned with the sessions and estimated per clip.
    expect(json.frontEnd.kind).toBe('kws-mfcc');
    expect(json.frontEnd.sramBytes).toBe(32000 + 2880 + 490);
    expect(json.frontEnd.mcu.msPerClip).toBeGreaterThan(50);
    expect(json.sramPeak).toBe(json.memory.ff.sramPeak);
    // Unknown class names are a user error naming the choices.
    const bad = await lastmile('adapt', '--model', join(out, 'kws.lmdl'), '--data', `wav:${join(SPEECH, 'en-029')}`, '--classes', 'down,elephant', '--ways', '2', '--shots', '1', '--steps', '1', '--json');
    // With --json the error is a JSON object on stdout (exit 2).
    expect(bad.code).toBe(2);
    expect((JSON.parse(bad.stdout) as { error: { message: string } }).error.message).toMatch(/elephant|class list/);
  });
});
