import { Type } from 'typebox';
import type { FastifyInstance } from 'fastify';
import type { RouteContext } from '../route-context';
import { errorResponses, unavailable } from '../errors';
import { buildLineage } from '../lineage';
import { IdParams, LineageGraph, ModelPackage } from '../schemas';
import type { PackageCatalog } from '../ports';
import { RUN_KIND } from './run-routes';

export function registerPackageRoutes(app: FastifyInstance, { deps }: RouteContext): void {
  const packages = (): PackageCatalog => deps.packages ?? (() => { throw unavailable('the model package catalog (export)'); })();

  app.get('/api/packages', {
    config: { access: 'viewer' },
    schema: { tags: ['packages'], summary: 'Signed model packages, newest first', response: { 200: Type.Array(ModelPackage), ...errorResponses } },
  }, async () => packages().list());

  app.get<{ Params: IdParams }>('/api/packages/:id', {
    config: { access: 'viewer' },
    schema: { tags: ['packages'], params: IdParams, response: { 200: ModelPackage, ...errorResponses } },
  }, async (req) => packages().get(req.params.id));

  const lineage = async () =>
    buildLineage({
      teachers: deps.teachers ? await deps.teachers.list() : [],
      runs: await deps.jobs.list({ kind: RUN_KIND, limit: 1000 }),
      packages: deps.packages ? await deps.packages.list() : [],
      rollouts: deps.fleet ? await deps.fleet.listRollouts() : [],
      retrains: deps.retrain ? await deps.retrain.history() : [],
    });

  app.get('/api/lineage', {
    config: { access: 'viewer' },
    schema: { tags: ['packages'], summary: 'The whole lineage graph: teachers, runs, students, packages, rollouts, drift-triggered retrains', response: { 200: LineageGraph, ...errorResponses } },
  }, async () => lineage());

  app.get<{ Params: IdParams }>('/api/packages/:id/lineage', {
    config: { access: 'viewer' },
    schema: { tags: ['packages'], summary: 'The part of the lineage graph connected to one package', params: IdParams, response: { 200: LineageGraph, ...errorResponses } },
  }, async (req) => {
    await packages().get(req.params.id);
    const g = await lineage();
    const keep = new Set([`package:${req.params.id}`]);
    // Walk both directions until nothing is added: ancestors and descendants of the package.
    for (let grew = true; grew; ) {
      grew = false;
      for (const e of g.edges) {
        if (keep.has(e.from) !== keep.has(e.to)) {
          keep.add(e.from);
          keep.add(e.to);
          grew = true;
        }
      }
    }
    return { nodes: g.nodes.filter((n) => keep.has(n.id)), edges: g.edges.filter((e) => keep.has(e.from) && keep.has(e.to)) };
  });
}
