import { Type } from 'typebox';
import type { FastifyPluginAsync } from 'fastify';
import { EdgekdError } from '../../shared/errors';
import { errorResponses } from '../api/errors';
import type { Fence } from './leader-lease';

const Leading = Type.Object({ processId: Type.String(), token: Type.Number() });

/**
 * `GET /api/fleet/leader`: 200 with this process's id and fencing token while it holds the fleet
 * lease, else 503 EDGEKD_FEATURE_UNAVAILABLE. It is the readiness probe of `fleet` processes:
 * a load balancer (the Kubernetes Service of deploy/k8s/fleet.yaml) then sends rollout changes to
 * the leader only, and moves them to the standby that takes over. Public like /api/health: it
 * tells whether this process leads, nothing else.
 */
export function leaderRoute(processId: string, leader: () => Fence | null): FastifyPluginAsync {
  return async (app) => {
    app.get('/api/fleet/leader', {
      config: { access: 'public' },
      schema: { tags: ['system'], summary: 'Readiness of a fleet process: 200 while it leads the fleet, else 503', security: [], response: { 200: Leading, 503: errorResponses[503] } },
    }, async () => {
      const f = leader();
      if (!f) throw new EdgekdError('EDGEKD_FEATURE_UNAVAILABLE', 'this process does not lead the fleet (standby, or a role without the fleet)');
      return { processId, token: f.token };
    });
  };
}
