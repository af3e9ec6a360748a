/**
 * Clock errors in words: the offset to the relay's clock read from a real
 * HTTP server's Date header, and each clock error rephrased to say whose
 * clock is off and by how much — this device's (behind, ahead) or the
 * issuer's — or, when the relay cannot be asked, that one of the two is.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { HandoverError } from '../../../shared/errors';
import { ROUTES } from '../../../shared/api';
import { checkNotFutureDated, clockOffsetText, explainClockError, isClockError, relayClockOffset, spanText } from '../../../client/sdk/clock';

const MINUTE = 60_000;

/** A server that answers GET /v1/network with its clock `skewMs` off the real one (and 404 elsewhere). */
async function skewedServer(skewMs: number): Promise<{ url: string; server: Server }> {
  const server = createServer((req, res) => {
    res.sendDate = false;
    res.setHeader('date', new Date(Date.now() + skewMs).toUTCString());
    res.statusCode = req.url === ROUTES.network ? 200 : 404;
    res.end('{}');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

function futureDated(aheadMs: number, now = Date.now()): HandoverError {
  try {
    checkNotFutureDated('the device certificate', { issuedAt: now + aheadMs, expiresAt: now + 180 * 24 * 60 * MINUTE }, now);
  } catch (err) {
    if (err instanceof HandoverError) return err;
  }
  throw new Error('checkNotFutureDated accepted it');
}

describe('measuring the offset to the relay', () => {
  it('reads the Date header: a relay 12 minutes behind means this clock is 12 minutes ahead', async () => {
    const { url, server } = await skewedServer(-12 * MINUTE);
    try {
      const offset = await relayClockOffset(url);
      expect(offset).toBeGreaterThan(11 * MINUTE);
      expect(offset).toBeLessThan(13 * MINUTE);
      expect(clockOffsetText(offset!)).toBe("your clock is 12 minutes ahead of the relay's");
      // An injected clock is what is compared.
      const behind = await relayClockOffset(url, () => Date.now() - 30 * MINUTE);
      expect(clockOffsetText(behind!)).toBe("your clock is 18 minutes behind the relay's");
    } finally {
      server.close();
    }
  });

  it('gives up quietly on a relay that cannot be reached or sends no date', async () => {
    expect(await relayClockOffset('http://127.0.0.1:9')).toBeUndefined();
    const server = createServer((_req, res) => {
      res.sendDate = false;
      res.end('{}');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      expect(await relayClockOffset(`http://127.0.0.1:${(server.address() as AddressInfo).port}`)).toBeUndefined();
    } finally {
      server.close();
    }
  });
});

describe('saying it', () => {
  it('spans as people say them', () => {
    expect([spanText(20_000), spanText(MINUTE), spanText(90 * MINUTE), spanText(5 * 60 * MINUTE), spanText(-3 * 24 * 60 * MINUTE)]).toEqual([
      'less than a minute',
      '1 minute',
      '90 minutes',
      '5 hours',
      '3 days',
    ]);
    expect(clockOffsetText(20_000)).toBeNull();
  });

  it('a certificate dated within the 5 minutes honest clocks may differ is fine; beyond, a clock error', () => {
    expect(() => checkNotFutureDated('x', { issuedAt: Date.now() + 4 * MINUTE, expiresAt: Date.now() + 10 * MINUTE }, Date.now())).not.toThrow();
    expect(() => checkNotFutureDated('x', { something: 'else' }, Date.now())).not.toThrow();
    const err = futureDated(10 * MINUTE);
    expect(isClockError(err)).toBe(true);
    expect(err.code).toBe('EXPIRED');
  });

  it('this device behind the relay: says so and says to fix this clock', () => {
    const err = explainClockError(futureDated(10 * MINUTE), -10 * MINUTE) as HandoverError;
    expect(err.message).toBe(
      "the device certificate is not valid yet for this device: your clock is 10 minutes behind the relay's. Set this device's clock right (automatic date and time), then run this again.",
    );
    expect(err.message).not.toMatch(/fingerprint/);
  });

  it('this device agrees with the relay: the issuer\'s clock is ahead, and how long to wait', () => {
    const err = explainClockError(futureDated(10 * MINUTE), 2_000) as HandoverError;
    expect(err.message).toMatch(/^the device certificate was issued 10 minutes in the future: the clock of the machine that issued it is about 10 minutes ahead \(this device's clock agrees with the relay's\)/);
    expect(err.message).toContain('or wait 5 minutes');
  });

  it('the relay could not be asked: one of the two clocks', () => {
    const err = explainClockError(futureDated(10 * MINUTE), undefined) as HandoverError;
    expect(err.message).toMatch(/either your clock is 10 minutes behind or the clock of the machine that issued it is 10 minutes ahead/);
    expect(err.message).toContain('The relay could not be asked for its time');
  });

  it("the relay's refusal of a message sent from its future: your clock is N minutes ahead", () => {
    const refusal = new HandoverError('BAD_REQUEST', 'sentAt is in the future; check the device clock');
    const err = explainClockError(refusal, 12 * MINUTE) as HandoverError;
    expect(err.message).toBe(
      "the relay refused the message because your clock is 12 minutes ahead of the relay's (more than the 5 minutes allowed): set this device's clock right (automatic date and time), then try again. Nothing was sent.",
    );
    expect(err.details).toMatchObject({ clock: 'ahead', clockOffsetMs: 12 * MINUTE });
  });

  it('any other error passes through unchanged', () => {
    const other = new HandoverError('UNTRUSTED_KEY', 'org x now presents a NEW org key');
    expect(explainClockError(other, 12 * MINUTE)).toBe(other);
    expect(isClockError(new HandoverError('BAD_REQUEST', 'the relay holds at most 500 one-time prekeys'))).toBe(false);
  });
});
