/**
 * The inbox: every thread this device holds, overdue first, then those due
 * soonest, then by priority and the latest activity. Live: a thread that
 * changes re-renders the list.
 */
import { DEFAULT_DUE_WINDOW_MS, type ThreadSummary } from '../../referral/index';
import type { App } from './app';
import { h, on } from './dom';
import { formatDateTime, t, tDynamic } from './i18n/index';
import { directoryScreen } from './directory';
import { referralFormScreen } from './referral-form';
import { threadScreen } from './thread';

const PRIORITY_RANK: Record<string, number> = { emergency: 0, urgent: 1, normal: 2 };
const OPEN_STATES = new Set(['sent', 'acknowledged', 'info-requested']);

/** Overdue first, then due soonest (only threads still waiting for an answer have a due date that counts), then priority, then newest. */
export function inboxOrder(a: ThreadSummary, b: ThreadSummary): number {
  if (a.overdue !== b.overdue) return a.overdue ? -1 : 1;
  const dueA = a.status && OPEN_STATES.has(a.status) ? a.responseDeadline ?? Infinity : Infinity;
  const dueB = b.status && OPEN_STATES.has(b.status) ? b.responseDeadline ?? Infinity : Infinity;
  if (dueA !== dueB) return dueA - dueB;
  const rank = (PRIORITY_RANK[a.priority ?? 'normal'] ?? 3) - (PRIORITY_RANK[b.priority ?? 'normal'] ?? 3);
  if (rank !== 0) return rank;
  return (b.lastEventAt ?? 0) - (a.lastEventAt ?? 0);
}

export function inboxScreen(app: App) {
  return async (root: HTMLElement) => {
    const session = app.session;
    if (!session) return;
    app.onThreadUpdate(() => void app.refresh());
    const threads = (await session.cases.listThreads()).sort(inboxOrder);
    const now = Date.now();
    // Marks of threads no longer held (a purged case) are dropped.
    session.unread.retain(threads.map((th) => th.threadId));
    const newButton = on(h('button', { type: 'button', id: 'new-referral' }, t('inbox.new')), 'click', () => void app.show(referralFormScreen(app)));
    const directoryButton = on(h('button', { type: 'button', class: 'secondary', id: 'open-directory' }, t('inbox.directory')), 'click', () => void app.show(directoryScreen(app)));
    root.append(h('h1', {}, t('inbox.title')), h('p', {}, newButton, ' ', directoryButton));
    // Messages that could not be opened are shown with their reason, never dropped silently.
    for (const failed of (await session.client.failedMessages()).filter((f) => !f.pending)) {
      root.appendChild(h('p', { class: 'warning failed-message', role: 'alert' }, t('inbox.failed', { sender: failed.senderDeviceId, reason: failed.reason })));
    }
    // History transfers still arriving (a new device, an org added to a case): how far each got.
    const receiving = (await session.client.historyProgress()).filter((p) => p.received < p.total);
    if (receiving.length > 0) {
      root.appendChild(
        h('ul', { id: 'history-progress', role: 'status' }, ...receiving.map((p) => h('li', { 'data-transfer': p.transferId }, t('inbox.history', { from: p.fromDeviceId, received: p.received, total: p.total })))),
      );
    }
    if (threads.length === 0) {
      root.appendChild(h('p', { id: 'inbox-empty' }, t('inbox.empty')));
      return;
    }
    // How many need attention, in words a screen reader says as the inbox changes.
    const unreadThreads = threads.filter((th) => session.unread.count(th.threadId) > 0).length;
    const overdue = threads.filter((th) => th.overdue).length;
    root.appendChild(
      h(
        'p',
        { id: 'inbox-summary', role: 'status' },
        unreadThreads > 0 ? h('span', { id: 'unread-summary', class: 'unread-count' }, t('inbox.unreadSummary', { count: unreadThreads })) : null,
        unreadThreads > 0 && overdue > 0 ? ' · ' : null,
        overdue > 0 ? h('span', { id: 'overdue-summary', class: 'overdue' }, t('inbox.overdueCount', { count: overdue })) : null,
      ),
    );
    const body = h('tbody');
    for (const thread of threads) {
      const waiting = thread.status !== null && OPEN_STATES.has(thread.status) && thread.responseDeadline !== null;
      const dueSoon = waiting && !thread.overdue && (thread.responseDeadline ?? 0) - now < DEFAULT_DUE_WINDOW_MS;
      const due = h('td', { class: 'optional' });
      if (waiting && thread.responseDeadline !== null) due.append(formatDateTime(thread.responseDeadline));
      if (thread.overdue) due.append(' ', h('span', { class: 'overdue' }, t('inbox.overdue')));
      else if (dueSoon) due.append(' ', h('span', { class: 'due-soon' }, t('inbox.dueSoon')));
      const unread = session.unread.count(thread.threadId);
      const unreadId = `unread-${thread.threadId}`;
      // The count is named with the case's button, so a screen reader says "WEB-1, 2 unread messages".
      const open = on(
        h('button', { type: 'button', class: 'secondary open-thread', ...(unread > 0 ? { 'aria-describedby': unreadId } : {}) }, thread.caseCode ?? '—'),
        'click',
        () => void app.show(threadScreen(app, thread.threadId)),
      );
      const row = h(
        'tr',
        { 'data-thread': thread.threadId, ...(unread > 0 ? { class: 'unread', 'data-unread': unread } : {}) },
        h(
          'td',
          {},
          open,
          unread > 0 ? h('span', { class: 'unread-count', id: unreadId }, ' ', t('inbox.unread', { count: unread })) : null,
          thread.securityWarnings > 0 ? h('p', { class: 'warning' }, t('inbox.warnings', { count: thread.securityWarnings })) : null,
        ),
        h('td', { class: 'status' }, tDynamic(`status.${thread.status ?? 'unknown'}`)),
        h('td', {}, thread.priority ? tDynamic(`priority.${thread.priority}`) : ''),
        due,
        h('td', { class: 'optional' }, thread.role ? tDynamic(`role.${thread.role}`) : ''),
      );
      body.appendChild(row);
    }
    const head = h(
      'thead',
      {},
      h('tr', {}, h('th', { scope: 'col' }, t('inbox.case')), h('th', { scope: 'col' }, t('inbox.status')), h('th', { scope: 'col' }, t('inbox.priority')), h('th', { scope: 'col', class: 'optional' }, t('inbox.due')), h('th', { scope: 'col', class: 'optional' }, t('inbox.role'))),
    );
    root.appendChild(h('table', { id: 'inbox' }, head, body));
  };
}
