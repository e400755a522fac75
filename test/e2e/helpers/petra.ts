// Runs the CLI from source (tests spawn it: `node --import=tsx test/e2e/helpers/petra.ts <args>`).
import { main } from '../../../lib/cli.js';

process.exitCode = await main(process.argv);
