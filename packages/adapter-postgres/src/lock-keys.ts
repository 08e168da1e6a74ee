/**
 * Advisory lock keys. PostgreSQL advisory locks take a bigint; we derive it from a namespaced
 * string with SHA-256 so keys are stable across processes and versions. Two names colliding only
 * makes two unrelated writers wait for each other — never a correctness problem.
 */
import { createHash } from 'node:crypto';

export type LockPurpose = 'migrate' | 'leader' | 'scope';

/** Signed 64-bit key, as a decimal string (bigint parameters travel as text). */
export function lockKey(purpose: LockPurpose, schema: string, name = ''): string {
  const digest = createHash('sha256').update(`tidesync\0${purpose}\0${schema}\0${name}`).digest();
  return digest.readBigInt64BE(0).toString();
}

/**
 * Keys for a batch's scopes (their identities as stored, see `scopeIdentities`), deduplicated and sorted: every writer takes its locks in the same
 * global order, so two writers with overlapping scopes queue instead of deadlocking.
 */
export function scopeLockKeys(schema: string, scopes: Iterable<string>): string[] {
  const keys = new Set<string>();
  for (const scope of scopes) keys.add(lockKey('scope', schema, scope));
  return [...keys].sort((a, b) => {
    const d = BigInt(a) - BigInt(b);
    return d < 0n ? -1 : d > 0n ? 1 : 0;
  });
}
