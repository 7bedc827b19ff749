// `lastmile experiment backbones`: re-create the ResNet-8 backbone files in models/ (seeded: the same
// initialisation and data order every time). The small CNN files come from `lastmile pretrain`
// (models/README.md).
import { writeFileAtomic } from '../io/atomic-write.js';
import { join } from 'node:path';
import { saveModel } from '../model/model.js';
import { packageRoot } from '../util/package-root.js';
import { BACKBONES, pretrainBackbone } from './backbones.js';

export async function makeBackbones(say: (line: string) => void, keys = ['resnet8-mnist', 'resnet8-fashion']): Promise<void> {
  for (const key of keys) {
    const spec = BACKBONES[key]!;
    const r = await pretrainBackbone(spec, (epoch, loss) => say(`${key} epoch ${epoch}: mean loss ${loss.toFixed(4)}`));
    const bytes = saveModel(r.model);
    writeFileAtomic(join(packageRoot(), spec.file), bytes, 'model');
    say(`wrote ${spec.file} (${bytes.length} B): validation accuracy ${r.validationAccuracy.toFixed(2)}% on ${r.trainSamples} training images held out 10%, ${r.seconds.toFixed(0)} s`);
  }
}
