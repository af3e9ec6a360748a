/**
 * The inbox's view state, without a browser: its order (overdue, then due
 * soonest among threads still waiting for an answer, then priority, then
 * latest activity) and its page line.
 */
import type { ThreadSummary } from '../../../client/referral';
import { INBOX_PAGE, inboxOrder, inboxPage } from '../../../client/web/src/inbox';

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
