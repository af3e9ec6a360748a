/**
 * The outbox screen: what this device sent that the relay has not taken
 * yet — thread actions (outbox.ts) and referrals the case layer keeps until
 * every part went out. It names the case, the kind of action, when it was
 * sent and where it is; no case data beyond what the thread view shows
 * (a note's words are not listed; a consent withdrawal says who recorded
 * it, an added org which org for which purpose).
 */
import type { App } from './app';
import { h, on } from './dom';
import { formatDateTime, t } from './i18n/index';
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
          h('span', { class: 'pending-state' }, pendingState(state, item)),
          summary ? h('p', { class: 'event-detail pending-summary' }, summary) : null,
          state === 'sending' ? null : ' ',
          state === 'sending' ? null : on(h('button', { type: 'button', class: 'secondary discard' }, t('outbox.discard')), 'click', () => void outbox.discard(item.id).then(() => app.refresh())),
        ),
      );
    }
    for (const r of referrals) {
      list.appendChild(
        h(
          'li',
          { 'data-referral': r.id, 'data-state': 'waiting' },
          t('outbox.referral', { time: formatDateTime(r.createdAt), pending: r.pending.join(', ') }),
          r.lastError ? h('p', { class: 'hint' }, t('outbox.lastError', { message: r.lastError.message })) : null,
        ),
      );
    }
    root.appendChild(list);
  };
}
