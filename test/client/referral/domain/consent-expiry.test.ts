/** The bound on how long a new referral's consent may run after it was given. */
import { DEFAULT_MAX_CONSENT_DAYS, MAX_CONSENT_DAYS_LIMIT, checkConsentExpiry, consentExpiryProblem } from '../../../../client/referral/domain/consent';
import { isHandoverError } from '../../../../shared/errors';

const DAY = 24 * 60 * 60 * 1000;
const givenAt = Date.UTC(2026, 10, 28, 10, 0);

describe('consent expiry bound', () => {
  test('a year after it was given is the default; exactly on the bound passes, one millisecond more does not', () => {
    expect(DEFAULT_MAX_CONSENT_DAYS).toBe(365);
    expect(consentExpiryProblem({ givenAt, expiresAt: givenAt + 365 * DAY })).toBeNull();
    expect(consentExpiryProblem({ givenAt, expiresAt: givenAt + 365 * DAY + 1 })).toEqual({
      givenAt,
      expiresAt: givenAt + 365 * DAY + 1,
      maxDays: 365,
      latestAllowed: givenAt + 365 * DAY,
    });
  });

  test('the refusal says until when, the bound, and what to do', () => {
    let caught: unknown;
    try {
      checkConsentExpiry({ givenAt, expiresAt: givenAt + 400 * DAY });
    } catch (err) {
      caught = err;
    }
    expect(isHandoverError(caught, 'INVALID_EVENT')).toBe(true);
    const err = caught as Error & { details: Record<string, unknown> };
    expect(err.details).toMatchObject({ reason: 'consent-too-long', maxDays: 365, latestAllowed: givenAt + 365 * DAY });
    expect(err.message).toContain('more than 365 days after it was given (2026-11-28 10:00 UTC)');
    expect(err.message).toContain('no later than 2027-11-28 10:00 UTC');
  });

  test('another bound: shorter and longer', () => {
    expect(() => checkConsentExpiry({ givenAt, expiresAt: givenAt + 31 * DAY }, 30)).toThrow(/more than 30 days/);
    expect(() => checkConsentExpiry({ givenAt, expiresAt: givenAt + 700 * DAY }, 730)).not.toThrow();
  });

  test.each([0, -1, 1.5, Number.NaN, MAX_CONSENT_DAYS_LIMIT + 1])('a bound of %p days is refused as a bad setting', (days) => {
    expect(() => checkConsentExpiry({ givenAt, expiresAt: givenAt + DAY }, days)).toThrow(expect.objectContaining({ code: 'BAD_REQUEST' }));
  });
});
