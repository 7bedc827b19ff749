// Builds the three device flavours from the same AssemblyScript sources (asconfig.json targets):
// scalar (the reference and portable fallback), simd, and relaxed (simd + relaxed-simd).
import asc from 'assemblyscript/asc';

const targets = process.argv.slice(2).length ? process.argv.slice(2) : ['scalar', 'simd', 'relaxed'];
for (const target of targets) {
  const { error, stderr } = await asc.main(['--config', 'asconfig.json', '--target', target], {
    stdout: process.stdout,
    stderr: process.stderr,
  });
  if (error) {
    console.error(`wasm build '${target}' failed: ${error.message}`);
    console.error(stderr.toString());
    process.exit(1);
  }
  console.log(`built build/${target}.wasm`);
}
