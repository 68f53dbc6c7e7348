import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * Device passwords are 192-bit random tokens made here, never chosen by people, so a salted
 * SHA-256 is enough to store them: there is nothing to brute-force (a slow KDF such as scrypt would
 * cost ~50 ms per connect and make 1,000 devices reconnecting at once take a minute of CPU).
 * Format: `sha256$<salt hex>$<hash hex>`.
 */
export function newDevicePassword(random: (n: number) => Buffer = randomBytes): string {
  return random(24).toString('base64url');
}

export function hashPassword(password: string, random: (n: number) => Buffer = randomBytes): string {
  const salt = random(16).toString('hex');
  return `sha256$${salt}$${createHash('sha256').update(salt).update(password).digest('hex')}`;
}

export function passwordMatches(stored: string, password: string): boolean {
  const [alg, salt, hash] = stored.split('$');
  if (alg !== 'sha256' || !salt || !hash) return false;
  const got = createHash('sha256').update(salt).update(password).digest();
  const want = Buffer.from(hash, 'hex');
  return want.length === got.length && timingSafeEqual(got, want);
}
