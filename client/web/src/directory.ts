/**
 * The directory: every organisation this device trusts, with its type,
 * place and key fingerprint, and a "verified by phone" mark a person sets
 * by typing the digits the org read to them. The mark is kept in the
 * encrypted profile and holds only while the org's key is the one checked.
 */
import { keyFingerprint } from '../../sdk/index';
import type { App } from './app';
import { field, h, on } from './dom';
import { t } from './i18n/index';
import { pickLabel } from './i18n/labels/index';

const VERIFIED_RECORD = 'web/verified-orgs';

async function verifiedOrgs(app: App): Promise<Record<string, string>> {
  const value = await app.session?.client.getRecord(VERIFIED_RECORD);
  return typeof value === 'object' && value !== null ? (value as Record<string, string>) : {};
}

export function directoryScreen(app: App) {
  return async (root: HTMLElement) => {
    const session = app.session;
    if (!session) return;
    const { client } = session;
    const verified = await verifiedOrgs(app);
    const back = on(h('button', { type: 'button', class: 'secondary', id: 'back' }, t('thread.back')), 'click', () => void app.goHome());
    root.append(h('p', {}, back), h('h1', {}, t('directory.title')));
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
