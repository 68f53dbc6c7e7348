import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * Device passwords are 192-bit random tokens made here, never chosen by people, so a salted hash
 * is enough to store them: there is nothing to brute-force (a slow KDF such as scrypt would cost
 * ~50 ms per connect and make 1,000 devices reconnecting at once take a minute of CPU).
 *
 * The stored form is Mosquitto's own salted SHA-512 format, `$6$<salt base64>$<sha512(password ‖
 * salt) base64>`, so the one stored hash both authenticates at the embedded broker and goes
 * unchanged into Mosquitto's password file (cloud/broker/mosquitto-files.ts): no plaintext is ever
 * kept to feed a second broker. Hashes of the earlier `sha256$<salt hex>$<hash hex>` form still
 * verify here but cannot be written for Mosquitto (rotate such a device).
 */
export function newDevicePassword(random: (n: number) => Buffer = randomBytes): string {
  return random(24).toString('base64url');
}

export function hashPassword(password: string, random: (n: number) => Buffer = randomBytes): string {
  const salt = random(12);
  return `$6$${salt.toString('base64')}$${createHash('sha512').update(password, 'utf8').update(salt).digest('base64')}`;
}

/** True when the stored hash is one Mosquitto's password file accepts as is. */
export function isMosquittoHash(stored: string): boolean {
  return /^\$6\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$/.test(stored);
}

export function passwordMatches(stored: string, password: string): boolean {
  let got: Buffer;
  let want: Buffer;
  if (isMosquittoHash(stored)) {
    const [, , salt, hash] = stored.split('$');
    got = createHash('sha512').update(password, 'utf8').update(Buffer.from(salt!, 'base64')).digest();
    want = Buffer.from(hash!, 'base64');
  } else {
    const [alg, salt, hash] = stored.split('$');
    if (alg !== 'sha256' || !salt || !hash) return false;
    got = createHash('sha256').update(salt).update(password).digest();
    want = Buffer.from(hash, 'hex');
  }
  return want.length === got.length && timingSafeEqual(got, want);
}
