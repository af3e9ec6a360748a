/**
 * The inbox: every thread this device holds, overdue first, then those due
 * soonest, then by priority and the latest activity. Live: a thread that
 * changes re-renders the list. It shows the most urgent page of threads and
 * a "show more" button: a table of 500 rows takes longer to lay out than
 * the rest of the unlock put together (docs/DECISIONS.md, 2026-12-06).
 */
import { DEFAULT_DUE_WINDOW_MS, type IntakeState, type ThreadSummary } from '../../referral/index';
import type { App } from './app';
import { field, h, on } from './dom';
import { type MessageKey, formatDateTime, t, tDynamic } from './i18n/index';
import { directoryLabel, directoryScreen } from './directory';
import { referralFormScreen } from './referral-form';
import { threadScreen } from './thread';

const PRIORITY_RANK: Record<string, number> = { emergency: 0, urgent: 1, normal: 2 };
const OPEN_STATES = new Set(['sent', 'acknowledged', 'info-requested']);
/** Rows per page: more than a screenful on any display, few enough to lay out at once on a slow machine. */
export const INBOX_PAGE = 100;

/**
 * Why a message could not be opened, in the reader's language, by the SDK's
 * code for it (the SDK's own message follows as the technical detail).
 */
const FAILURE_WHY: Readonly<Record<string, MessageKey>> = {
  BAD_REQUEST: 'failure.BAD_REQUEST',
  BAD_SIGNATURE: 'failure.BAD_SIGNATURE',
  DECRYPT_FAILED: 'failure.DECRYPT_FAILED',
  REPLAY: 'failure.REPLAY',
  STALE_MESSAGE: 'failure.STALE_MESSAGE',
  NOT_RECIPIENT: 'failure.NOT_RECIPIENT',
  REVOKED: 'failure.REVOKED',
  EXPIRED: 'failure.EXPIRED',
};

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

/** What the inbox's page line says: how many rows are shown of `total`, and how many "show more" adds (0: no button). */
export function inboxPage(total: number, shown: number): { shown: number; next: number } {
  const rows = Math.min(Math.max(shown, 0), total);
  return { shown: rows, next: Math.min(INBOX_PAGE, total - rows) };
}

/** The inbox's filter: every thread, those with messages not opened here yet (they may be far down the urgency order), or one group of states. */
export const INBOX_GROUPS = ['all', 'unread', 'waiting', 'overdue', 'active', 'closed'] as const;
export type InboxGroup = (typeof INBOX_GROUPS)[number];

/**
 * Each state the referral package defines (INTAKE_STATES) in its group: one
 * entry per state, so a new state cannot be left out without the compiler
 * saying so. 'expired' (no answer in time) is overdue; a thread flagged
 * overdue is too, whatever its state; a purged thread is closed.
 */
export const STATE_GROUP: Record<IntakeState, Exclude<InboxGroup, 'all' | 'unread'>> = {
  sent: 'waiting',
  acknowledged: 'waiting',
  'info-requested': 'waiting',
  expired: 'overdue',
  accepted: 'active',
  'intake-scheduled': 'active',
  arrived: 'active',
  'no-show': 'active',
  'in-service': 'active',
  declined: 'closed',
  completed: 'closed',
  withdrawn: 'closed',
  'consent-withdrawn': 'closed',
  closed: 'closed',
};

const GROUP_LABEL: Record<InboxGroup, MessageKey> = {
  all: 'inbox.group.all',
  unread: 'inbox.group.unread',
  waiting: 'inbox.group.waiting',
  overdue: 'inbox.group.overdue',
  active: 'inbox.group.active',
  closed: 'inbox.group.closed',
};

export function isInboxGroup(value: string): value is InboxGroup {
  return (INBOX_GROUPS as readonly string[]).includes(value);
}

/** Does `thread` (with `unread` messages not opened on this device) belong to `group`? */
export function inGroup(thread: ThreadSummary, group: InboxGroup, unread = 0): boolean {
  if (group === 'all') return true;
  if (group === 'unread') return unread > 0;
  if (group === 'overdue') return thread.overdue || thread.status === 'expired';
  if (thread.purged) return group === 'closed';
  const of = thread.status ? STATE_GROUP[thread.status] : undefined;
  // An overdue thread is in "overdue", and still waiting for an answer.
  return of === group && !(group === 'active' && thread.overdue);
}

/** Case codes compared without case or width differences (a search for "web-1" finds "WEB-1"). */
const fold = (text: string) => text.normalize('NFKC').toLocaleLowerCase();

/**
 * The threads the inbox lists for a search and a state group: those whose
 * case code holds `search` (case-insensitive; blank matches every thread,
 * a purged one, with no code, only then) and that are in `group`, in the
 * order given (the inbox passes them sorted, and pages the result).
 */
export function filterInbox(threads: readonly ThreadSummary[], filter: { search: string; group: InboxGroup }, unread: (threadId: string) => number = () => 0): ThreadSummary[] {
  const needle = fold(filter.search.trim());
  return threads.filter((th) => inGroup(th, filter.group, unread(th.threadId)) && (needle === '' || (th.caseCode !== null && fold(th.caseCode).includes(needle))));
}

export function inboxScreen(app: App) {
  // Rows shown: kept while the inbox re-renders live, so "show more" is not undone by an arriving message.
  let shown = INBOX_PAGE;
  // The search and the state group: kept the same way, so a live re-render neither clears nor undoes them.
  let search = '';
  let group: InboxGroup = 'all';
  return async (root: HTMLElement) => {
    const session = app.session;
    if (!session) return;
    app.onThreadUpdate(() => void app.refresh());
    const threads = (await session.cases.listThreads()).sort(inboxOrder);
    const now = Date.now();
    // Marks of threads no longer held (a purged case) are dropped.
    session.unread.retain(threads.map((th) => th.threadId));
    const newButton = on(h('button', { type: 'button', id: 'new-referral' }, t('inbox.new')), 'click', () => void app.show(referralFormScreen(app)));
    const directoryButton = on(h('button', { type: 'button', class: 'secondary', id: 'open-directory' }, directoryLabel(app)), 'click', () => void app.show(directoryScreen(app)));
    root.append(h('h1', {}, t('inbox.title')), h('p', {}, newButton, ' ', directoryButton));
    // Messages that could not be opened are shown with their reason, never dropped silently.
    for (const failed of (await session.client.failedMessages()).filter((f) => !f.pending)) {
      root.appendChild(
        h(
          'p',
          { class: 'warning failed-message', role: 'alert', 'data-code': failed.code },
          t('inbox.failedWhy', { sender: failed.senderDeviceId, why: t(FAILURE_WHY[failed.code] ?? 'failure.other'), reason: failed.reason }),
        ),
      );
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
    // How many need attention, in words a screen reader says as the inbox changes (of all threads, not the page).
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
    const row = (thread: ThreadSummary) => inboxRow(app, thread, session.unread.count(thread.threadId), now);

    // Search by case code and filter by state group, above the table: applied to the whole sorted list, then
    // paged. Typing re-draws the rows in place (no re-render), so focus stays in the search box.
    const searchBox = h('input', { type: 'text', name: 'search', id: 'inbox-search', autocomplete: 'off', spellcheck: 'false' });
    searchBox.value = search;
    // Typing on through a live re-render: the caret stays where it was (app.ts puts the focus back).
    const typing = document.activeElement;
    if (typing instanceof HTMLInputElement && typing.id === 'inbox-search' && typing.value === search) searchBox.setSelectionRange(typing.selectionStart, typing.selectionEnd, typing.selectionDirection ?? undefined);
    const groupSelect = h('select', { name: 'group', id: 'inbox-group' }, ...INBOX_GROUPS.map((g) => h('option', { value: g }, t(GROUP_LABEL[g]))));
    groupSelect.value = group;
    const filterForm = h('form', { id: 'inbox-filter', role: 'search', novalidate: true }, field(t('inbox.search'), searchBox).wrap, field(t('inbox.filter'), groupSelect).wrap);
    on(filterForm, 'submit', (ev) => ev.preventDefault());

    const body = h('tbody');
    const head = h(
      'thead',
      {},
      h('tr', {}, h('th', { scope: 'col' }, t('inbox.case')), h('th', { scope: 'col' }, t('inbox.status')), h('th', { scope: 'col' }, t('inbox.priority')), h('th', { scope: 'col', class: 'optional' }, t('inbox.due')), h('th', { scope: 'col', class: 'optional' }, t('inbox.role'))),
    );
    const table = h('table', { id: 'inbox' }, head, body);
    // How many are shown of how many match, and the next page in place (no re-render, so focus can go to
    // the first new row, where a keyboard or screen-reader user goes on reading).
    const count = h('p', { id: 'inbox-shown', role: 'status' });
    const more = h('button', { type: 'button', class: 'secondary', id: 'inbox-more' });
    const moreLine = h('p', {}, more);
    let matching: ThreadSummary[] = [];
    const update = () => {
      const page = inboxPage(matching.length, shown);
      const filtered = search.trim() !== '' || group !== 'all';
      // Unfiltered, the line is there only when the list is longer than a page; filtered, it always says how many match.
      if (matching.length === 0) count.textContent = t('inbox.noMatch');
      else if (matching.length > INBOX_PAGE) count.textContent = filtered ? t('inbox.showingMatching', { shown: page.shown, total: matching.length }) : t('inbox.showing', { shown: page.shown, total: matching.length });
      else count.textContent = filtered ? t('inbox.matching', { count: matching.length }) : '';
      count.hidden = count.textContent === '';
      table.hidden = matching.length === 0;
      more.textContent = t('inbox.more', { count: page.next });
      moreLine.hidden = page.next === 0;
    };
    const draw = () => {
      matching = filterInbox(threads, { search, group }, (threadId) => session.unread.count(threadId));
      body.replaceChildren(...matching.slice(0, shown).map(row));
      update();
    };
    on(searchBox, 'input', () => {
      search = searchBox.value;
      shown = INBOX_PAGE;
      draw();
    });
    on(groupSelect, 'change', () => {
      group = isInboxGroup(groupSelect.value) ? groupSelect.value : 'all';
      shown = INBOX_PAGE;
      draw();
    });
    on(more, 'click', () => {
      const next = matching.slice(shown, shown + INBOX_PAGE).map(row);
      body.append(...next);
      shown += next.length;
      update();
      next[0]?.querySelector('button')?.focus();
    });
    draw();
    root.append(filterForm, table, count, moreLine);
    // The search box keeps its focus over a live re-render (app.ts puts it back, with what was typed); the
    // state select is put back here, once the new screen is in place.
    if (document.activeElement?.id === 'inbox-group') {
      setTimeout(() => {
        if (groupSelect.isConnected) groupSelect.focus();
      }, 0);
    }
  };
}

/** One thread's row: its case code (the button that opens it), unread count, warnings, status, priority, due date and this org's role. */
function inboxRow(app: App, thread: ThreadSummary, unread: number, now: number): HTMLTableRowElement {
  const waiting = thread.status !== null && OPEN_STATES.has(thread.status) && thread.responseDeadline !== null;
  const dueSoon = waiting && !thread.overdue && (thread.responseDeadline ?? 0) - now < DEFAULT_DUE_WINDOW_MS;
  const due = h('td', { class: 'optional' });
  if (waiting && thread.responseDeadline !== null) due.append(formatDateTime(thread.responseDeadline));
  if (thread.overdue) due.append(' ', h('span', { class: 'overdue' }, t('inbox.overdue')));
  else if (dueSoon) due.append(' ', h('span', { class: 'due-soon' }, t('inbox.dueSoon')));
  const unreadId = `unread-${thread.threadId}`;
  // The count is named with the case's button, so a screen reader says "WEB-1, 2 unread messages".
  const open = on(
    h('button', { type: 'button', class: 'secondary open-thread', ...(unread > 0 ? { 'aria-describedby': unreadId } : {}) }, thread.caseCode ?? '—'),
    'click',
    () => void app.show(threadScreen(app, thread.threadId)),
  );
  return h(
    'tr',
    { 'data-thread': thread.threadId, ...(unread > 0 ? { class: 'unread', 'data-unread': unread } : {}) },
    h(
      'td',
      {},
      open,
      unread > 0 ? h('span', { class: 'unread-count', id: unreadId }, ' ', t('inbox.unread', { count: unread })) : null,
      thread.securityWarnings > 0 ? h('p', { class: 'warning' }, t('inbox.warnings', { count: thread.securityWarnings })) : null,
      thread.rejected > 0 ? h('p', { class: 'warning refused-count' }, t('inbox.refused', { count: thread.rejected })) : null,
    ),
    h('td', { class: 'status' }, tDynamic(`status.${thread.status ?? 'unknown'}`)),
    h('td', {}, thread.priority ? tDynamic(`priority.${thread.priority}`) : ''),
    due,
    h('td', { class: 'optional' }, thread.role ? tDynamic(`role.${thread.role}`) : ''),
  );
}
