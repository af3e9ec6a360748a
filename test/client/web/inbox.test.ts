/**
 * The inbox's view state, without a browser: its order (overdue, then due
 * soonest among threads still waiting for an answer, then priority, then
 * latest activity), its page line, and its search by case code and filter
 * by state group.
 */
import { INTAKE_STATES, type ThreadSummary } from '../../../client/referral';
import { INBOX_GROUPS, INBOX_PAGE, STATE_GROUP, filterInbox, inGroup, inboxOrder, inboxPage, isInboxGroup } from '../../../client/web/src/inbox';

function summary(threadId: string, over: Partial<ThreadSummary>): ThreadSummary {
  return { threadId, overdue: false, status: 'accepted', responseDeadline: null, priority: 'normal', lastEventAt: 0, ...over } as ThreadSummary;
}

it('orders overdue first, then the nearest due date of threads still waiting, then priority, then the latest activity', () => {
  const threads = [
    summary('old-normal', { lastEventAt: 1 }),
    summary('new-normal', { lastEventAt: 5 }),
    summary('emergency', { priority: 'emergency' }),
    summary('urgent', { priority: 'urgent' }),
    summary('due-later', { status: 'sent', responseDeadline: 2_000 }),
    summary('due-sooner', { status: 'acknowledged', responseDeadline: 1_000 }),
    // A deadline counts only while an answer is awaited: an accepted thread's old deadline does not put it first.
    summary('accepted-with-deadline', { status: 'accepted', responseDeadline: 10, lastEventAt: 2 }),
    summary('overdue', { overdue: true, status: 'sent', responseDeadline: 5_000 }),
  ];
  expect(threads.sort(inboxOrder).map((t) => t.threadId)).toEqual(['overdue', 'due-sooner', 'due-later', 'emergency', 'urgent', 'new-normal', 'accepted-with-deadline', 'old-normal']);
});

it('says how many rows are shown and how many "show more" adds, never more than there are', () => {
  expect(INBOX_PAGE).toBe(100);
  expect(inboxPage(503, 100)).toEqual({ shown: 100, next: 100 });
  expect(inboxPage(503, 500)).toEqual({ shown: 500, next: 3 });
  expect(inboxPage(503, 600)).toEqual({ shown: 503, next: 0 });
  expect(inboxPage(101, 100)).toEqual({ shown: 100, next: 1 });
  expect(inboxPage(40, 100)).toEqual({ shown: 40, next: 0 });
  expect(inboxPage(0, 100)).toEqual({ shown: 0, next: 0 });
});

describe('the search and the state filter', () => {
  const threads = [
    summary('sent', { status: 'sent', caseCode: 'IST-2026-001' }),
    summary('acknowledged', { status: 'acknowledged', caseCode: 'ist-2026-002' }),
    summary('info', { status: 'info-requested', caseCode: 'ANK-7' }),
    summary('overdue', { status: 'sent', overdue: true, caseCode: 'IST-OVERDUE' }),
    summary('expired', { status: 'expired', caseCode: 'IST-EXPIRED' }),
    summary('accepted', { status: 'accepted', caseCode: 'ＩＳＴ-WIDE' }),
    summary('scheduled', { status: 'intake-scheduled', caseCode: 'ANK-8' }),
    summary('arrived', { status: 'arrived', caseCode: 'ANK-9' }),
    summary('in-service', { status: 'in-service', caseCode: 'ANK-10' }),
    summary('no-show', { status: 'no-show', caseCode: 'ANK-11' }),
    summary('declined', { status: 'declined', caseCode: 'IST-D' }),
    summary('completed', { status: 'completed', caseCode: 'ANK-C' }),
    summary('withdrawn', { status: 'withdrawn', caseCode: 'ANK-W' }),
    summary('consent-withdrawn', { status: 'consent-withdrawn', caseCode: 'ANK-CW' }),
    summary('closed', { status: 'closed', caseCode: 'ANK-X' }),
    summary('purged', { status: 'consent-withdrawn', purged: true, caseCode: null }),
    summary('no-status', { status: null, caseCode: 'IST-NONE' }),
  ];
  const ids = (search: string, group: (typeof INBOX_GROUPS)[number]) => filterInbox(threads, { search, group }).map((th) => th.threadId);

  it('puts every state the referral package defines in one group', () => {
    expect(Object.keys(STATE_GROUP).sort()).toEqual([...INTAKE_STATES].sort());
    for (const state of INTAKE_STATES) expect(INBOX_GROUPS).toContain(STATE_GROUP[state]);
    expect(INBOX_GROUPS).toEqual(['all', 'unread', 'waiting', 'overdue', 'active', 'closed']);
  });

  it('filters by state group, keeping the order it was given', () => {
    expect(ids('', 'all')).toEqual(threads.map((th) => th.threadId));
    // An overdue thread is waiting for an answer too; one whose state is "expired" is only overdue.
    expect(ids('', 'waiting')).toEqual(['sent', 'acknowledged', 'info', 'overdue']);
    expect(ids('', 'overdue')).toEqual(['overdue', 'expired']);
    expect(ids('', 'active')).toEqual(['accepted', 'scheduled', 'arrived', 'in-service', 'no-show']);
    expect(ids('', 'closed')).toEqual(['declined', 'completed', 'withdrawn', 'consent-withdrawn', 'closed', 'purged']);
    // A thread whose state is not known yet is listed under "all" only (and "unread" when it has unread messages).
    expect(INBOX_GROUPS.filter((g) => inGroup(threads.at(-1)!, g))).toEqual(['all']);
    expect(INBOX_GROUPS.filter((g) => inGroup(threads.at(-1)!, g, 2))).toEqual(['all', 'unread']);
  });

  it('searches case codes by substring, without case or width differences, and combines with the group', () => {
    expect(ids('ist-2026', 'all')).toEqual(['sent', 'acknowledged']);
    expect(ids('  IST-2026-00  ', 'all')).toEqual(['sent', 'acknowledged']);
    expect(ids('ist-w', 'all')).toEqual(['accepted']);
    expect(ids('ist', 'overdue')).toEqual(['overdue', 'expired']);
    expect(ids('ank-1', 'active')).toEqual(['in-service', 'no-show']);
    expect(ids('nothing like it', 'all')).toEqual([]);
    // A purged thread has no case code: only a blank search lists it.
    expect(ids('', 'closed')).toContain('purged');
    expect(ids('a', 'closed')).not.toContain('purged');
    // The text is a plain substring, never a pattern.
    expect(ids('.*', 'all')).toEqual([]);
  });

  it('lists the threads with messages not opened here, whatever their state, in the order given, and searches within them', () => {
    const unread = new Map([['closed', 1], ['sent', 3], ['no-status', 1], ['accepted', 0]]);
    const count = (threadId: string) => unread.get(threadId) ?? 0;
    expect(filterInbox(threads, { search: '', group: 'unread' }, count).map((th) => th.threadId)).toEqual(['sent', 'closed', 'no-status']);
    expect(filterInbox(threads, { search: 'ist', group: 'unread' }, count).map((th) => th.threadId)).toEqual(['sent', 'no-status']);
    // Without unread counts nothing is unread.
    expect(filterInbox(threads, { search: '', group: 'unread' })).toEqual([]);
  });

  it('takes only the groups it knows from the select', () => {
    expect(isInboxGroup('overdue')).toBe(true);
    expect(isInboxGroup('expired')).toBe(false);
    expect(isInboxGroup('')).toBe(false);
  });
});
