/**
 * fast-check generators for hostile input: mutations of a valid request
 * (field deleted, replaced by a wrong type, a huge string, invalid base64,
 * deep nesting, binary, prototype-pollution keys), arbitrary values, and raw
 * bodies that are not JSON at all; plus the check that a refusal is a typed
 * relay error.
 */
import fc from 'fast-check';
import { HTTP_STATUS } from '../../../server/errors';
import { RELAY_ERROR_CODES, type RelayErrorCode } from '../../../shared/errors';

export const POLLUTION_KEYS = ['__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', '__defineGetter__'] as const;

/** An own, enumerable property even for `__proto__` (plain assignment would set the prototype). */
export function setOwn(target: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(target, key, { value, enumerable: true, configurable: true, writable: true });
}

/** `depth` nested arrays (or objects) around `inner`, built without recursion. */
export function nested(depth: number, inner: unknown = 1, asObject = false): unknown {
  let value = inner;
  for (let i = 0; i < depth; i++) value = asObject ? { a: value } : [value];
  return value;
}

const INVALID_BASE64 = [
  '',
  '!!!!',
  '====',
  'AAAA====',
  'A'.repeat(42) + '=', // padded: the protocol uses unpadded base64url
  'A'.repeat(42) + '+', // standard alphabet
  'A'.repeat(42) + '/',
  'A'.repeat(43) + ' ',
  '\u0000'.repeat(43),
  'Ａ'.repeat(43), // full-width letters
  'A'.repeat(85) + 'B', // right length, stray low bits in the last character
  '%41%41%41',
];

/** Leaves: every JSON type, edge numbers, long and odd strings, invalid base64. */
export const hostileLeaf: fc.Arbitrary<unknown> = fc.oneof(
  fc.constant(null),
  fc.boolean(),
  fc.integer(),
  fc.constantFrom(-1, 0, 2 ** 32, 2 ** 53 + 2, Number.MAX_VALUE, -Number.MAX_VALUE, 1e308, 5e-324),
  fc.double(),
  fc.string({ maxLength: 40 }),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.string({ unit: 'grapheme', maxLength: 20 }),
  fc.constantFrom(...INVALID_BASE64),
  fc.integer({ min: 1000, max: 20_000 }).map((n) => 'x'.repeat(n)),
  fc.constantFrom(...POLLUTION_KEYS),
);

const keyArb = fc.oneof({ weight: 3, arbitrary: fc.string({ maxLength: 12 }) }, { weight: 1, arbitrary: fc.constantFrom(...POLLUTION_KEYS) });

/** Any JSON-able value, nested a few levels, objects possibly with pollution keys as own properties. */
export const hostileValue: fc.Arbitrary<unknown> = fc.letrec<{ value: unknown }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    hostileLeaf,
    fc.array(tie('value'), { maxLength: 5 }),
    fc.array(fc.tuple(keyArb, tie('value')), { maxLength: 5 }).map((entries) => {
      const out: Record<string, unknown> = {};
      for (const [k, v] of entries) setOwn(out, k, v);
      return out;
    }),
  ),
})).value;

/** Every place in a value where a mutation can happen: paths to object keys and array items. */
function paths(value: unknown, prefix: (string | number)[] = [], out: (string | number)[][] = []): (string | number)[][] {
  if (value instanceof Uint8Array || value === null || typeof value !== 'object') return out;
  const keys = Array.isArray(value) ? value.map((_, i) => i) : Object.keys(value);
  for (const k of keys) {
    const p = [...prefix, k];
    out.push(p);
    paths((value as Record<string | number, unknown>)[k], p, out);
  }
  return out;
}

function clone<T>(value: T): T {
  return structuredClone(value);
}

export type MutationOp = 'delete' | 'replace' | 'tweak' | 'extra-key' | 'pollute' | 'deep-nest' | 'binary' | 'huge-array';

export interface Mutation {
  op: MutationOp;
  path: string;
  /** The key added by extra-key and pollute. */
  key?: string;
}

/**
 * Mutations of `base`: pick a path, then delete it, replace it with a hostile
 * value, add a key (a pollution key as an own property), wrap it in deep
 * nesting, put binary where JSON was, or make an array huge.
 */
export function mutated<T>(base: T, opts: { binary?: boolean; maxDepth?: number } = {}): fc.Arbitrary<{ value: unknown; mutation: Mutation }> {
  const all = paths(base);
  const ops: MutationOp[] = ['delete', 'replace', 'replace', 'tweak', 'tweak', 'tweak', 'extra-key', 'pollute', 'deep-nest', 'huge-array', ...(opts.binary ? (['binary'] as const) : [])];
  return fc
    .record({
      at: fc.nat({ max: Math.max(0, all.length - 1) }),
      op: fc.constantFrom(...ops),
      replacement: hostileValue,
      key: keyArb,
      pollutionKey: fc.constantFrom(...POLLUTION_KEYS),
      depth: fc.integer({ min: 50, max: opts.maxDepth ?? 2000 }),
      bytes: fc.uint8Array({ maxLength: 64 }),
      copies: fc.integer({ min: 200, max: 1200 }),
      position: fc.nat(),
      char: fc.constantFrom(...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'),
    })
    .map(({ at, op, replacement, key, pollutionKey, depth, bytes, copies, position, char }) => {
      const value = clone(base) as unknown;
      const path = all[at] ?? [];
      const parentPath = path.slice(0, -1);
      const last = path[path.length - 1];
      const parent = parentPath.reduce<unknown>((v, k) => (v as Record<string | number, unknown>)[k], value) as Record<string | number, unknown> | unknown[];
      const here = last === undefined ? value : (parent as Record<string | number, unknown>)[last];
      const put = (v: unknown) => {
        if (last === undefined) return;
        if (Array.isArray(parent)) parent[last as number] = v;
        else setOwn(parent as Record<string, unknown>, String(last), v);
      };
      switch (op) {
        case 'delete':
          if (last !== undefined) {
            if (Array.isArray(parent)) parent.splice(last as number, 1);
            else delete (parent as Record<string, unknown>)[String(last)];
          }
          break;
        case 'replace':
          put(replacement);
          break;
        case 'tweak':
          // Same shape, different content: gets past the schema to the signature and trust checks.
          if (typeof here === 'string' && here.length > 0) {
            const i = position % here.length;
            put(here.slice(0, i) + (here[i] === char ? (char === 'A' ? 'B' : 'A') : char) + here.slice(i + 1));
          } else if (typeof here === 'number') put(here + 1 + (position % 1000));
          else if (here instanceof Uint8Array && here.length > 0) {
            const copy = new Uint8Array(here);
            copy[position % copy.length] = (copy[position % copy.length] ?? 0) ^ 1;
            put(copy);
          } else put(replacement);
          break;
        case 'extra-key':
        case 'pollute': {
          const target = here !== null && typeof here === 'object' && !Array.isArray(here) && !(here instanceof Uint8Array) ? here : parent;
          if (target && typeof target === 'object' && !Array.isArray(target)) {
            setOwn(target as Record<string, unknown>, op === 'pollute' ? pollutionKey : key, op === 'pollute' ? { polluted: true, isAdmin: true } : replacement);
          }
          break;
        }
        case 'deep-nest':
          put(nested(depth, here, depth % 2 === 0));
          break;
        case 'binary':
          put(Buffer.from(bytes));
          break;
        case 'huge-array':
          put(Array.from({ length: copies }, () => here));
          break;
      }
      const added = op === 'pollute' ? pollutionKey : op === 'extra-key' ? key : undefined;
      return { value, mutation: { op, path: path.join('.'), ...(added !== undefined ? { key: added } : {}) } };
    });
}

const ErrorShapeCodes = new Set<string>(RELAY_ERROR_CODES);

/** Why a refusal is not a typed relay error (or is an INTERNAL one); undefined when it is fine. */
export function badWireError(error: unknown): string | undefined {
  if (!error || typeof error !== 'object') return `not an error object: ${JSON.stringify(error)?.slice(0, 200)}`;
  const { code, message } = error as { code?: unknown; message?: unknown };
  if (typeof code !== 'string' || !ErrorShapeCodes.has(code)) return `unknown code ${String(code)}`;
  if (typeof message !== 'string' || message.length === 0 || message.length > 1000) return `bad message for ${code}`;
  if (code === 'INTERNAL') return `INTERNAL: ${message}`;
  return undefined;
}

/** An HTTP answer must be 2xx, or `{ error: { code, message } }` with the status that code maps to. */
export function badHttpAnswer(status: number, body: string): string | undefined {
  if (status >= 200 && status < 300) return undefined;
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    return `status ${status} with a non-JSON body: ${body.slice(0, 120)}`;
  }
  const error = (json as { error?: unknown } | null)?.error;
  const bad = badWireError(error);
  if (bad) return `status ${status}: ${bad}`;
  const code = (error as { code: RelayErrorCode }).code;
  if (HTTP_STATUS[code] !== status) return `code ${code} with status ${status} (expected ${HTTP_STATUS[code]})`;
  return undefined;
}

/**
 * What a Socket.IO client puts on the wire for these arguments, roughly:
 * bytes (JSON part plus binary attachments) and the number of attachments.
 */
export function wireSize(args: unknown[]): { bytes: number; attachments: number } {
  let binary = 0;
  let attachments = 0;
  const json = JSON.stringify(args, (_key, value: unknown) => {
    if (value instanceof Uint8Array) {
      binary += value.byteLength;
      attachments++;
      return { _placeholder: true, num: 0 };
    }
    if (value && typeof value === 'object' && (value as { type?: unknown }).type === 'Buffer' && Array.isArray((value as { data?: unknown }).data)) {
      binary += (value as { data: unknown[] }).data.length;
      attachments++;
      return { _placeholder: true, num: 0 };
    }
    return value;
  });
  return { bytes: Buffer.byteLength(json ?? '') + binary, attachments };
}

/** A short, printable description of a generated case (counterexamples can be megabytes). */
export function describeCase(value: unknown, max = 400): string {
  let text: string;
  try {
    text = JSON.stringify(value, (_k, v: unknown) => (v instanceof Uint8Array ? `<${v.byteLength} bytes>` : typeof v === 'string' && v.length > 80 ? `${v.slice(0, 40)}…(${v.length} chars)` : v));
  } catch (err) {
    text = `<unprintable: ${(err as Error).message}>`;
  }
  return text.length > max ? `${text.slice(0, max)}…(${text.length} chars)` : text;
}

/**
 * Run a property and, on failure, throw a short error with the seed and
 * path that replay it (fc.assert would print the whole counterexample).
 */
export async function checkProperty<T>(arb: fc.Arbitrary<T>, predicate: (value: T) => Promise<void>, opts: { numRuns: number; seed: number }): Promise<void> {
  const result = await fc.check(
    fc.asyncProperty(arb, async (value) => {
      await predicate(value);
    }),
    { numRuns: opts.numRuns, seed: opts.seed, endOnFailure: true },
  );
  if (result.failed) {
    const cause = result.errorInstance instanceof Error ? result.errorInstance.message : String(result.errorInstance);
    throw new Error(
      `property failed after ${result.numRuns} runs (replay: seed ${result.seed}, path "${result.counterexamplePath}"): ${cause}\ncounterexample: ${describeCase(result.counterexample)}`,
    );
  }
}
