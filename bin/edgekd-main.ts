import { EdgekdError, toEdgekdError } from '../shared/errors';

/**
 * The command table. Each entry loads its module lazily so `edgekd --help` stays instant and a
 * command's heavy dependencies (tfjs, onnxruntime) load only when it runs. A module exports
 * `run(argv: string[]): Promise<number>` and handles its own `--help`.
 * Edge commands live under edge/ and cloud commands under cloud/: this file is the only place that
 * sees both, which keeps `edge → shared ← cloud` intact.
 */
interface CommandEntry {
  readonly summary: string;
  readonly load: () => Promise<{ run(argv: string[]): Promise<number> }>;
}

export const commands: Record<string, CommandEntry> = {
  'teacher train': { summary: 'Train a zoo teacher on a real dataset (progress, checkpoints, resume)', load: () => import('../cloud/cli/teacher-train') },
  'teacher eval': { summary: 'Evaluate a teacher on a test split; --json prints {"accuracy","samples"}', load: () => import('../cloud/cli/teacher-eval') },
  'teacher import': { summary: 'Import an ONNX teacher (with BatchNorm) as a trainable TensorFlow.js model', load: () => import('../cloud/cli/teacher-import') },
  distill: { summary: 'Data-free distillation of a teacher into a student (ssdkd and baselines)', load: () => import('../cloud/cli/distill') },
  export: { summary: 'Export a student to ONNX, quantize to int8 and write a signed model package', load: () => import('../cloud/cli/export') },
  'package verify': { summary: 'Check a model package: hash, signature, manifest schema', load: () => import('../cloud/cli/package-verify') },
  'downgrade sign': { summary: 'Sign the statement that lets named devices install an older model build', load: () => import('../cloud/cli/downgrade-sign') },
  'keys generate': { summary: 'Generate an Ed25519 signing key pair with a key id', load: () => import('../cloud/cli/keys-generate') },
  cloud: { summary: 'Run the cloud: broker, rollout engine, API and console', load: () => import('../cloud/cli/cloud') },
  devices: { summary: 'Provision devices: add | list | revoke | rotate (credentials shown once)', load: () => import('../cloud/cli/devices') },
  agent: { summary: 'Run an edge agent: edgekd agent --config FILE', load: () => import('../edge/cli/agent') },
  'fleet simulate': { summary: 'Run N real simulated agents in a few processes', load: () => import('../edge/cli/fleet-simulate') },
  conformance: { summary: 'Play the cloud against a device under test and print a protocol pass/fail table', load: () => import('../cloud/cli/conformance') },
  'drift inject': { summary: 'Inject a distribution shift into the demo agents\u2019 input stream', load: () => import('../cloud/cli/drift-inject') },
  demo: { summary: 'The whole local loop (what `npm start` runs)', load: () => import('../cloud/cli/demo') },
};

function usage(): string {
  const width = Math.max(...Object.keys(commands).map((k) => k.length));
  const lines = Object.entries(commands).map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`);
  return ['usage: edgekd <command> [options]', '', 'commands:', ...lines, '', 'Run `edgekd <command> --help` for its options.'].join('\n');
}

/** Longest command name that prefixes argv wins, so `teacher train` beats a future `teacher`. */
function resolveCommand(argv: string[]): { name: string; rest: string[] } | null {
  for (const words of [2, 1]) {
    const name = argv.slice(0, words).join(' ');
    if (argv.length >= words && name in commands) return { name, rest: argv.slice(words) };
  }
  return null;
}

export async function main(argv: string[]): Promise<number> {
  if (argv.length === 0 || argv[0] === '--help' || argv[0] === '-h' || argv[0] === 'help') {
    console.log(usage());
    return 0;
  }
  const found = resolveCommand(argv);
  if (!found) {
    console.error(`edgekd: unknown command '${argv.slice(0, 2).join(' ')}'\n\n${usage()}`);
    return 2;
  }
  try {
    const mod = await commands[found.name]!.load();
    return await mod.run(found.rest);
  } catch (e) {
    const err = toEdgekdError(e);
    console.error(`edgekd ${found.name}: ${err.code}: ${err.message}`);
    if (process.env.EDGEKD_DEBUG && e instanceof Error) console.error(e.stack);
    return err instanceof EdgekdError && err.category === 'input' ? 2 : 1;
  }
}
