import { toEdgekdError } from '../../shared/errors';
import { run } from './agent';

// Entry of the bundled agent (dist/edgekd-agent.mjs): `node edgekd-agent.mjs --config FILE`.
run(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    const err = toEdgekdError(e);
    console.error(`edgekd-agent: ${err.code}: ${err.message}`);
    process.exitCode = err.category === 'input' ? 2 : 1;
  },
);
