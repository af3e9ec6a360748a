/**
 * A send refused because an org presents a new key, as the web app says it:
 * a pointer to the directory (not the CLI command the SDK's message names),
 * and only while that org's change is waiting; every other failure keeps
 * its own message.
 */
import { HandoverError } from '../../../shared/errors';
import { failureOf, keyChangeOrgOf, normaliseDigits, sendFailureText } from '../../../client/web/src/key-change';
import { setLanguage } from '../../../client/web/src/i18n';

const SDK_MESSAGE = 'org iom-ist now presents a NEW org key. Nothing is sent to it or accepted from it until someone confirms the new fingerprint with the org by phone: handover trust accept-org-key iom-ist <fingerprint>';
const pending = [{ orgId: 'iom-ist' }];

beforeEach(() => setLanguage('en'));

describe('keyChangeOrgOf', () => {
  it('finds the org from the thrown error’s details', () => {
    const err = new HandoverError('UNTRUSTED_KEY', SDK_MESSAGE, { orgId: 'iom-ist', keyChanged: true, fingerprint: '1234' });
    expect(keyChangeOrgOf(failureOf(err), pending)).toBe('iom-ist');
    // Details name an org whose change is no longer waiting (accepted meanwhile): not a key change to point to.
    expect(keyChangeOrgOf(failureOf(err), [])).toBeUndefined();
  });

  it('finds it from the recipients of a kept failure (code and message only), or from the message', () => {
    const kept = { code: 'UNTRUSTED_KEY', message: SDK_MESSAGE };
    expect(keyChangeOrgOf(kept, pending, ['shelter-ist', 'iom-ist'])).toBe('iom-ist');
    expect(keyChangeOrgOf(kept, pending)).toBe('iom-ist');
    // The id must be the whole org id in the message, not a prefix of another.
    expect(keyChangeOrgOf(kept, [{ orgId: 'iom' }])).toBeUndefined();
  });

  it('ignores other codes and other UNTRUSTED_KEY reasons of orgs without a change', () => {
    expect(keyChangeOrgOf({ code: 'UNAVAILABLE', message: SDK_MESSAGE }, pending, ['iom-ist'])).toBeUndefined();
    expect(keyChangeOrgOf({ code: 'UNTRUSTED_KEY', message: 'the relay listed device x twice; nothing was sent' }, pending, ['shelter-ist'])).toBeUndefined();
    expect(keyChangeOrgOf(null, pending)).toBeUndefined();
    expect(failureOf(new Error('plain'))).toBeUndefined();
    expect(failureOf('text')).toBeUndefined();
  });
});

describe('sendFailureText', () => {
  it('points to the directory instead of the CLI command, translated', () => {
    const kept = { code: 'UNTRUSTED_KEY', message: SDK_MESSAGE };
    const text = sendFailureText(kept, pending, ['iom-ist']);
    expect(text).toContain('iom-ist');
    expect(text).toMatch(/open the directory to check the new key/i);
    expect(text).not.toContain('handover trust');
    setLanguage('ru');
    expect(sendFailureText(kept, pending, ['iom-ist'])).toMatch(/справочник/);
  });

  it('keeps any other failure’s own message', () => {
    expect(sendFailureText({ code: 'UNAVAILABLE', message: 'relay away' }, pending, ['iom-ist'])).toBe('relay away');
    expect(sendFailureText(null, pending)).toBe('');
  });
});

it('normaliseDigits drops the spaces, dashes and dots people type between groups', () => {
  expect(normaliseDigits(' 12345 67890-11111.22222 ')).toBe('12345678901111122222');
});
