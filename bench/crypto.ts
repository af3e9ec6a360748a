/**
 * Crypto cost: seal and open by recipient count and body size, and the
 * relay's per-envelope header verification, each against the summed time of
 * the libsodium calls it makes (timed call by call through an instrumented
 * `Crypto`, in the same runs). Also a model floor built from the isolated
 * cost of each primitive, kept for comparison with earlier results.
 */
import { randomFillSync } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { Crypto } from '../shared/crypto/types';
import { SIZES } from '../shared/crypto/types';
import { checkEnvelopeIntegrity, openEnvelope, parseEnvelope, sealEnvelope, verifyEnvelopeSignature } from '../shared/envelope';
import { bucketFor } from '../shared/padding';
import { DAY, T0, TestNetwork, type TestDevice } from '../test/support/network';
import { perCall, progress, round } from './timing';

export interface PrimitiveCosts {
  x25519Ms: number;
  x25519BaseMs: number;
  xwingEncapsMs: number;
  xwingDecapsMs: number;
  signMs: number;
  verifyMs: number;
  aeadSmallMs: number;
  hashSmallMs: number;
  /** ms per byte of AEAD over a large buffer. */
  aeadPerByteMs: number;
  /** ms per byte of BLAKE2b over a large buffer. */
  hashPerByteMs: number;
  /** `crypto.random(64)` (libsodium's randombytes_buf), as one KEM encapsulation draws. */
  random64Ms: number;
  /** ms per byte of `crypto.pad` over a large buffer. */
  padPerByteMs: number;
}

/**
 * Test bodies come from Node's RNG: libsodium's `randombytes_buf` in the
 * WebAssembly build costs microseconds per byte (seconds for 1 MiB), and the
 * content of a body does not change what sealing it costs.
 */
export function benchBody(size: number): Uint8Array {
  return randomFillSync(new Uint8Array(size));
}

export function measurePrimitives(crypto: Crypto, quick: boolean): PrimitiveCosts {
  const n = quick ? 100 : 1000;
  const a = crypto.dhKeyPair();
  const b = crypto.dhKeyPair();
  const kem = crypto.kemKeyPair();
  const enc = crypto.kemEncapsulate(kem.publicKey);
  const signer = crypto.signKeyPair();
  const msg = benchBody(512);
  const sig = crypto.sign(msg, signer.privateKey);
  const key = benchBody(32);
  const nonce = benchBody(24);
  const small = benchBody(32);
  const big = benchBody(1024 * 1024);
  const bigCalls = quick ? 2 : 10;
  return {
    x25519Ms: perCall(() => crypto.dh(a.privateKey, b.publicKey), n),
    x25519BaseMs: perCall(() => crypto.dhKeyPair(), n),
    xwingEncapsMs: perCall(() => crypto.kemEncapsulate(kem.publicKey), n / 4),
    xwingDecapsMs: perCall(() => crypto.kemDecapsulate(enc.ciphertext, kem.privateKey), n / 4),
    signMs: perCall(() => crypto.sign(msg, signer.privateKey), n),
    verifyMs: perCall(() => crypto.verify(sig, msg, signer.publicKey), n),
    aeadSmallMs: perCall(() => crypto.aeadEncrypt(small, msg, nonce, key), n),
    hashSmallMs: perCall(() => crypto.hash(msg), n),
    aeadPerByteMs: perCall(() => crypto.aeadEncrypt(big, small, nonce, key), bigCalls) / big.length,
    hashPerByteMs: perCall(() => crypto.hash(big), bigCalls) / big.length,
    random64Ms: perCall(() => crypto.random(64), n / 4),
    padPerByteMs: perCall(() => crypto.pad(big, big.length + 1024), bigCalls) / big.length,
  };
}

/** What the libsodium calls of one seal cost, summed from isolated measurements (a model, see `instrumentCrypto` for the measured sum). */
export function sealFloorMs(p: PrimitiveCosts, recipients: number, bodyBytes: number, withOneTimePrekeys: boolean): number {
  const padded = bucketFor(bodyBytes);
  const dhPerRecipient = withOneTimePrekeys ? 4 : 3;
  return (
    p.x25519BaseMs + // ephemeral key
    recipients * (dhPerRecipient * p.x25519Ms + p.xwingEncapsMs + p.aeadSmallMs + p.hashSmallMs) +
    padded * p.aeadPerByteMs +
    (padded + SIZES.aeadTag) * p.hashPerByteMs +
    p.signMs
  );
}

export function openFloorMs(p: PrimitiveCosts, bodyBytes: number, withOneTimePrekey: boolean): number {
  const padded = bucketFor(bodyBytes);
  return (
    p.verifyMs +
    (withOneTimePrekey ? 4 : 3) * p.x25519Ms +
    p.xwingDecapsMs +
    p.aeadSmallMs +
    p.hashSmallMs +
    padded * p.aeadPerByteMs +
    (padded + SIZES.aeadTag) * p.hashPerByteMs
  );
}

/** A `Crypto` whose every call (including `random`) is timed, with running totals. */
export interface InstrumentedCrypto {
  readonly crypto: Crypto;
  /** Zero the totals. */
  reset(): void;
  /** Milliseconds spent inside `Crypto` calls since the last reset. */
  totalMs(): number;
  /** The same, by method name. */
  byCall(): Record<string, number>;
}

/**
 * Wraps every method of `base`. Calls a method makes internally (e.g. the
 * `random(64)` inside `kemEncapsulate`) go to the unwrapped closure, so
 * nothing is counted twice.
 */
export function instrumentCrypto(base: Crypto): InstrumentedCrypto {
  const spent = new Map<string, number>();
  let total = 0;
  const wrapped: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(base)) {
    if (typeof value !== 'function') {
      wrapped[name] = value;
      continue;
    }
    const fn = value as (...args: unknown[]) => unknown;
    wrapped[name] = (...args: unknown[]): unknown => {
      const t0 = performance.now();
      try {
        return fn.apply(base, args);
      } finally {
        const dt = performance.now() - t0;
        total += dt;
        spent.set(name, (spent.get(name) ?? 0) + dt);
      }
    };
  }
  return {
    crypto: wrapped as unknown as Crypto,
    reset() {
      total = 0;
      spent.clear();
    },
    totalMs: () => total,
    byCall: () => Object.fromEntries(spent),
  };
}

export interface Measured {
  /** Median wall time per run. */
  medianMs: number;
  /** Median time per run spent inside libsodium calls. */
  sodiumMs: number;
  /** Mean time per run inside each `Crypto` method. */
  byCall: Record<string, number>;
}

/** Runs `fn` (which must use `ic.crypto`) and splits its time into libsodium and the rest. */
export function measureWithSodium(ic: InstrumentedCrypto, fn: () => void, runs: number, warmup = Math.min(2, runs)): Measured {
  for (let i = 0; i < warmup; i++) fn();
  const totals: number[] = [];
  const inSodium: number[] = [];
  const byCall = new Map<string, number>();
  for (let i = 0; i < runs; i++) {
    ic.reset();
    const t0 = performance.now();
    fn();
    totals.push(performance.now() - t0);
    inSodium.push(ic.totalMs());
    for (const [name, ms] of Object.entries(ic.byCall())) byCall.set(name, (byCall.get(name) ?? 0) + ms);
  }
  return {
    medianMs: median(totals),
    sodiumMs: median(inSodium),
    byCall: Object.fromEntries([...byCall].map(([name, ms]) => [name, round(ms / runs, 4)])),
  };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? 0;
}

export interface SealRow {
  recipients: number;
  bodyBytes: number;
  sealMs: number;
  /** Model floor from isolated primitive costs (`sealFloorMs`). */
  sealFloorMs: number;
  sealRatio: number;
  openMs: number;
  openFloorMs: number;
  openRatio: number;
  envelopeBytes: number;
  /** Measured: time inside libsodium calls during the seal, and seal / that. */
  sealSodiumMs: number;
  sealVsSodium: number;
  /** The libsodium call that takes the largest share of a seal, and that share (0..1). */
  sealTopCall: string;
  sealTopShare: number;
  sealByCall: Record<string, number>;
  openSodiumMs: number;
  openVsSodium: number;
  /** Relay-side checks of one envelope: parse (schema), signature, ciphertext hash and length. */
  verifyMs: number;
  verifySodiumMs: number;
  verifyVsSodium: number;
}

export interface CryptoResults {
  primitives: PrimitiveCosts;
  rows: SealRow[];
  /** Relay-side header verification per envelope for a 4 KiB body and 1 recipient. */
  headerVerifyMs: number;
}

const THREAD_ID = 'AAAAAAAAAAAAAAAAAAAAAA';

export function benchSealOpen(base: Crypto, quick: boolean): CryptoResults {
  progress('crypto: measuring libsodium primitives');
  const primitives = measurePrimitives(base, quick);
  const ic = instrumentCrypto(base);
  const crypto = ic.crypto;
  const recipientCounts = [1, 5, 20, 100];
  const bodySizes = [1024, 4096, 64 * 1024, 1024 * 1024];
  const net = new TestNetwork(base);
  const sender = net.addDevice(net.addOrg('bench-ngo'), 'bench-sender');
  const shelter = net.addOrg('bench-shelter', 'shelter');
  const devices: TestDevice[] = Array.from({ length: Math.max(...recipientCounts) }, (_, i) =>
    net.addDevice(shelter, `bench-r${i}`, { oneTimePrekeys: 0 }),
  );
  const first = devices[0] as TestDevice;
  const rows: SealRow[] = [];
  for (const n of recipientCounts) {
    // Signed prekeys only: one-time prekeys are used up by each open, which would skew repeated opens.
    const recipients = devices.slice(0, n).map((d) => net.recipientKeys(d, false));
    for (const size of bodySizes) {
      if (quick && n === 100 && size > 64 * 1024) continue;
      progress(`crypto: seal/open ${n} recipient(s), ${size} B body`);
      const body = benchBody(size);
      const runs = quick ? (n >= 20 || size > 64 * 1024 ? 3 : 7) : n >= 20 ? 9 : 21;
      const sealOnce = () =>
        sealEnvelope(crypto, { sender: net.senderKeys(sender), recipients, threadId: THREAD_ID, sentAt: T0, body });
      let envelope = sealOnce();
      const seal = measureWithSodium(ic, () => {
        envelope = sealOnce();
      }, runs, 1);
      const open = measureWithSodium(ic, () => {
        openEnvelope(crypto, { envelope, recipient: first.keys, sender: net.senderPublic(sender), now: T0, maxAgeMs: 30 * DAY });
      }, runs);
      // What the relay receives: a plain object from the socket, checked from scratch.
      const wire = { header: envelope.header, signature: envelope.signature, ciphertext: envelope.ciphertext };
      const verify = measureWithSodium(ic, () => {
        const parsed = parseEnvelope(wire);
        verifyEnvelopeSignature(crypto, parsed, sender.keys.sign.publicKey);
        checkEnvelopeIntegrity(crypto, parsed);
      }, quick ? 20 : 200, 3);
      const sealFloor = sealFloorMs(primitives, n, size, false);
      const openFloor = openFloorMs(primitives, size, false);
      const [topCall, topMs] = Object.entries(seal.byCall).sort((x, y) => y[1] - x[1])[0] ?? ['', 0];
      const sealByCallTotal = Object.values(seal.byCall).reduce((s, v) => s + v, 0);
      rows.push({
        recipients: n,
        bodyBytes: size,
        sealMs: round(seal.medianMs),
        sealFloorMs: round(sealFloor),
        sealRatio: round(seal.medianMs / sealFloor, 2),
        openMs: round(open.medianMs),
        openFloorMs: round(openFloor),
        openRatio: round(open.medianMs / openFloor, 2),
        envelopeBytes: JSON.stringify(envelope.header).length + envelope.signature.length + envelope.ciphertext.length,
        sealSodiumMs: round(seal.sodiumMs),
        sealVsSodium: round(seal.medianMs / seal.sodiumMs, 2),
        sealTopCall: topCall,
        sealTopShare: round(sealByCallTotal > 0 ? topMs / sealByCallTotal : 0, 2),
        sealByCall: seal.byCall,
        openSodiumMs: round(open.sodiumMs),
        openVsSodium: round(open.medianMs / open.sodiumMs, 2),
        verifyMs: round(verify.medianMs, 4),
        verifySodiumMs: round(verify.sodiumMs, 4),
        verifyVsSodium: round(verify.medianMs / verify.sodiumMs, 2),
      });
    }
  }
  const reference = rows.find((r) => r.recipients === 1 && r.bodyBytes === 4096);
  return { primitives, rows, headerVerifyMs: reference?.verifyMs ?? 0 };
}
