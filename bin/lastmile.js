#!/usr/bin/env node
// The `lastmile` command. The full CLI lands with the product-surface issue; until then this
// entry reports which device build this engine runs, so `npm start` proves the toolchain works.
import { Device } from '../dist/src/runtime/device.js';
import { detectFeatures } from '../dist/src/runtime/features.js';

const features = detectFeatures();
const device = await Device.create();
console.log(`lastmile: device build '${device.build}' (engine: simd=${features.simd}, relaxed-simd=${features.relaxedSimd})`);
