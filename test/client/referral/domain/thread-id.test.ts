/**
 * The worked thread-id example in docs/PROTOCOL.md, checked against the code
 * so the document cannot drift from what clients compute (issue 11: a
 * client written from the document alone must interoperate).
 */
import example from '../../../../examples/referral.json';
import { REFERRAL_DOMAIN, ReferralBody, deriveThreadId, threadIdInput } from '../../../../client/referral';
import { eventHash } from '../../../../client/referral/cases/payload';
import { loadCrypto } from '../../../../shared/crypto/sodium';
import type { EventOf } from '../../../../client/referral';

it('the documented example gives the documented thread id and event hash', async () => {
  const crypto = await loadCrypto();
  const draft = {
    type: 'referral.create',
    eventId: 'AAAAAAAAAAAAAAAAAAAAAA',
    prev: [],
    author: { deviceId: 'ngo-alm:dana', orgId: 'ngo-alm', orgType: 'ngo' },
    at: 1796000000000,
    body: ReferralBody.parse(example),
  } as unknown as EventOf<'referral.create'>;
  expect(threadIdInput(draft).subarray(0, REFERRAL_DOMAIN.threadId.length + 1)).toEqual(new TextEncoder().encode(`${REFERRAL_DOMAIN.threadId}\u0000`));
  const threadId = deriveThreadId((m) => crypto.hash(m), draft);
  expect(threadId).toBe('L7_LtH1jEaZzWZCH7F_oEA');
  expect(eventHash(crypto, { ...draft, threadId })).toBe('eEyV8IkXRuozAFriy2VaZlNSVjrbyM0kVZjouGF5G9k');
});
