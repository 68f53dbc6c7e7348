import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import { EdgekdError } from '../../shared/errors';

export type Role = 'viewer' | 'operator' | 'admin';
export const ROLE_RANK: Record<Role, number> = { viewer: 1, operator: 2, admin: 3 };

export interface ApiToken {
  readonly token: string;
  readonly role: Role;
  readonly name?: string;
}

export interface Principal {
  readonly name: string;
  readonly role: Role;
}

const digest = (s: string): Buffer => createHash('sha256').update(s).digest();

/**
 * Bearer tokens with roles: viewer reads, operator starts and steers runs and rollouts, admin
 * also changes policy and uploads teachers. Tokens are compared as sha256 digests in constant
 * time. `EventSource` cannot set headers, so the event-stream routes alone also accept
 * `?access_token=`.
 */
export function createAuthenticator(tokens: readonly ApiToken[]): (req: FastifyRequest, allowQueryToken: boolean) => Principal {
  const known = tokens.map((t) => ({ digest: digest(t.token), principal: { name: t.name ?? t.role, role: t.role } }));
  return (req, allowQueryToken) => {
    const header = req.headers.authorization;
    let presented: string | undefined;
    if (typeof header === 'string' && header.toLowerCase().startsWith('bearer ')) presented = header.slice(7).trim();
    else if (allowQueryToken) {
      const q = (req.query as Record<string, unknown> | undefined)?.access_token;
      if (typeof q === 'string') presented = q;
    }
    if (!presented) throw new EdgekdError('EDGEKD_UNAUTHORIZED', 'missing bearer token (Authorization: Bearer TOKEN)');
    const d = digest(presented);
    const hit = known.find((k) => timingSafeEqual(k.digest, d));
    if (!hit) throw new EdgekdError('EDGEKD_UNAUTHORIZED', 'unknown bearer token');
    return hit.principal;
  };
}

export function requireRole(principal: Principal, needed: Role): void {
  if (ROLE_RANK[principal.role] < ROLE_RANK[needed]) {
    throw new EdgekdError('EDGEKD_FORBIDDEN', `this action needs the ${needed} role; the token has ${principal.role}`);
  }
}
