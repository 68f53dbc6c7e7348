import { Type } from 'typebox';
import type { FastifyInstance } from 'fastify';
import type { RouteContext } from '../route-context';
import { caller } from '../route-access';
import { errorResponses, unavailable } from '../errors';
import { DriftRecord, IdParams, RetrainPolicy, RetrainPolicyUpdate } from '../schemas';
import type { DriftPort, RetrainPort } from '../ports';

export function registerDriftRoutes(app: FastifyInstance, { deps }: RouteContext): void {
  const drift = (): DriftPort => deps.drift ?? (() => { throw unavailable('drift aggregation'); })();
  const retrain = (): RetrainPort => deps.retrain ?? (() => { throw unavailable('the retrain policy'); })();

  app.get('/api/drift/devices', {
    config: { access: 'viewer' },
    schema: { tags: ['drift'], summary: 'Latest drift statistics per device', response: { 200: Type.Array(DriftRecord), ...errorResponses } },
  }, async () => drift().devices());

  app.get<{ Params: IdParams }>('/api/drift/devices/:id', {
    config: { access: 'viewer' },
    schema: { tags: ['drift'], params: IdParams, response: { 200: DriftRecord, ...errorResponses } },
  }, async (req) => drift().device(req.params.id));

  app.get('/api/drift/cohorts', {
    config: { access: 'viewer' },
    schema: { tags: ['drift'], summary: 'Drift per cohort with fleet-level false-alarm control', response: { 200: Type.Array(DriftRecord), ...errorResponses } },
  }, async () => drift().cohorts());

  app.get('/api/drift/alarms', {
    config: { access: 'viewer' },
    schema: { tags: ['drift'], summary: 'Drift alarms, newest first', response: { 200: Type.Array(DriftRecord), ...errorResponses } },
  }, async () => drift().alarms());

  app.get('/api/retrain/policy', {
    config: { access: 'viewer' },
    schema: { tags: ['retrain'], summary: 'The automatic retrain policy', response: { 200: RetrainPolicy, ...errorResponses } },
  }, async () => retrain().getPolicy());

  app.put<{ Body: RetrainPolicyUpdate }>('/api/retrain/policy', {
    config: { access: 'admin' },
    schema: {
      tags: ['retrain'],
      summary: 'Change the retrain policy (thresholds, cool-down, budget, adaptation of the next runs, pause); fields left out keep their value, `adaptation` is replaced as a whole',
      body: RetrainPolicyUpdate,
      response: { 200: RetrainPolicy, ...errorResponses },
    },
  }, async (req) => retrain().setPolicy(req.body, caller(req).name));

  app.get('/api/retrain/history', {
    config: { access: 'viewer' },
    schema: { tags: ['retrain'], summary: 'Automatic actions with their reasons: which alarm started which run and package', response: { 200: Type.Array(DriftRecord), ...errorResponses } },
  }, async () => retrain().history());
}
