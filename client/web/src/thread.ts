/**
 * One case thread: what this org may see of the referral, the timeline, and
 * the actions its role allows now. Every value shown is text from another
 * org's message: it goes through textContent only (dom.ts).
 */
import { CONSENT_GIVERS, CONSENT_METHODS, DECLINE_REASONS, PURPOSES, RETURN_STEPS, RISK_DECISIONS, STEP_STATUSES, WITHDRAW_REASONS, type CaseThread, type DeclineReason, type ThreadEvent } from '../../referral/index';
import { byOrg } from '../../sdk/index';
import { type App, errorText } from './app';
import { field, h, on } from './dom';
import { formatDateTime, humanize, t, tDynamic } from './i18n/index';

const UNDECIDED = ['sent', 'acknowledged', 'info-requested'];
const AFTER_ACCEPT = ['accepted', 'intake-scheduled', 'no-show'];
const ENDED = ['declined', 'withdrawn', 'consent-withdrawn', 'completed', 'closed'];

export type ActionName =
  | 'acknowledge'
  | 'accept'
  | 'decline'
  | 'request-info'
  | 'provide-info'
  | 'schedule'
  | 'arrived'
  | 'no-show'
  | 'start-service'
  | 'complete-service'
  | 'note'
  | 'withdraw'
  | 'close'
  | 'withdraw-consent'
  | 'add-participant'
  | 'return-step';

/** Which actions this org's role (and type) allow in the thread's state (the state machine checks again when the event is built). */
export function allowedActions(status: string | null, role: string | null, orgType?: string): ActionName[] {
  const actions: ActionName[] = [];
  if (role === null || status === null) return actions;
  const receiving = role === 'receiving';
  if (receiving && status === 'sent') actions.push('acknowledge');
  if (receiving && UNDECIDED.includes(status)) actions.push('accept', 'decline', 'request-info');
  if (role === 'sender' && status === 'info-requested') actions.push('provide-info');
  if (receiving && AFTER_ACCEPT.includes(status)) actions.push('schedule', 'arrived');
  if (receiving && status === 'intake-scheduled') actions.push('no-show');
  if (receiving && status === 'arrived') actions.push('start-service');
  if (receiving && status === 'in-service') actions.push('complete-service');
  if (status !== 'consent-withdrawn') actions.push('note');
  if (role === 'sender' && !ENDED.includes(status)) actions.push('withdraw');
  if ((receiving || role === 'sender') && status !== 'closed' && status !== 'consent-withdrawn') actions.push('close');
  if ((receiving || role === 'sender') && status !== 'consent-withdrawn') actions.push('withdraw-consent');
  if ((receiving || role === 'sender') && !ENDED.includes(status)) actions.push('add-participant');
  if (orgType === 'iom' && !['withdrawn', 'consent-withdrawn', 'closed'].includes(status)) actions.push('return-step');
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
    case 'referral.request-info':
      return e.body.questions;
    case 'referral.provide-info':
      return e.body.details;
    case 'referral.withdraw':
      return [humanize(e.body.reasonCode), e.body.details].filter(Boolean).join(': ');
    case 'case.close':
      return e.body.reasonForCaseClosure;
    case 'participant.add':
      return `${e.body.orgId} — ${humanize(e.body.purpose)}`;
    case 'return.step':
      return [`${humanize(e.body.step)}: ${humanize(e.body.status)}`, e.body.decision ? humanize(e.body.decision) : undefined, e.body.note].filter(Boolean).join(' — ');
    case 'intake.schedule':
      return [formatDateTime(e.body.scheduledFor), e.body.location].filter(Boolean).join(' — ');
    default:
      return undefined;
  }
}

export function threadScreen(app: App, threadId: string) {
  // What the last "send again" did: kept across the re-render that follows it.
  let resendNote: { text: string; error: boolean } | undefined;
  return async (root: HTMLElement) => {
    const session = app.session;
    if (!session) return;
    app.onThreadUpdate((changed) => {
      if (changed === undefined || changed === threadId) void app.refresh();
    });
    // On screen: its messages are seen (the inbox's unread mark clears, now and as more arrive).
    app.threadShown(threadId);
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

    const actions = allowedActions(thread.status, role, client.trust.certifiedOrgType(client.orgId));
    const actionBox = h('section', { class: 'actions', 'aria-labelledby': 'actions-heading' }, h('h2', { id: 'actions-heading' }, t('thread.actions')));
    if (actions.length === 0) actionBox.appendChild(h('p', {}, t('thread.noActions')));
    const result = h('p', { role: 'status', id: 'action-result' });
    const act = (work: () => Promise<unknown>) => {
      void (async () => {
        result.textContent = '';
        for (const b of Array.from(actionBox.querySelectorAll('button'))) b.disabled = true;
        try {
          await work();
          // Sent: the forms start empty again (a refresh otherwise keeps what was typed). The forms on the page
          // now, not this render's: a live update during the send may already have replaced them, keeping the text.
          for (const f of Array.from(document.querySelectorAll<HTMLFormElement>('section.actions form'))) f.reset();
          await app.refresh();
        } catch (err) {
          result.className = 'error';
          result.textContent = t('app.error', { message: errorText(err) });
          for (const b of Array.from(actionBox.querySelectorAll('button'))) b.disabled = false;
        }
      })();
    };
    const simple = h('p', {});
    const button = (name: ActionName, label: string, work: () => Promise<unknown>) =>
      simple.append(simple.childNodes.length ? ' ' : '', on(h('button', { type: 'button', id: `action-${name}` }, label), 'click', () => act(work)));
    if (actions.includes('acknowledge')) button('acknowledge', t('action.acknowledge'), () => cases.acknowledge(threadId));
    if (actions.includes('accept')) button('accept', t('action.accept'), () => cases.accept(threadId));
    if (actions.includes('arrived')) button('arrived', t('action.arrived'), () => cases.arrived(threadId));
    if (actions.includes('no-show')) button('no-show', t('action.noShow'), () => cases.noShow(threadId));
    if (actions.includes('start-service')) button('start-service', t('action.startService'), () => cases.startService(threadId));
    if (actions.includes('complete-service')) button('complete-service', t('action.completeService'), () => cases.completeService(threadId));
    if (simple.childNodes.length > 0) actionBox.appendChild(simple);
    /** One action with a few fields: a small form of its own. */
    const form = (name: ActionName, label: string, fields: Array<[string, HTMLElement]>, work: () => Promise<unknown> | undefined) => {
      const f = h('form', { id: `action-${name}` }, ...fields.map(([l, c]) => field(l, c).wrap), h('button', { type: 'submit' }, label));
      on(f, 'submit', (ev) => {
        ev.preventDefault();
        const pending = work();
        if (pending) act(() => pending);
      });
      actionBox.appendChild(f);
    };
    const text = (name: string) => h('textarea', { name, rows: 2 });
    const choice = (name: string, values: readonly string[]) => h('select', { name }, ...values.map((v) => h('option', { value: v }, humanize(v))));
    const trimmed = (el: HTMLTextAreaElement | HTMLInputElement) => el.value.trim() || undefined;
    if (actions.includes('decline')) {
      const reason = choice('reasonCode', DECLINE_REASONS);
      const details = text('details');
      form('decline', t('action.decline'), [[t('action.declineReason'), reason], [t('action.details'), details]], () => {
        const d = trimmed(details);
        return cases.decline(threadId, { reasonCode: reason.value as DeclineReason, ...(d ? { details: d } : {}) });
      });
    }
    if (actions.includes('request-info')) {
      const questions = text('questions');
      form('request-info', t('action.requestInfo'), [[t('action.questions'), questions]], () => {
        const q = trimmed(questions);
        return q ? cases.requestInfo(threadId, { questions: q }) : undefined;
      });
    }
    if (actions.includes('provide-info')) {
      const details = text('details');
      form('provide-info', t('action.provideInfo'), [[t('action.answer'), details]], () => {
        const d = trimmed(details);
        return d ? cases.provideInfo(threadId, { details: d }) : undefined;
      });
    }
    if (actions.includes('schedule')) {
      const when = h('input', { type: 'datetime-local', name: 'scheduledFor' });
      const where = h('input', { type: 'text', name: 'location', autocomplete: 'off' });
      form('schedule', t('action.schedule'), [[t('action.when'), when], [t('action.where'), where]], () => {
        const at = Date.parse(when.value);
        if (!Number.isFinite(at)) return undefined;
        const place = trimmed(where);
        return cases.scheduleIntake(threadId, { scheduledFor: at, ...(place ? { location: place } : {}) });
      });
    }
    if (actions.includes('note')) {
      const note = text('text');
      form('note', t('action.note'), [[t('action.noteText'), note]], () => {
        const n = trimmed(note);
        return n ? cases.note(threadId, n) : undefined;
      });
    }
    if (actions.includes('withdraw')) {
      const reason = choice('reasonCode', WITHDRAW_REASONS);
      const details = text('details');
      form('withdraw', t('action.withdraw'), [[t('action.declineReason'), reason], [t('action.details'), details]], () => {
        const d = trimmed(details);
        return cases.withdraw(threadId, { reasonCode: reason.value as (typeof WITHDRAW_REASONS)[number], ...(d ? { details: d } : {}) });
      });
    }
    if (actions.includes('close')) {
      const reason = text('reasonForCaseClosure');
      form('close', t('action.close'), [[t('action.closeReason'), reason]], () => {
        const r = trimmed(reason);
        return r ? cases.close(threadId, r) : undefined;
      });
    }
    if (actions.includes('withdraw-consent')) {
      const givenBy = choice('givenBy', CONSENT_GIVERS);
      const method = choice('method', CONSENT_METHODS);
      const recordedBy = h('input', { type: 'text', name: 'recordedBy', autocomplete: 'off' });
      form(
        'withdraw-consent',
        t('action.withdrawConsent'),
        [[t('action.givenBy'), givenBy], [t('action.method'), method], [t('action.recordedBy'), recordedBy]],
        () => {
          const name = trimmed(recordedBy);
          if (!name || !window.confirm(t('action.withdrawConsentConfirm'))) return undefined;
          return cases.withdrawConsent(threadId, { givenBy: givenBy.value as (typeof CONSENT_GIVERS)[number], method: method.value as (typeof CONSENT_METHODS)[number], recordedBy: { name } });
        },
      );
    }
    if (actions.includes('add-participant')) {
      // Orgs from the directory not yet in the thread; the consent must cover the one chosen for the purpose.
      const inThread = new Set(thread.participants.map((p) => p.orgId));
      const candidates = client.trust.listOrgs().filter((o) => !inThread.has(o.orgId));
      if (candidates.length > 0) {
        const org = h('select', { name: 'orgId' }, ...candidates.map((o) => h('option', { value: o.orgId }, `${o.orgId} (${humanize(o.orgType)})`)));
        const purpose = choice('purpose', PURPOSES);
        form('add-participant', t('action.addParticipant'), [[t('action.org'), org], [t('action.purpose'), purpose]], () =>
          cases.addParticipant(threadId, { orgId: org.value, purpose: purpose.value as (typeof PURPOSES)[number] }),
        );
      }
    }
    if (actions.includes('return-step')) {
      const step = choice('step', RETURN_STEPS);
      const status = choice('status', STEP_STATUSES);
      const decision = h('select', { name: 'decision' }, h('option', { value: '' }, '—'), ...RISK_DECISIONS.map((v) => h('option', { value: v }, humanize(v))));
      const note = h('input', { type: 'text', name: 'note', autocomplete: 'off' });
      form(
        'return-step',
        t('action.returnStep'),
        [[t('action.step'), step], [t('action.stepStatus'), status], [t('action.decision'), decision], [t('action.noteText'), note]],
        () => {
          const n = trimmed(note);
          const d = decision.value as (typeof RISK_DECISIONS)[number] | '';
          return cases.returnStep(threadId, {
            step: step.value as (typeof RETURN_STEPS)[number],
            status: status.value as (typeof STEP_STATUSES)[number],
            ...(d ? { decision: d } : {}),
            ...(n ? { note: n } : {}),
          });
        },
      );
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
    const delivery = await client.deliveryState(threadId);
    if (delivery.length > 0) {
      const list = h('ul', { id: 'delivery' });
      for (const entry of delivery) {
        const orgs = byOrg(entry).map(
          (o) =>
            t(o.expired > 0 ? 'thread.deliveryExpired' : 'thread.deliveryLine', { org: o.orgId, delivered: o.delivered, devices: o.devices, expired: o.expired }) +
            (o.openedAt !== undefined ? `, ${t('thread.deliveryOpened', { time: formatDateTime(o.openedAt) })}` : ''),
        );
        list.appendChild(h('li', { 'data-message': entry.messageId }, `${formatDateTime(entry.sentAt)}: `, orgs.join('; ')));
      }
      root.append(h('h2', {}, t('thread.delivery')), list);
      // Something expired undelivered (a device away longer than the relay keeps envelopes): send it again,
      // forwarded as signed by its author, to the orgs it did not reach.
      if (delivery.some((e) => e.expired.length > 0)) {
        const resend = h('button', { type: 'button', id: 'resend-expired' }, t('thread.resend'));
        on(resend, 'click', () => {
          resend.disabled = true;
          void client
            .resendExpired(threadId)
            .then((count) => (resendNote = { text: count === 0 ? t('thread.resentNone') : t('thread.resent', { count }), error: false }))
            .catch((err: unknown) => (resendNote = { text: t('app.error', { message: errorText(err) }), error: true }))
            .then(() => app.refresh());
        });
        root.append(h('p', {}, resend));
      }
    }
    if (resendNote) root.append(h('p', { role: 'status', id: 'resend-result', class: resendNote.error ? 'error' : undefined }, resendNote.text));
    // Opening the thread is what a read receipt reports (sent only if this org turned receipts on; when it
    // cannot be sent now, it is owed and goes the next time the thread is opened online).
    if (session.online && session.readReceipts) void client.markRead(threadId).catch((err: unknown) => console.warn('read receipt not sent yet:', err instanceof Error ? err.message : err));
    if (!thread.purged) root.append(h('h2', {}, t('thread.referral')), thread.referral ? h('div', { id: 'referral-data' }, dataList(thread.referral)) : h('p', {}, t('thread.notShared')));
  };
}
