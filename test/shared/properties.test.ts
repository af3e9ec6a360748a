/**
 * Property-based tests (fast-check). Sealing runs few cases (X-Wing costs
 * about 2 ms per recipient); the cheap properties run more.
 */
import fc from 'fast-check';
import { DOMAIN, canonicalJson, signingInput } from '../../shared/canonical';
import { SIZES, type Crypto } from '../../shared/crypto/types';
import { loadCrypto } from '../../shared/crypto/sodium';
import { generateOneTimePrekeys } from '../../shared/device-keys';
import { fromB64u, toB64u, toHex, utf8 } from '../../shared/encoding';
import { openEnvelope, parseEnvelope, sealEnvelope } from '../../shared/envelope';
import { isHandoverError } from '../../shared/errors';
import { LINEAR_STEP, MIN_BUCKET, bucketFor, isBucket } from '../../shared/padding';
import type { SealedEnvelope } from '../../shared/schemas';
import { DAY, T0, type TestDevice, TestNetwork } from '../support/network';

let crypto: Crypto;
beforeAll(async () => {
  crypto = await loadCrypto();
});

/** Cheap deterministic bytes (libsodium's random is slow for large buffers, and runs must be reproducible). */
function patternBytes(length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length);
  let x = (seed | 0) ^ 0x9e3779b9;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

/** Body lengths from 0 to 70 KiB, weighted towards the edges of the size buckets. */
const BUCKET_EDGES = [1024, 2048, 4096, 8192, 16_384, 32_768, 65_536, 131_072].flatMap((b) => [b - 2, b - 1, b]);
const bodyLength = fc.oneof(fc.integer({ min: 0, max: 70 * 1024 }), fc.constantFrom(0, 1, ...BUCKET_EDGES.filter((n) => n <= 70 * 1024)));

describe('sealing and opening', () => {
  let net: TestNetwork;
  let sender: TestDevice;
  let devices: TestDevice[];
  let outsider: TestDevice;

  beforeAll(() => {
    net = new TestNetwork(crypto);
    sender = net.addDevice(net.addOrg('ngo-taraz'), 'ngo-dev-1', { oneTimePrekeys: 0 });
    const shelter = net.addOrg('shelter-ist', 'shelter');
    devices = Array.from({ length: 8 }, (_, i) => net.addDevice(shelter, `sh-dev-${i}`, { oneTimePrekeys: 0 }));
    outsider = net.addDevice(shelter, 'sh-outsider', { oneTimePrekeys: 0 });
  });

  test('every recipient recovers the exact body, whatever its size and the recipient set (1..8, with or without one-time prekeys)', () => {
    fc.assert(
      fc.property(bodyLength, fc.integer(), fc.array(fc.boolean(), { minLength: 1, maxLength: 8 }), (length, seed, withOneTime) => {
        const body = patternBytes(length, seed);
        const chosen = withOneTime.map((useOneTime, i) => {
          const device = devices[i]!;
          // A fresh one-time prekey per run, as the relay would hand out.
          if (useOneTime) device.oneTimePrekeys.push(...generateOneTimePrekeys(crypto, device.keys, 1, T0));
          return { device, useOneTime, keys: net.recipientKeys(device, useOneTime) };
        });
        const envelope = sealEnvelope(crypto, {
          sender: net.senderKeys(sender),
          recipients: chosen.map((c) => c.keys),
          threadId: toB64u(new Uint8Array(16)),
          sentAt: T0,
          body,
        });
        expect(envelope.ciphertext.length).toBe(bucketFor(length) + SIZES.aeadTag);
        for (const { device, useOneTime, keys } of chosen) {
          const opened = openEnvelope(crypto, { envelope, recipient: device.keys, sender: net.senderPublic(sender), now: T0, maxAgeMs: DAY });
          expect(opened.body.length).toBe(length);
          expect(toHex(opened.body)).toBe(toHex(body));
          expect(opened.usedOneTimePrekeyId).toBe(useOneTime ? keys.oneTimePrekey?.id : undefined);
          if (useOneTime) expect(device.keys.oneTimePrekeys.has(keys.oneTimePrekey!.id)).toBe(false);
        }
        const outsiderCode = codeOf(() =>
          openEnvelope(crypto, { envelope, recipient: outsider.keys, sender: net.senderPublic(sender), now: T0, maxAgeMs: DAY }),
        );
        expect(outsiderCode).toBe('NOT_RECIPIENT');
      }),
      { numRuns: 40 },
    );
  });

  describe('random single changes to a sealed envelope are always refused', () => {
    let envelope: SealedEnvelope;
    let open: (e: unknown) => void;
    beforeAll(() => {
      const recipient = devices[0]!;
      envelope = sealEnvelope(crypto, {
        sender: net.senderKeys(sender),
        recipients: [net.recipientKeys(recipient, false), net.recipientKeys(devices[1]!, false)],
        threadId: toB64u(new Uint8Array(16)),
        sentAt: T0,
        body: utf8('{"type":"note"}'),
      });
      open = (e) =>
        openEnvelope(crypto, { envelope: parseEnvelope(e), recipient: recipient.keys, sender: net.senderPublic(sender), now: T0, maxAgeMs: DAY });
    });

    test('control: the untouched envelope opens', () => {
      expect(codeOf(() => open(envelope))).toBe('ok');
    });

    test('any flipped bit of the ciphertext -> BAD_SIGNATURE (its hash is signed)', () => {
      fc.assert(
        fc.property(fc.nat(), fc.integer({ min: 0, max: 7 }), (index, bit) => {
          const ciphertext = envelope.ciphertext.slice();
          const at = index % ciphertext.length;
          ciphertext[at] = (ciphertext[at] ?? 0) ^ (1 << bit);
          expect(codeOf(() => open({ ...envelope, ciphertext }))).toBe('BAD_SIGNATURE');
        }),
        { numRuns: 200 },
      );
    });

    test('any changed character of the header JSON -> refused at the boundary or by the signature', () => {
      const text = JSON.stringify(envelope.header);
      fc.assert(
        fc.property(fc.nat({ max: text.length - 1 }), fc.integer({ min: 1, max: 127 }), (index, xor) => {
          const changed = text.slice(0, index) + String.fromCharCode(text.charCodeAt(index) ^ xor) + text.slice(index + 1);
          fc.pre(changed !== text);
          let header: unknown;
          try {
            header = JSON.parse(changed);
          } catch {
            return; // not JSON any more: refused before any protocol code runs
          }
          expect(['BAD_REQUEST', 'BAD_SIGNATURE']).toContain(codeOf(() => open({ ...envelope, header })));
        }),
        { numRuns: 300 },
      );
    });
  });
});

describe('padding buckets', () => {
  /** The bucket rule written independently: powers of two from 1 KiB to 64 KiB, then multiples of 64 KiB. */
  const isBucketReference = (n: number) =>
    Number.isInteger(n) && ((n >= MIN_BUCKET && n <= LINEAR_STEP && (n & (n - 1)) === 0) || (n > LINEAR_STEP && n % LINEAR_STEP === 0));

  test('bucketFor(n) is the smallest bucket with room for n bytes plus the padding marker', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 64 * 1024 * 1024 }), (n) => {
        const b = bucketFor(n);
        expect(isBucket(b)).toBe(true);
        expect(b).toBeGreaterThanOrEqual(n + 1);
        const previous = b <= LINEAR_STEP ? b / 2 : b - LINEAR_STEP;
        if (b > MIN_BUCKET) expect(previous).toBeLessThan(n + 1);
      }),
      { numRuns: 2000 },
    );
  });

  test('isBucket agrees with the written rule', () => {
    fc.assert(
      fc.property(fc.oneof(fc.integer({ min: -10, max: 20 * 1024 * 1024 }), fc.constantFrom(...BUCKET_EDGES, 196_608, 196_609)), (n) => {
        expect(isBucket(n)).toBe(isBucketReference(n));
      }),
      { numRuns: 3000 },
    );
  });

  test('bucketFor is monotonic', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 1 << 24 }), fc.integer({ min: 0, max: 1 << 24 }), (a, b) => {
        const [lo, hi] = a <= b ? [a, b] : [b, a];
        expect(bucketFor(lo)).toBeLessThanOrEqual(bucketFor(hi));
      }),
      { numRuns: 1000 },
    );
  });

  test('pad to the bucket and unpad give back the data', () => {
    fc.assert(
      fc.property(bodyLength, fc.integer(), (length, seed) => {
        const data = patternBytes(length, seed);
        const padded = crypto.pad(data, bucketFor(length));
        expect(padded.length).toBe(bucketFor(length));
        expect(toHex(crypto.unpad(padded, padded.length))).toBe(toHex(data));
      }),
      { numRuns: 50 },
    );
  });
});

describe('base64url', () => {
  const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

  test('round trip, unpadded URL-safe output equal to Node’s base64url', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        const text = toB64u(bytes);
        expect(text).toMatch(/^[A-Za-z0-9_-]*$/);
        expect(text).toBe(Buffer.from(bytes).toString('base64url'));
        expect(fromB64u(text)).toEqual(bytes);
      }),
      { numRuns: 500 },
    );
  });

  test('a last character with stray low bits is refused (one value, one text)', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 1, maxLength: 100 }).filter((b) => b.length % 3 !== 0),
        fc.integer({ min: 1, max: 15 }),
        (bytes, stray) => {
          const text = toB64u(bytes);
          const unusedBits = bytes.length % 3 === 1 ? 4 : 2;
          const last = ALPHABET.indexOf(text.at(-1)!);
          const changed = text.slice(0, -1) + ALPHABET[(last & ~((1 << unusedBits) - 1)) | (stray & ((1 << unusedBits) - 1) || 1)];
          expect(codeOf(() => fromB64u(changed))).toBe('BAD_REQUEST');
        },
      ),
      { numRuns: 300 },
    );
  });

  test('any string is either canonical base64url (and round trips exactly) or refused with BAD_REQUEST', () => {
    fc.assert(
      fc.property(fc.string({ unit: fc.constantFrom(...`${ALPHABET}=+/ .é`), maxLength: 40 }), (text) => {
        let bytes: Uint8Array;
        try {
          bytes = fromB64u(text);
        } catch (err) {
          expect(isHandoverError(err, 'BAD_REQUEST')).toBe(true);
          return;
        }
        expect(toB64u(bytes)).toBe(text);
      }),
      { numRuns: 1000 },
    );
  });
});

describe('canonical JSON', () => {
  /** The same value with every object's keys in another order. */
  function reorder(value: unknown, seed: number): unknown {
    if (Array.isArray(value)) return value.map((v, i) => reorder(v, seed + i));
    if (value !== null && typeof value === 'object') {
      const entries = Object.entries(value as Record<string, unknown>);
      const shuffled = entries
        .map((e, i) => ({ e, k: ((i + 1) * 2654435761 + seed) % 1000003 }))
        .sort((a, b) => a.k - b.k)
        .map(({ e: [k, v] }, i) => [k, reorder(v, seed + i)] as const);
      return Object.fromEntries(seed % 2 === 0 ? shuffled : shuffled.reverse());
    }
    return value;
  }

  test('stable under key reordering, and a fixed point of parse + canonicalise', () => {
    fc.assert(
      fc.property(fc.jsonValue(), fc.integer({ min: 0, max: 1 << 30 }), (value, seed) => {
        const canonical = canonicalJson(value);
        expect(canonicalJson(reorder(value, seed))).toBe(canonical);
        expect(canonicalJson(JSON.parse(canonical))).toBe(canonical);
      }),
      { numRuns: 500 },
    );
  });

  test('object keys come out sorted by UTF-16 code units', () => {
    fc.assert(
      fc.property(fc.dictionary(fc.string({ maxLength: 6 }), fc.integer()), (dict) => {
        // Built as text: JSON.parse would move integer-like keys ("0") to the front again.
        const sorted = Object.keys(dict).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
        const expected = `{${sorted.map((k) => `${JSON.stringify(k)}:${JSON.stringify(dict[k])}`).join(',')}}`;
        expect(canonicalJson(dict)).toBe(expected);
      }),
      { numRuns: 300 },
    );
  });

  test('signing inputs of different values differ; the label is always the prefix', () => {
    fc.assert(
      fc.property(fc.jsonValue(), fc.jsonValue(), (a, b) => {
        fc.pre(canonicalJson(a) !== canonicalJson(b));
        const [ia, ib] = [signingInput(DOMAIN.envelope, a), signingInput(DOMAIN.envelope, b)];
        expect(toHex(ia)).not.toBe(toHex(ib));
        expect(toHex(ia.subarray(0, DOMAIN.envelope.length + 1))).toBe(toHex(utf8(`${DOMAIN.envelope}\u0000`)));
      }),
      { numRuns: 300 },
    );
  });
});

function codeOf(fn: () => unknown): string {
  try {
    fn();
    return 'ok';
  } catch (err) {
    return isHandoverError(err) ? err.code : `non-Handover error: ${String(err)}`;
  }
}
