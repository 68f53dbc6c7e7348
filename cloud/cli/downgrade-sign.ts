import { writeFileSync } from 'node:fs';
import { numberFlag, parseCommandArgs, requireFlag } from '../../shared/cli/args';
import { EdgekdError } from '../../shared/errors';
import { signDowngrade } from '../../shared/package/downgrade-intent';
import { readSigningKeyFile } from '../../shared/package/key-files';

const HELP = `usage: edgekd downgrade sign --key FILE --model NAME@VERSION --sha256 HEX
                              (--devices ID,… | --groups G,…) [--valid-hours N] [--reason TEXT] [--out FILE]

Signs the statement that lets devices install an older model build (devices refuse a downgrade
without it, whatever the offer says). It names one build (name, version and the model's sha256),
the devices and/or groups allowed, and how long it holds. Give the JSON to the rollout as its
\`downgrade\` field (POST /api/rollouts, or createRollout({ …, downgrade })).

  --key FILE        signing key (edgekd keys generate); its key must be in the devices' trusted keys
  --model N@V       model name and version to go back to
  --sha256 HEX      the model file's sha256 (from its manifest)
  --devices IDS     comma-separated device ids
  --groups NAMES    comma-separated groups
  --valid-hours N   validity from now                                      [24]
  --reason TEXT     recorded in the statement
  --out FILE        write the JSON there                                   [stdout]`;

const list = (v: string | undefined): string[] => (v ? v.split(',').map((x) => x.trim()).filter(Boolean) : []);

export async function run(argv: string[], now: Date = new Date()): Promise<number> {
  const { values, help } = parseCommandArgs(argv, {
    key: { type: 'string' }, model: { type: 'string' }, sha256: { type: 'string' }, devices: { type: 'string' }, groups: { type: 'string' },
    'valid-hours': { type: 'string' }, reason: { type: 'string' }, out: { type: 'string' },
  }, HELP);
  if (help) return 0;
  const keyPath = requireFlag(values.key, 'key');
  const m = /^(.+)@(\d+)$/.exec(requireFlag(values.model, 'model'));
  if (!m) throw new EdgekdError('EDGEKD_INVALID_ARGUMENT', '--model must be NAME@VERSION, e.g. fashion-student@3');
  const sha256 = requireFlag(values.sha256, 'sha256');
  if (!/^[0-9a-f]{64}$/.test(sha256)) throw new EdgekdError('EDGEKD_INVALID_ARGUMENT', '--sha256 must be 64 lower-case hex digits');
  const key = readSigningKeyFile(keyPath);
  const hours = numberFlag(values['valid-hours'], 'valid-hours', 24, { min: 0.01, max: 24 * 90 });
  const signed = signDowngrade(
    { model: { name: m[1]!, version: Number(m[2]), sha256 }, devices: list(values.devices), groups: list(values.groups), validForMs: Math.round(hours * 3_600_000), now, ...(values.reason ? { reason: values.reason } : {}) },
    key,
  );
  const text = `${JSON.stringify(signed, null, 2)}\n`;
  if (values.out) writeFileSync(values.out, text);
  else process.stdout.write(text);
  return 0;
}
