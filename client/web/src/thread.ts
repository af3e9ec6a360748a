/**
 * One case thread: what this org may see of the referral, the timeline, and
 * the actions its role allows now. Every value shown is text from another
 * org's message: it goes through textContent only (dom.ts).
 */
import { DECLINE_REASONS, type CaseThread, type DeclineReason, type ThreadEvent } from '../../referral/index';
import { type App, errorText } from './app';
import { field, h, on } from './dom';
import { formatDateTime, humanize, t, tDynamic } from './i18n/index';

const UNDECIDED = ['sent', 'acknowledged', 'info-requested'];

/** Which actions this org's role allows in the thread's state (the state machine checks again when the event is built). */
export function allowedActions(status: string | null, role: string | null): Array<'acknowledge' | 'accept' | 'decline' | 'note'> {
  const actions: Array<'acknowledge' | 'accept' | 'decline' | 'note'> = [];
  if (role === 'receiving' && status === 'sent') actions.push('acknowledge');
  if (role === 'receiving' && status !== null && UNDECIDED.includes(status)) actions.push('accept', 'decline');
  if (role !== null && status !== null && status !== 'consent-withdrawn') actions.push('note');
  return actions;
}

/** Fields whose values are pick-list codes: shown as words. */
const PICK_LIST_FIELDS = new Set([
  'kind', 'priority', 'purpose', 'servicesRequested', 'reasonForReferral', 'gender', 'traffickingStatus', 'traffickingStatusDecisionMakingOrg',
  'typeOfExploitation', 'forcedLabourIndustry', 'methodsOfControl', 'methodOfRecruitment', 'riskLevel', 'givenBy', 'method', 'purposes',
  'legalBasis', 'documentType', 'fitToTravel', 'coveredOrgTypes', 'orgType', 'fieldGroups', 'fromOrgTypes',
]);

function leafText(key: string, value: unknown): string {
  if (typeof value === 'number' && /(At|Date|For)$/.test(key)) return formatDateTime(value);
  if (typeof value === 'string' && PICK_LIST_FIELDS.has(key)) return key === 'priority' ? tDynamic(`priority.${value}`, humanize(value)) : humanize(value);
  return String(value);
}

/** A value of the referral as a definition list, nested objects as nested lists; all as text. */
function dataList(value: unknown, path = '', key = ''): HTMLElement {
  if (value === null || typeof value !== 'object') return h('span', {}, leafText(key, value));
  if (Array.isArray(value)) {
    if (value.every((v) => typeof v !== 'object' || v === null)) return h('span', {}, value.map((v) => leafText(key, v)).join(', '));
    return h('ul', {}, ...value.map((v) => h('li', {}, dataList(v, path, key))));
  }
  const dl = h('dl', { class: 'data' });
  for (const [k, v] of Object.entries(value)) {
    if (v === undefined) continue;
    const p = path ? `${path}.${k}` : k;
    const label = path ? tDynamic(`field.${p}`, humanize(k)) : tDynamic(`form.section.${k}`, humanize(k));
    dl.append(h('dt', {}, label), h('dd', {}, typeof v === 'boolean' ? (v ? '✓' : '✗') : dataList(v, p, k)));
  }
  return dl;
}

/** The words an event adds to its timeline line (a note's text, a decline's reason). */
function eventDetail(event: ThreadEvent | undefined): string | undefined {
  if (!event) return undefined;
  const e = event.event;
  switch (e.type) {
    case 'note':
      return e.body.text;
    case 'referral.decline':
      return [humanize(e.body.reasonCode), e.body.details].filter(Boolean).join(': ');
    case 'referral.acknowledge':
    case 'referral.accept':
      return e.body.note;
    default:
      return undefined;
  }
}

export function threadScreen(app: App, threadId: string) {
  return async (root: HTMLElement) => {
    const session = app.session;
    if (!session) return;
    app.onThreadUpdate((changed) => {
      if (changed === threadId) void app.refresh();
    });
    const { cases, client } = session;
    const thread: CaseThread = await cases.thread(threadId);
    const events = new Map((await cases.events(threadId)).map((e) => [e.id, e]));
    const role = thread.participants.find((p) => p.orgId === client.orgId)?.role ?? null;
    const caseCode = thread.referral?.identity.caseCode ?? '—';
    const back = on(h('button', { type: 'button', class: 'secondary', id: 'back' }, t('thread.back')), 'click', () => void app.goHome());
    root.append(h('p', {}, back), h('h1', {}, t('thread.title', { caseCode })));
    if (thread.purged) root.appendChild(h('p', { class: 'notice' }, t('thread.purged')));
    for (const w of thread.securityWarnings) root.appendChild(h('p', { class: 'warning', role: 'alert' }, t('thread.security', { message: w.message })));
    for (const d of thread.dropped) root.appendChild(h('p', { class: 'warning' }, t('thread.dropped', { reason: d.reason })));
    root.appendChild(
      h(
        'dl',
        { class: 'data' },
        h('dt', {}, t('thread.status')),
        h('dd', { id: 'thread-status' }, tDynamic(`status.${thread.status ?? 'unknown'}`)),
        h('dt', {}, t('thread.priority')),
        h('dd', {}, thread.priority ? tDynamic(`priority.${thread.priority}`) : ''),
        h('dt', {}, t('thread.participants')),
        h('dd', {}, thread.participants.map((p) => `${p.orgId} (${tDynamic(`role.${p.role}`)})`).join(', ')),
      ),
    );

    const actions = allowedActions(thread.status, role);
    const actionBox = h('section', { class: 'actions', 'aria-labelledby': 'actions-heading' }, h('h2', { id: 'actions-heading' }, t('thread.actions')));
    if (actions.length === 0) actionBox.appendChild(h('p', {}, t('thread.noActions')));
    const result = h('p', { role: 'status', id: 'action-result' });
    const act = (work: () => Promise<unknown>) => {
      void (async () => {
        result.textContent = '';
        for (const b of Array.from(actionBox.querySelectorAll('button'))) b.disabled = true;
        try {
          await work();
          await app.refresh();
        } catch (err) {
          result.className = 'error';
          result.textContent = t('app.error', { message: errorText(err) });
          for (const b of Array.from(actionBox.querySelectorAll('button'))) b.disabled = false;
        }
      })();
    };
    const simple = h('p', {});
    if (actions.includes('acknowledge')) simple.appendChild(on(h('button', { type: 'button', id: 'action-acknowledge' }, t('action.acknowledge')), 'click', () => act(() => cases.acknowledge(threadId))));
    if (actions.includes('accept')) simple.append(' ', on(h('button', { type: 'button', id: 'action-accept' }, t('action.accept')), 'click', () => act(() => cases.accept(threadId))));
    if (simple.childNodes.length > 0) actionBox.appendChild(simple);
    if (actions.includes('decline')) {
      const reason = h('select', { name: 'reasonCode' }, ...DECLINE_REASONS.map((r) => h('option', { value: r }, humanize(r))));
      const details = h('textarea', { name: 'details', rows: 2 });
      const form = h('form', { id: 'action-decline' }, field(t('action.declineReason'), reason).wrap, field(t('action.details'), details).wrap, h('button', { type: 'submit' }, t('action.decline')));
      on(form, 'submit', (ev) => {
        ev.preventDefault();
        const text = details.value.trim();
        act(() => cases.decline(threadId, { reasonCode: reason.value as DeclineReason, ...(text ? { details: text } : {}) }));
      });
      actionBox.appendChild(form);
    }
    if (actions.includes('note')) {
      const text = h('textarea', { name: 'text', rows: 2 });
      const form = h('form', { id: 'action-note' }, field(t('action.noteText'), text).wrap, h('button', { type: 'submit' }, t('action.note')));
      on(form, 'submit', (ev) => {
        ev.preventDefault();
        if (text.value.trim()) act(() => cases.note(threadId, text.value.trim()));
      });
      actionBox.appendChild(form);
    }
    actionBox.appendChild(result);
    root.appendChild(actionBox);

    const timeline = h('ol', { class: 'timeline', id: 'timeline' });
    for (const entry of thread.timeline) {
      const detail = eventDetail(events.get(entry.id));
      timeline.appendChild(
        h(
          'li',
          { 'data-type': entry.type },
          h('strong', {}, tDynamic(`event.${entry.type}`)),
          ` — ${entry.author.orgId}, ${formatDateTime(entry.at)}`,
          detail ? h('p', { class: 'event-detail' }, detail) : null,
        ),
      );
    }
    root.append(h('h2', {}, t('thread.timeline')), timeline);
    root.append(h('h2', {}, t('thread.referral')), thread.referral ? h('div', { id: 'referral-data' }, dataList(thread.referral)) : h('p', {}, t('thread.notShared')));
  };
}
