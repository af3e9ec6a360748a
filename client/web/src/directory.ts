/**
 * The directory: every organisation this device trusts, with its type,
 * place and key fingerprint, and a "verified by phone" mark a person sets
 * by typing the digits the org read to them. The mark is kept in the
 * encrypted profile and holds only while the org's key is the one checked.
 */
import { isHandoverError, keyFingerprint } from '../../sdk/index';
import { type App, errorText } from './app';
import { field, h, on } from './dom';
import { formatDateTime, t } from './i18n/index';
import { pickLabel } from './i18n/labels/index';
import { normaliseDigits } from './key-change';

const VERIFIED_RECORD = 'web/verified-orgs';

async function verifiedOrgs(app: App): Promise<Record<string, string>> {
  const value = await app.session?.client.getRecord(VERIFIED_RECORD);
  return typeof value === 'object' && value !== null ? (value as Record<string, string>) : {};
}

/** The directory button's text: with how many org key changes wait to be checked, if any. */
export function directoryLabel(app: App): string {
  const count = app.session?.client.trust.pendingKeyChanges().length ?? 0;
  return count > 0 ? t('inbox.directoryKeyChanges', { count }) : t('inbox.directory');
}

/**
 * Orgs that now present a new root-signed key: nothing goes to them until a
 * person confirms the new fingerprint with the org by phone. Each change
 * shows the old and the new fingerprint and takes the digits the org reads.
 */
function keyChangesSection(app: App): HTMLElement | null {
  const session = app.session;
  if (!session) return null;
  const { client } = session;
  const changes = client.trust.pendingKeyChanges();
  if (changes.length === 0) return null;
  const list = h('ul', { class: 'key-changes' });
  for (const change of changes) {
    const cert = change.certificate;
    const oldFingerprint = keyFingerprint(app.crypto, 'org', change.orgId, change.previousPublicKey);
    const newFingerprint = keyFingerprint(app.crypto, 'org', change.orgId, cert.publicKey);
    const digits = h('input', { type: 'text', name: 'digits', inputmode: 'numeric', autocomplete: 'off' });
    const result = h('p', { role: 'status', class: 'verify-result' });
    const submit = h('button', { type: 'submit' }, t('keyChange.accept'));
    const form = h('form', { class: 'verify accept-key', 'data-org': change.orgId }, field(t('keyChange.digits'), digits).wrap, submit, result);
    on(form, 'submit', (ev) => {
      ev.preventDefault();
      const told = normaliseDigits(digits.value);
      if (told === '') {
        result.className = 'verify-result warning';
        result.textContent = t('keyChange.mismatch');
        return;
      }
      submit.disabled = true;
      void (async () => {
        try {
          await client.trust.acceptOrgKey(change.orgId, told);
        } catch (err) {
          submit.disabled = false;
          result.className = 'verify-result warning';
          result.textContent = isHandoverError(err, 'UNTRUSTED_KEY') ? t('keyChange.mismatch') : t('app.error', { message: errorText(err) });
          return;
        }
        // The digits were read by the org on the phone: the new key is also the one verified by phone.
        await client.putRecord(VERIFIED_RECORD, { ...(await verifiedOrgs(app)), [change.orgId]: newFingerprint });
        await app.refresh();
        // What waited for this org goes now (the rest of the outbox with it), as at a reconnect.
        if (session.online) {
          try {
            await session.outbox.flush();
            if ((await session.cases.pendingReferrals()).length > 0) await session.cases.finishPendingReferrals();
            await session.outbox.countReferrals();
          } catch (err) {
            console.warn('the outbox could not be sent now:', errorText(err));
          }
          await app.refresh();
        }
      })();
    });
    list.appendChild(
      h(
        'li',
        { 'data-org': change.orgId },
        h('h3', {}, `${cert.name} (${change.orgId})`),
        h('p', {}, [pickLabel('orgType', cert.orgType), cert.country, cert.region].filter(Boolean).join(' · '), ' · ', t('keyChange.seen', { time: formatDateTime(change.seenAt) })),
        h('p', { class: 'old-fingerprint' }, `${t('keyChange.oldFingerprint')}: `, h('span', { class: 'mono' }, oldFingerprint)),
        h('p', { class: 'new-fingerprint' }, `${t('keyChange.newFingerprint')}: `, h('span', { class: 'mono' }, newFingerprint)),
        form,
      ),
    );
  }
  return h(
    'section',
    { id: 'key-changes', class: 'warning key-changes', role: 'alert', 'aria-labelledby': 'key-changes-title' },
    h('h2', { id: 'key-changes-title' }, t('keyChange.title', { count: changes.length })),
    h('p', {}, t('keyChange.explain')),
    list,
  );
}

export function directoryScreen(app: App) {
  return async (root: HTMLElement) => {
    const session = app.session;
    if (!session) return;
    const { client } = session;
    const verified = await verifiedOrgs(app);
    const back = on(h('button', { type: 'button', class: 'secondary', id: 'back' }, t('thread.back')), 'click', () => void app.goHome());
    root.append(h('p', {}, back), h('h1', {}, t('directory.title')));
    const changes = keyChangesSection(app);
    if (changes) root.appendChild(changes);
    const list = h('ul', { id: 'directory', class: 'directory' });
    for (const org of client.trust.listOrgs()) {
      const fingerprint = keyFingerprint(app.crypto, 'org', org.orgId, org.publicKey);
      const isVerified = verified[org.orgId] === fingerprint;
      const digits = h('input', { type: 'text', name: 'digits', inputmode: 'numeric', autocomplete: 'off' });
      const result = h('p', { role: 'status', class: 'verify-result' });
      const form = h('form', { class: 'verify', 'data-org': org.orgId }, field(t('directory.digits'), digits).wrap, h('button', { type: 'submit' }, t('directory.check')), result);
      on(form, 'submit', (ev) => {
        ev.preventDefault();
        const told = digits.value.replace(/\s+/g, '');
        if (told !== fingerprint.replace(/\s+/g, '')) {
          result.className = 'verify-result warning';
          result.textContent = t('directory.mismatch');
          return;
        }
        void (async () => {
          await client.putRecord(VERIFIED_RECORD, { ...(await verifiedOrgs(app)), [org.orgId]: fingerprint });
          digits.value = '';
          await app.refresh();
        })();
      });
      const devices = client.trust.listDevices(org.orgId).length;
      list.appendChild(
        h(
          'li',
          { 'data-org': org.orgId },
          h('h2', {}, `${org.name} (${org.orgId})`),
          h('p', {}, [pickLabel('orgType', org.orgType), org.country, org.region].filter(Boolean).join(' · '), ' · ', t('directory.devices', { count: devices })),
          h('p', {}, `${t('directory.fingerprint')}: `, h('span', { class: 'mono' }, fingerprint)),
          h('p', { class: isVerified ? 'notice verified' : 'not-verified' }, isVerified ? `✓ ${t('directory.verified')}` : t('directory.notVerified')),
          isVerified ? null : form,
        ),
      );
    }
    root.appendChild(list);
  };
}
