import example from '../../../../examples/referral.json';
import { DeclineBody, EventEnvelope, ReferralBody, ReturnStepBody, ThreadEvent } from '../../../../client/referral/domain/schemas';
import { NGO, THREAD_ID, ThreadBuilder, b64uDigest, exampleReferral } from './fixtures';

function withPath(value: unknown, path: (string | number)[], replacement: unknown): unknown {
  const copy = structuredClone(value) as Record<string | number, unknown>;
  let node = copy;
  for (const key of path.slice(0, -1)) node = node[key] as Record<string | number, unknown>;
  node[path[path.length - 1] as string | number] = replacement;
  return copy;
}

describe('the demo referral (examples/referral.json)', () => {
  test('validates and keeps the HTCDS name fields', () => {
    const parsed = ReferralBody.parse(example);
    expect(parsed.identity.firstName).toBe('Aigerim');
    expect(parsed.identity.secondName).toBe('Nurlanovna');
    expect(parsed.traffickingContext?.typeOfExploitation).toEqual(['ForcedLabour']);
    expect(parsed.header.priority).toBe('urgent');
    expect(parsed.consent.coveredOrgIds).toEqual(expect.arrayContaining(['shelter-ist', 'iom-ist']));
  });

  test('travels inside a referral.create event', () => {
    const event = new ThreadBuilder().create();
    expect(ThreadEvent.safeParse(event).success).toBe(true);
  });
});

describe('hostile input is refused', () => {
  const valid = exampleReferral();

  test.each([
    ['unknown key at the top', ['extra'], 1],
    ['unknown key in identity', ['identity', 'nickname'], 'x'],
    ['unknown key in the consent record', ['consent', 'scope'], 'all'],
    ['huge first name', ['identity', 'firstName'], 'A'.repeat(101)],
    ['huge details', ['header', 'referralDetails'], 'x'.repeat(4001)],
    ['control characters', ['identity', 'secondName'], 'Nur\u0000lanovna'],
    ['a gender outside the HTCDS list', ['identity', 'gender'], 'Female'],
    ['an exploitation type outside the HTCDS list', ['traffickingContext', 'typeOfExploitation'], ['Slavery']],
    ['a trafficking status outside the HTCDS list', ['traffickingContext', 'traffickingStatus'], 'Victim'],
    ['a lowercase country code', ['identity', 'citizenship'], ['kz']],
    ['repeated citizenship', ['identity', 'citizenship'], ['KZ', 'KZ']],
    ['a phone that is not E.164', ['identity', 'mobilePhone'], '8 (701) 555-01-23'],
    ['a date that does not exist', ['identity', 'birthdate'], '1999-02-30'],
    ['a reversed age range', ['identity', 'ageRange'], { min: 30, max: 20 }],
    ['an unknown priority', ['header', 'priority'], 'critical'],
    ['an unknown referral kind', ['header', 'kind'], 'transfer'],
    ['no services', ['header', 'servicesRequested'], []],
    ['too many coordinators', ['header', 'coordinators'], Array.from({ length: 11 }, (_, i) => ({ orgId: `org-${i}`, orgType: 'ngo' }))],
    ['an unknown legal basis', ['consent', 'legalBasis'], 'contract'],
    ['consent covering nobody', ['consent', 'coveredOrgIds'], []],
    ['consent expiring before it was given', ['consent', 'expiresAt'], 0],
    ['a number as a string', ['consent', 'givenAt'], '1795867200000'],
  ])('%s', (_name, path, value) => {
    const hostile = withPath(valid, path, value);
    expect(ReferralBody.safeParse(hostile).success).toBe(false);
  });

  test('a __proto__ key from JSON.parse is an unknown key, not a prototype change', () => {
    const text = JSON.stringify(valid).replace('"identity":{', '"identity":{"__proto__":{"isAdmin":true},');
    const hostile: unknown = JSON.parse(text);
    expect(Object.keys((hostile as { identity: object }).identity)).toContain('__proto__');
    const result = ReferralBody.safeParse(hostile);
    expect(result.success).toBe(false);
    expect(result.error?.issues.map((i) => i.code)).toEqual(['unrecognized_keys']);
    expect(({} as Record<string, unknown>).isAdmin).toBeUndefined();
  });

  test('an envelope with an unknown key, a bad type or too many prev hashes is refused', () => {
    const good = new ThreadBuilder().create().event;
    expect(EventEnvelope.safeParse({ ...good, extra: true }).success).toBe(false);
    expect(EventEnvelope.safeParse({ ...good, type: 'referral.delete' }).success).toBe(false);
    const prev = Array.from({ length: 33 }, (_, i) => b64uDigest(`p${i}`, 32));
    expect(EventEnvelope.safeParse({ ...good, prev }).success).toBe(false);
    expect(EventEnvelope.safeParse({ ...good, prev: ['not-a-hash'] }).success).toBe(false);
    expect(EventEnvelope.safeParse({ ...good, author: { ...NGO, role: 'admin' } }).success).toBe(false);
    expect(EventEnvelope.safeParse({ ...good, threadId: 'x'.repeat(1000) }).success).toBe(false);
  });

  test('an event body of another type is refused', () => {
    const note = { type: 'note', eventId: b64uDigest('e', 16), threadId: THREAD_ID, prev: [], author: NGO, at: 1, body: { text: 'hi' } };
    expect(EventEnvelope.safeParse(note).success).toBe(true);
    expect(EventEnvelope.safeParse({ ...note, body: { reasonCode: 'other' } }).success).toBe(false);
    expect(EventEnvelope.safeParse({ ...note, type: 'referral.accept' }).success).toBe(false);
  });

  test('decline reasons are closed; "other" needs details', () => {
    expect(DeclineBody.safeParse({ reasonCode: 'no-capacity' }).success).toBe(true);
    expect(DeclineBody.safeParse({ reasonCode: 'busy' }).success).toBe(false);
    expect(DeclineBody.safeParse({ reasonCode: 'other' }).success).toBe(false);
    expect(DeclineBody.safeParse({ reasonCode: 'other', details: 'Only accepts minors' }).success).toBe(true);
  });

  test('go / no-go belongs to a risk assessment, and a done one needs it', () => {
    const step = { responsibleOrgId: 'iom-ist', status: 'done' };
    expect(ReturnStepBody.safeParse({ ...step, step: 'risk-assessment' }).success).toBe(false);
    expect(ReturnStepBody.safeParse({ ...step, step: 'risk-assessment', decision: 'go' }).success).toBe(true);
    expect(ReturnStepBody.safeParse({ ...step, step: 'travel-documents', decision: 'go' }).success).toBe(false);
    expect(ReturnStepBody.safeParse({ ...step, step: 'boarding' }).success).toBe(false);
  });
});
