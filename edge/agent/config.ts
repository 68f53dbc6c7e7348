import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { Type, type Static } from 'typebox';
import { Value } from 'typebox/value';
import { createParser, parseJson } from '../../shared/contracts/parse';
import { EdgekdError } from '../../shared/errors';
import { DeviceId } from '../../shared/protocol';

/**
 * The agent's configuration: one schema, units in the names, defaults filled in, unknown keys
 * rejected (a typo is an error at startup, not a silently ignored setting).
 */
const strict = { additionalProperties: false } as const;
const Ms = (def: number, min = 1) => Type.Integer({ minimum: min, default: def });

export const MqttConfig = Type.Object(
  {
    url: Type.String({ minLength: 1 }),
    username: Type.Optional(Type.String()),
    password: Type.Optional(Type.String()),
    /** 4 = MQTT 3.1.1 (works everywhere, incl. the embedded aedes broker), 5 = MQTT 5. */
    protocolVersion: Type.Union([Type.Literal(4), Type.Literal(5)], { default: 4 }),
    keepaliveSec: Type.Integer({ minimum: 5, maximum: 3600, default: 30 }),
    /**
     * Reconnects (edge/agent/mqtt-link.ts): attempt n after an unclean loss (broker crash or
     * restart, network cut, any loss without a server DISCONNECT 0x00) waits a random time in
     * [0, min(reconnectMaxMs, reconnectPeriodMs · 2^n)] (full jitter, n from 0); after a clean
     * one the first attempt is immediate. The 8 s default keeps a fleet of 1,000 that lost its
     * broker together under 250 connects/s (bench:fleet --scenario broker-restart) at the price
     * of a lone device waiting up to 8 s (4 s on average) after a broker restart; a small fleet
     * or a lone device may set it lower.
     */
    reconnectPeriodMs: Ms(8000, 100),
    reconnectMaxMs: Ms(30_000, 100),
    connectTimeoutMs: Ms(10_000, 100),
    /** MQTT 5 only: Will Delay Interval, absorbs short reconnects before `offline` is published. */
    willDelaySec: Type.Integer({ minimum: 0, default: 10 }),
    /** MQTT 5 only: how long the broker keeps the session (queued QoS 1 messages) after a drop. */
    sessionExpirySec: Type.Integer({ minimum: 0, default: 3600 }),
  },
  strict,
);

export const InferenceConfig = Type.Object(
  {
    /** Preference order; the first provider that creates a session wins and is reported. */
    executionProviders: Type.Array(Type.Union([Type.Literal('tensorrt'), Type.Literal('cuda'), Type.Literal('cpu')]), { minItems: 1, default: ['cpu'] }),
    intraOpThreads: Type.Integer({ minimum: 1, maximum: 64, default: 1 }),
    /** `onnxruntime` (default). `light` exists only for protocol-scale simulations (see edge/inference/light-engine.ts). */
    engine: Type.Union([Type.Literal('onnxruntime'), Type.Literal('light')], { default: 'onnxruntime' }),
    /** Subscribe to `infer/req` and answer on `infer/res`. */
    mqttEnabled: Type.Boolean({ default: true }),
  },
  strict,
);

export const HttpConfig = Type.Object(
  {
    enabled: Type.Boolean({ default: true }),
    /** Loopback by default: the endpoint has no authentication. */
    host: Type.String({ default: '127.0.0.1' }),
    /** 0 picks a free port (logged, and in agent.httpAddress()). */
    port: Type.Integer({ minimum: 0, maximum: 65535, default: 8470 }),
    maxBodyBytes: Type.Integer({ minimum: 1024, default: 16 * 1024 * 1024 }),
  },
  strict,
);

export const DownloadConfig = Type.Object(
  {
    windowChunks: Type.Integer({ minimum: 1, maximum: 64, default: 4 }),
    chunkTimeoutMs: Ms(5000, 50),
    maxChunkAttempts: Type.Integer({ minimum: 1, default: 5 }),
    maxModelBytes: Type.Integer({ minimum: 1, default: 512 * 1024 * 1024 }),
    /** fsync the partial file every N chunks (and always at the end). */
    fsyncEveryChunks: Type.Integer({ minimum: 1, default: 16 }),
  },
  strict,
);

export const StepTimeoutsConfig = Type.Object(
  {
    downloadingMs: Ms(30 * 60_000),
    verifyingMs: Ms(120_000),
    stagingMs: Ms(120_000),
    warmingMs: Ms(15 * 60_000),
    /** Added to the offer's shadow maxWaitMs. */
    shadowSlackMs: Ms(30_000),
    activatingMs: Ms(60_000),
    /** Added to the offer's bakeMs. */
    bakingSlackMs: Ms(60_000),
  },
  strict,
);

export const AgentConfig = Type.Object(
  {
    deviceId: DeviceId,
    /** The groups the registry put this device in (given at provisioning); a signed downgrade statement may name them. */
    groups: Type.Array(Type.String({ minLength: 1, maxLength: 64 }), { maxItems: 100, default: [] }),
    /** Slots, pointer, state file, outbox. Relative paths are relative to the config file. */
    stateDir: Type.String({ minLength: 1 }),
    /** Trusted signing keys (shared/package trusted-keys document). */
    trustedKeysFile: Type.String({ minLength: 1 }),
    mqtt: MqttConfig,
    inference: Type.Optional(InferenceConfig),
    http: Type.Optional(HttpConfig),
    download: Type.Optional(DownloadConfig),
    stepTimeouts: Type.Optional(StepTimeoutsConfig),
    heartbeatIntervalMs: Ms(30_000, 100),
    outboxResendIntervalMs: Ms(10_000, 100),
    /** Default warm-up runs when the offer does not say. */
    warmupRuns: Type.Integer({ minimum: 0, default: 3 }),
    /** Period of label-free drift reports (the edge/drift monitor `createAgent` attaches); 0 turns it off. */
    driftReportEveryMs: Type.Integer({ minimum: 0, default: 300_000 }),
    /**
     * Inferences after a model is committed that become its field drift baseline; no drift is
     * scored until then. Default: 4,000 unless the package's reference carries score bands.
     */
    driftBaselineSamples: Type.Optional(Type.Integer({ minimum: 0, maximum: 1_000_000 })),
    /** Restarts during one bake after which the agent rolls back instead of resuming the bake. */
    bakeCrashLimit: Type.Integer({ minimum: 1, default: 2 }),
  },
  strict,
);
export type AgentConfigInput = Static<typeof AgentConfig>;

/** The configuration with every default filled in. */
export interface ResolvedAgentConfig extends Omit<AgentConfigInput, 'inference' | 'http' | 'download' | 'stepTimeouts'> {
  inference: Static<typeof InferenceConfig>;
  http: Static<typeof HttpConfig>;
  download: Static<typeof DownloadConfig>;
  stepTimeouts: Static<typeof StepTimeoutsConfig>;
}

const parser = createParser(AgentConfig, 'agent configuration', 'EDGEKD_CONFIG_INVALID');

/** Validates a configuration object (unknown keys rejected) and fills defaults. */
export function resolveAgentConfig(input: unknown, baseDir = process.cwd()): ResolvedAgentConfig {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw new EdgekdError('EDGEKD_CONFIG_INVALID', 'invalid agent configuration: expected a JSON object');
  }
  const withSections = { inference: {}, http: {}, download: {}, stepTimeouts: {}, ...(input as object) };
  const filled = Value.Default(AgentConfig, structuredClone(withSections));
  const c = parser.parse(filled) as ResolvedAgentConfig;
  return { ...c, stateDir: resolve(baseDir, c.stateDir), trustedKeysFile: resolve(baseDir, c.trustedKeysFile) };
}

export async function loadAgentConfig(file: string): Promise<ResolvedAgentConfig> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    throw new EdgekdError('EDGEKD_CONFIG_INVALID', `cannot read agent configuration ${file}: ${(e as Error).message}`, { cause: e });
  }
  return resolveAgentConfig(parseJson(text, `agent configuration ${file}`, 'EDGEKD_CONFIG_INVALID'), dirname(resolve(file)));
}
