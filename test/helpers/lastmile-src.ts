// Runs the `lastmile` command from the TypeScript sources (not dist/), so a test sees the code as it
// is in the working tree: `node --import tsx test/helpers/lastmile-src.ts adapt ...`.
import { main } from '../../src/cli/main.js';

process.exitCode = await main(process.argv);
