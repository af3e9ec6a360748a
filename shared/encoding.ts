/**
 * Byte encodings used on the wire. Binary fields are unpadded base64url
 * (PROTOCOL.md), so the same JSON can be canonicalised and signed anywhere.
 * Uses only `btoa`/`atob`/TextEncoder, available in Node 20 and browsers.
 */
import { HandoverError } from './errors';

/** A string that holds unpadded base64url bytes (a type-level reminder, not a check). */
export type B64u = string;

const B64U_RE = /^[A-Za-z0-9_-]*$/;

export function toB64u(bytes: Uint8Array): B64u {
  let bin = '';
  for (let i = 0; i < bytes.length; i += 0x8000) {
    bin += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(bin).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

export function fromB64u(text: string): Uint8Array {
  // A length of 1 mod 4 can never be valid base64.
  if (!B64U_RE.test(text) || text.length % 4 === 1) {
    throw new HandoverError('BAD_REQUEST', 'invalid base64url');
  }
  const std = text.replace(/-/g, '+').replace(/_/g, '/');
  const bin = atob(std + '='.repeat((4 - (std.length % 4)) % 4));
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  // Reject non-canonical encodings (stray low bits), so one value has one text.
  if (toB64u(out) !== text) throw new HandoverError('BAD_REQUEST', 'non-canonical base64url');
  return out;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

export function utf8(text: string): Uint8Array {
  return encoder.encode(text);
}

export function fromUtf8(bytes: Uint8Array): string {
  return decoder.decode(bytes);
}

export function concatBytes(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** 4-byte big-endian length prefix, so concatenated fields cannot be re-split. */
export function lengthPrefixed(...parts: Uint8Array[]): Uint8Array {
  const framed: Uint8Array[] = [];
  for (const p of parts) {
    const len = new Uint8Array(4);
    new DataView(len.buffer).setUint32(0, p.length);
    framed.push(len, p);
  }
  return concatBytes(...framed);
}

export function toHex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

export function fromHex(hex: string): Uint8Array {
  if (!/^([0-9a-fA-F]{2})*$/.test(hex)) throw new HandoverError('BAD_REQUEST', 'invalid hex');
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(i * 2, i * 2 + 2), 16);
  return out;
}
