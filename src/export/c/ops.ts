// The C emitter of each operator, keyed by node kind; a kind missing here cannot be exported.
import type { COpEmitter } from './op-emitter.js';
import { conv2dC } from '../../ops/conv2d/c.js';
import { depthwiseC } from '../../ops/depthwise/c.js';
import { denseC } from '../../ops/dense/c.js';
import { maxpoolC } from '../../ops/maxpool/c.js';
import { avgpoolC } from '../../ops/avgpool/c.js';
import { globalavgpoolC } from '../../ops/globalavgpool/c.js';
import { addC } from '../../ops/add/c.js';

export const C_EMITTERS: Readonly<Record<string, COpEmitter>> = {
  conv2d: conv2dC,
  depthwise: depthwiseC,
  dense: denseC,
  maxpool: maxpoolC,
  avgpool: avgpoolC,
  globalavgpool: globalavgpoolC,
  add: addC,
};
