/**
 * The outbox screen: what this device sent that the relay has not taken
 * yet — thread actions (outbox.ts) and referrals the case layer keeps until
 * every part went out. It names the case, the kind of action, when it was
 * sent and where it is; no case data beyond what the thread view shows
 * (a note's words are not listed; a consent withdrawal says who recorded
 * it, an added org which org for which purpose).
 */
import { type App, errorText } from './app';
import { h, on } from './dom';
import { directoryScreen } from './directory';
import { formatDateTime, t } from './i18n/index';
import { keyChangeOrgOf, sendFailureText } from './key-change';
import { pendingState, pendingText, threadScreen } from './thread';

export function outboxScreen(app: App) {
  return async (root: HTMLElement) => {
    const session = app.session;
    if (!session) return;
    app.onThreadUpdate(() => void app.refresh());
    const { outbox, cases } = session;
    const back = on(h('button', { type: 'button', class: 'secondary', id: 'back' }, t('thread.back')), 'click', () => void app.goHome());
    root.append(h('p', {}, back), h('h1', {}, t('outbox.title')), h('p', {}, t('outbox.intro')));
    const items = outbox.list();
    const referrals = await cases.pendingReferrals();
    if (items.length === 0 && referrals.length === 0) {
      root.appendChild(h('p', { id: 'outbox-empty' }, t('outbox.empty')));
      return;
    }
    const caseCodes = new Map((await cases.listThreads()).map((s) => [s.threadId, s.caseCode ?? '—']));
    const list = h('ul', { id: 'outbox-items' });
    const keyChanges = session.client.trust.pendingKeyChanges();
    /** A send refused because an org presents a new key: the way to the directory, where it is checked. */
    const toDirectory = () => on(h('button', { type: 'button', class: 'secondary open-directory' }, t('keyChange.openDirectory')), 'click', () => void app.show(directoryScreen(app)));
    for (const item of items) {
      const state = outbox.stateOf(item);
      const { label, summary } = pendingText(item);
      const open = on(h('button', { type: 'button', class: 'secondary open-thread' }, caseCodes.get(item.threadId) ?? '—'), 'click', () => void app.show(threadScreen(app, item.threadId)));
      list.appendChild(
        h(
          'li',
          { 'data-item': item.id, 'data-state': state, class: state === 'failed' ? 'warning' : undefined },
          open,
          ` — ${label}, ${formatDateTime(item.queuedAt)} — `,
          h('span', { class: 'pending-state' }, pendingState(state, item, keyChanges)),
          ...(state === 'failed' && keyChangeOrgOf(item.failed, keyChanges) !== undefined ? [' ', toDirectory()] : []),
          summary ? h('p', { class: 'event-detail pending-summary' }, summary) : null,
          state === 'sending' ? null : ' ',
          state === 'sending' ? null : on(h('button', { type: 'button', class: 'secondary discard' }, t('outbox.discard')), 'click', () => void outbox.discard(item.id).then(() => app.refresh())),
        ),
      );
    }
    for (const r of referrals) {
      const keyChanged = keyChangeOrgOf(r.lastError, keyChanges) !== undefined;
      const discard = on(h('button', { type: 'button', class: 'secondary discard' }, t('outbox.discard')), 'click', () => {
        // Discarding is for good: the organisations not reached yet never get this referral.
        if (!window.confirm(t('outbox.discardReferralConfirm'))) return;
        void (async () => {
          // Already sent or discarded meanwhile: the list, drawn again, says how it is now.
          await cases.discardPendingReferral(r.id).catch((err: unknown) => console.warn('the pending referral was not discarded:', errorText(err)));
          await outbox.countReferrals();
          await app.refresh();
        })();
      });
      list.appendChild(
        h(
          'li',
          { 'data-referral': r.id, 'data-state': 'waiting', class: keyChanged ? 'warning' : undefined },
          t('outbox.referral', { time: formatDateTime(r.createdAt), pending: r.pendingOrgIds.join(', ') }),
          r.lastError ? h('p', { class: 'hint' }, t('outbox.lastError', { message: sendFailureText(r.lastError, keyChanges) })) : null,
          keyChanged ? h('p', {}, toDirectory()) : null,
          h('p', {}, discard),
        ),
      );
    }
    root.appendChild(list);
  };
}
