/**
 * One case thread: what this org may see of the referral, the timeline, and
 * the actions its role allows now. Every value shown is text from another
 * org's message: it goes through textContent only (dom.ts).
 */
import {
  CONSENT_GIVERS,
  CONSENT_METHODS,
  RETURN_STEPS,
  RISK_DECISIONS,
  STEP_STATUSES,
  WITHDRAW_REASONS,
  type CaseThread,
  type ConsentRecord,
  type DeclineReason,
  type DropReason,
  type OrgTypeName,
  type Purpose,
  type RejectReason,
  type RejectedEvent,
  type ReturnPathState,
  type ReturnStep,
  type ScopeViolation,
  type ThreadEvent,
  scopeViolations,
} from '../../referral/index';
import { byOrg } from '../../sdk/index';
import { type App, errorText } from './app';
import { field, h, on } from './dom';
import { EVENT_TYPE, type OutboxItem, type QueuedAction } from './outbox';
import { sendFailureText } from './key-change';
import { type MessageKey, formatDateTime, humanize, language, t, tDynamic } from './i18n/index';
import { FIELD_PICK_LISTS, PICK_LISTS, type PickList, fieldOptionLabel, pickLabel } from './i18n/labels/index';

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

/**
 * Which actions this org's role (and type) allow in the thread's state (the state machine checks again when the event is built).
 * While a consent withdrawal of this device waits in the outbox, the thread is as good as withdrawn: nothing more is offered.
 */
export function allowedActions(status: string | null, role: string | null, orgType?: string, withdrawalWaiting = false): ActionName[] {
  const actions: ActionName[] = [];
  if (role === null || status === null) return actions;
  if (withdrawalWaiting) status = 'consent-withdrawn';
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

/** Fields whose values are ISO 3166 country codes: shown as the country's name in the reader's language. */
const COUNTRY_FIELDS = new Set(['countryOfExploitation', 'citizenship', 'country', 'issuingCountry']);

/** A country code as its name in the reader's language, the code after it ("Türkiye (TR)"); the code alone when the browser has no name for it. */
export function countryText(code: string): string {
  try {
    const name = new Intl.DisplayNames([language()], { type: 'region', fallback: 'none' }).of(code);
    return name && name !== code ? `${name} (${code})` : code;
  } catch {
    return code;
  }
}

/** A leaf of the referral as text: a pick-list code (by its path, so inside arrays and nested objects too) as its label in the reader's language. */
export function leafText(path: string, key: string, value: unknown): string {
  if (typeof value === 'number' && /(At|Date|For)$/.test(key)) return formatDateTime(value);
  if (typeof value === 'string' && (FIELD_PICK_LISTS[path] !== undefined || PICK_LIST_FIELDS.has(key))) return fieldOptionLabel(path, value);
  if (typeof value === 'string' && COUNTRY_FIELDS.has(key) && /^[A-Z]{2}$/.test(value)) return countryText(value);
  return String(value);
}

/** A value of the referral as a definition list, nested objects as nested lists; all as text. */
function dataList(value: unknown, path = '', key = ''): HTMLElement {
  if (value === null || typeof value !== 'object') return h('span', {}, leafText(path, key, value));
  if (Array.isArray(value)) {
    if (value.every((v) => typeof v !== 'object' || v === null)) return h('span', {}, value.map((v) => leafText(path, key, v)).join(', '));
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
      return [pickLabel('declineReason', e.body.reasonCode), e.body.details].filter(Boolean).join(': ');
    case 'referral.acknowledge':
    case 'referral.accept':
      return e.body.note;
    case 'referral.request-info':
      return e.body.questions;
    case 'referral.provide-info':
      return e.body.details;
    case 'referral.withdraw':
      return [pickLabel('withdrawReason', e.body.reasonCode), e.body.details].filter(Boolean).join(': ');
    case 'case.close':
      return e.body.reasonForCaseClosure;
    case 'participant.add':
      return `${e.body.orgId} — ${pickLabel('purpose', e.body.purpose)}`;
    case 'consent.override':
      return `${e.body.recipient.orgId} — ${pickLabel('purpose', e.body.purpose)}`;
    case 'return.step':
      return [`${pickLabel('returnStep', e.body.step)}: ${pickLabel('stepStatus', e.body.status)}`, e.body.decision ? pickLabel('riskDecision', e.body.decision) : undefined, e.body.note].filter(Boolean).join(' — ');
    case 'intake.schedule':
      return [formatDateTime(e.body.scheduledFor), e.body.location].filter(Boolean).join(' — ');
    default:
      return undefined;
  }
}

/**
 * Adding an org to a thread, as the domain decides it (consent.ts, the same
 * check the replay makes): covered, or not covered and open to a written
 * vital-interest override, or not covered with no override possible (a
 * withdrawal cannot be overridden).
 */
export type AddDecision = { covered: true } | { covered: false; violations: ScopeViolation[]; overridable: boolean };

export function addParticipantDecision(
  consent: ConsentRecord | undefined,
  org: { orgId: string; orgType: OrgTypeName },
  purpose: Purpose,
  now: number,
  withdrawn = false,
): AddDecision {
  // Without the referral (not held yet) the replay does not check either; the case layer refuses what it must.
  if (!consent) return { covered: true };
  // A new participant sees only what is sent after it joins: no field groups in the request.
  const violations = scopeViolations(consent, { recipientOrgId: org.orgId, recipientOrgType: org.orgType, fieldGroups: [], purpose, now, withdrawn });
  if (violations.length === 0) return { covered: true };
  return { covered: false, violations, overridable: !violations.includes('withdrawn') };
}

/** A step of the return path as the list shows it: every step of the path in order, recorded or not. */
export interface ReturnRow {
  step: ReturnStep;
  status: string;
  responsibleOrgId?: string;
  date?: number;
  updatedAt?: number;
  decision?: string;
  note?: string;
}

/** The return path in path order: each step with its recorded status, or "not started"; `not-departed` only when recorded. */
export function returnRows(path: ReturnPathState): ReturnRow[] {
  return RETURN_STEPS.filter((step) => step !== 'not-departed' || path.steps.some((s) => s.step === step)).map((step) => {
    const s = path.steps.find((x) => x.step === step);
    if (!s) return { step, status: 'not-started' };
    return {
      step,
      status: s.status,
      responsibleOrgId: s.responsibleOrgId,
      updatedAt: s.updatedAt,
      ...(s.date !== undefined ? { date: s.date } : {}),
      ...(s.decision !== undefined ? { decision: s.decision } : {}),
      ...(s.note !== undefined ? { note: s.note } : {}),
    };
  });
}

function returnPathList(path: ReturnPathState): HTMLElement {
  const list = h('ol', { id: 'return-path', class: 'return-path' });
  for (const row of returnRows(path)) {
    const facts = [
      row.decision ? pickLabel('riskDecision', row.decision) : undefined,
      row.responsibleOrgId ? t('return.responsible', { org: row.responsibleOrgId }) : undefined,
      row.date !== undefined ? t('return.date', { date: formatDateTime(row.date) }) : undefined,
      row.updatedAt !== undefined ? t('return.updated', { time: formatDateTime(row.updatedAt) }) : undefined,
    ].filter(Boolean);
    list.appendChild(
      h(
        'li',
        { 'data-step': row.step, 'data-status': row.status },
        h('strong', { class: 'step' }, pickLabel('returnStep', row.step)),
        ' — ',
        h('span', { class: 'step-status' }, row.status === 'not-started' ? t('stepStatus.not-started') : pickLabel('stepStatus', row.status)),
        facts.length ? h('span', { class: 'step-facts' }, ` (${facts.join('; ')})`) : null,
        row.note ? h('p', { class: 'event-detail' }, row.note) : null,
      ),
    );
  }
  return list;
}

/**
 * What an outbox item says in a thread or the outbox: its event, its words (a note's text), and where it is.
 * `summary` is what the outbox screen may show too (who recorded a withdrawal, which org is added for what; never a note's words).
 */
export function pendingText(item: OutboxItem): { label: string; detail?: string; summary?: string } {
  const label = tDynamic(`event.${EVENT_TYPE[item.kind]}`, humanize(item.kind));
  if (item.kind === 'withdraw-consent') {
    const summary = t(item.failed ? 'outbox.withdrawConsentFailed' : 'outbox.withdrawConsentWaiting', { name: item.body.recordedBy.name });
    return { label, detail: summary, summary };
  }
  if (item.kind === 'add-participant') {
    const summary = t(item.failed ? 'outbox.addParticipantFailed' : 'outbox.addParticipantWaiting', { org: item.body.orgId, purpose: pickLabel('purpose', item.body.purpose) });
    return { label, detail: summary, summary };
  }
  const body = item.body as Record<string, unknown>;
  const words = [body.text, body.questions, body.details, body.reasonForCaseClosure, body.note].find((v): v is string => typeof v === 'string');
  return words === undefined ? { label } : { label, detail: words };
}

/** Where a queued action is; a failure for an org key change waiting to be checked points to the directory (key-change.ts). */
export function pendingState(state: 'sending' | 'waiting' | 'failed', item: OutboxItem, keyChanges: readonly { orgId: string }[] = []): string {
  if (state === 'failed') return t('outbox.failed', { message: sendFailureText(item.failed, keyChanges) });
  return state === 'sending' ? t('outbox.sending') : t('outbox.waiting');
}

function pendingItem(state: 'sending' | 'waiting' | 'failed', item: OutboxItem, keyChanges: readonly { orgId: string }[], discard: () => void): HTMLElement {
  const { label, detail } = pendingText(item);
  return h(
    'li',
    { 'data-type': EVENT_TYPE[item.kind], 'data-state': state, class: state === 'failed' ? 'warning' : undefined },
    h('strong', {}, label),
    ' — ',
    h('span', { class: 'pending-state' }, pendingState(state, item, keyChanges)),
    detail ? h('p', { class: 'event-detail' }, detail) : null,
    state === 'sending' ? null : on(h('button', { type: 'button', class: 'secondary discard' }, t('outbox.discard')), 'click', discard),
  );
}

export function threadScreen(app: App, threadId: string) {
  // What the last "send again" did: kept across the re-render that follows it.
  let resendNote: { text: string; error: boolean } | undefined;
  // Why the last action was refused, and what its forms held when they were emptied (put back then).
  let actionError: string | undefined;
  // What was picked in the action forms' pick-lists (a live update re-renders the page; text fields the app keeps itself).
  const picked = new Map<string, string>();
  // An org not covered was to be added without the written reason: said until a reason is given (live updates re-render).
  let reasonMissing = false;
  let emptied: Array<[string, string, string]> | undefined;
  // The last action went to the outbox (the relay is away).
  let queuedNote = false;
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
    for (const d of thread.dropped) {
      root.appendChild(
        h('p', { class: 'warning dropped-message', 'data-reason': d.reason }, t('thread.droppedFrom', { org: d.senderOrgId, device: d.senderDeviceId, reason: t(DROP_REASON[d.reason]) })),
      );
    }
    // Signed events the thread's own rules refuse (a participant taking a step that is not its own, …): said,
    // with who signed them, so nobody reads the case without knowing an org tried; they change nothing.
    for (const r of thread.rejected) root.appendChild(h('p', { class: 'warning refused-event', role: 'alert', 'data-reason': r.reason }, refusedLine(r)));
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

    // A consent withdrawal waiting for the relay: the survivor's data is still here until it goes; nothing more is added meanwhile.
    const withdrawalWaiting = session.outbox.list(threadId).some((i) => i.kind === 'withdraw-consent' && !i.failed);
    if (withdrawalWaiting && !thread.purged) root.appendChild(h('p', { class: 'notice withdrawal-waiting', id: 'withdrawal-waiting', role: 'status' }, t('thread.withdrawalWaiting')));
    const actions = allowedActions(thread.status, role, client.trust.certifiedOrgType(client.orgId), withdrawalWaiting);
    const actionBox = h('section', { class: 'actions', 'aria-labelledby': 'actions-heading' }, h('h2', { id: 'actions-heading' }, t('thread.actions')));
    if (actions.length === 0) actionBox.appendChild(h('p', {}, t('thread.noActions')));
    const result = h('p', { role: 'status', id: 'action-result' });
    const act = (work: () => Promise<unknown>) => {
      void (async () => {
        actionError = undefined;
        result.textContent = '';
        for (const b of Array.from(actionBox.querySelectorAll('button'))) b.disabled = true;
        try {
          await work();
          // Sent: the forms start empty again (a refresh otherwise keeps what was typed). The forms on the page
          // now, not this render's: a live update during the send may already have replaced them, keeping the text.
          for (const f of Array.from(document.querySelectorAll<HTMLFormElement>('section.actions form'))) f.reset();
          picked.clear();
          await app.refresh();
        } catch (err) {
          // Said on the page as it is after the re-renders the send caused (the outbox changes re-render it),
          // with what was typed put back.
          actionError = t('app.error', { message: errorText(err) });
          const typed = emptied;
          emptied = undefined;
          await app.refresh();
          for (const [formId, name, value] of typed ?? []) {
            const el = document.querySelector<HTMLInputElement | HTMLTextAreaElement | HTMLSelectElement>(`section.actions form#${formId} [name="${name}"]`);
            if (el) el.value = value;
          }
        }
      })();
    };
    /** An action that waits in the outbox when the relay is away (kept encrypted; sent when it is back). */
    const queue = (action: QueuedAction) => async () => {
      // Kept in the outbox: the forms are emptied at once (a slow relay must not leave the text there to be sent twice);
      // what they held comes back if the thread refuses the action.
      const emptyForms = () => {
        emptied = [];
        for (const f of Array.from(document.querySelectorAll<HTMLFormElement>('section.actions form'))) {
          for (const el of Array.from(f.elements) as Array<HTMLInputElement | HTMLTextAreaElement | HTMLSelectElement>) {
            if (el.name && el.type !== 'checkbox' && el.value) emptied.push([f.id, el.name, el.value]);
          }
          f.reset();
        }
      };
      queuedNote = false;
      queuedNote = (await session.outbox.submit(threadId, action, emptyForms)) === 'queued';
    };
    const waitingKinds = new Set(session.outbox.list(threadId).filter((i) => !i.failed).map((i) => i.kind));
    const simple = h('p', {});
    const button = (name: ActionName, label: string, work: () => Promise<unknown>) =>
      simple.append(
        simple.childNodes.length ? ' ' : '',
        // Not twice: the one waiting in the outbox is this action already.
        on(h('button', { type: 'button', id: `action-${name}`, disabled: waitingKinds.has(name as QueuedAction['kind']) }, label), 'click', () => act(work)),
      );
    if (actions.includes('acknowledge')) button('acknowledge', t('action.acknowledge'), queue({ kind: 'acknowledge', body: {} }));
    if (actions.includes('accept')) button('accept', t('action.accept'), queue({ kind: 'accept', body: {} }));
    if (actions.includes('arrived')) button('arrived', t('action.arrived'), queue({ kind: 'arrived', body: {} }));
    if (actions.includes('no-show')) button('no-show', t('action.noShow'), queue({ kind: 'no-show', body: {} }));
    if (actions.includes('start-service')) button('start-service', t('action.startService'), queue({ kind: 'start-service', body: {} }));
    if (actions.includes('complete-service')) button('complete-service', t('action.completeService'), queue({ kind: 'complete-service', body: {} }));
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
    /** A pick-list that keeps what was picked across the re-renders a live update makes (until the action is sent). */
    const remember = (select: HTMLSelectElement, key: string) => {
      const kept = picked.get(key);
      if (kept !== undefined && Array.from(select.options).some((o) => o.value === kept)) select.value = kept;
      on(select, 'change', () => picked.set(key, select.value));
      return select;
    };
    const choice = (name: string, list: PickList, key = name) =>
      remember(h('select', { name }, ...PICK_LISTS[list].map((v) => h('option', { value: v }, pickLabel(list, v)))), key);
    const trimmed = (el: HTMLTextAreaElement | HTMLInputElement) => el.value.trim() || undefined;
    if (actions.includes('decline')) {
      const reason = choice('reasonCode', 'declineReason', 'decline/reasonCode');
      const details = text('details');
      form('decline', t('action.decline'), [[t('action.declineReason'), reason], [t('action.details'), details]], () => {
        const d = trimmed(details);
        return queue({ kind: 'decline', body: { reasonCode: reason.value as DeclineReason, ...(d ? { details: d } : {}) } })();
      });
    }
    if (actions.includes('request-info')) {
      const questions = text('questions');
      form('request-info', t('action.requestInfo'), [[t('action.questions'), questions]], () => {
        const q = trimmed(questions);
        return q ? queue({ kind: 'request-info', body: { questions: q } })() : undefined;
      });
    }
    if (actions.includes('provide-info')) {
      const details = text('details');
      form('provide-info', t('action.provideInfo'), [[t('action.answer'), details]], () => {
        const d = trimmed(details);
        return d ? queue({ kind: 'provide-info', body: { details: d } })() : undefined;
      });
    }
    if (actions.includes('schedule')) {
      const when = h('input', { type: 'datetime-local', name: 'scheduledFor' });
      const where = h('input', { type: 'text', name: 'location', autocomplete: 'off' });
      form('schedule', t('action.schedule'), [[t('action.when'), when], [t('action.where'), where]], () => {
        const at = Date.parse(when.value);
        if (!Number.isFinite(at)) return undefined;
        const place = trimmed(where);
        return queue({ kind: 'schedule', body: { scheduledFor: at, ...(place ? { location: place } : {}) } })();
      });
    }
    if (actions.includes('note')) {
      const note = text('text');
      form('note', t('action.note'), [[t('action.noteText'), note]], () => {
        const n = trimmed(note);
        return n ? queue({ kind: 'note', body: { text: n } })() : undefined;
      });
    }
    if (actions.includes('withdraw')) {
      const reason = choice('reasonCode', 'withdrawReason', 'withdraw/reasonCode');
      const details = text('details');
      form('withdraw', t('action.withdraw'), [[t('action.declineReason'), reason], [t('action.details'), details]], () => {
        const d = trimmed(details);
        return queue({ kind: 'withdraw', body: { reasonCode: reason.value as (typeof WITHDRAW_REASONS)[number], ...(d ? { details: d } : {}) } })();
      });
    }
    if (actions.includes('close')) {
      const reason = text('reasonForCaseClosure');
      form('close', t('action.close'), [[t('action.closeReason'), reason]], () => {
        const r = trimmed(reason);
        return r ? queue({ kind: 'close', body: { reasonForCaseClosure: r } })() : undefined;
      });
    }
    if (actions.includes('withdraw-consent')) {
      const givenBy = choice('givenBy', 'consentGiver');
      const method = choice('method', 'consentMethod');
      const recordedBy = h('input', { type: 'text', name: 'recordedBy', autocomplete: 'off' });
      form(
        'withdraw-consent',
        t('action.withdrawConsent'),
        [[t('action.givenBy'), givenBy], [t('action.method'), method], [t('action.recordedBy'), recordedBy]],
        () => {
          const name = trimmed(recordedBy);
          if (!name || !window.confirm(t('action.withdrawConsentConfirm'))) return undefined;
          // Kept in the outbox when the relay is away; the case layer purges this device's copy once it sends it.
          return queue({
            kind: 'withdraw-consent',
            body: { givenBy: givenBy.value as (typeof CONSENT_GIVERS)[number], method: method.value as (typeof CONSENT_METHODS)[number], recordedBy: { name } },
          })();
        },
      );
    }
    if (actions.includes('add-participant')) {
      // Orgs from the directory not yet in the thread. The consent must cover the one chosen for the purpose;
      // if it does not, the page says why and offers only what the domain allows: a written vital-interest override.
      // An org whose adding waits in the outbox is not offered again.
      const inThread = new Set([
        ...thread.participants.map((p) => p.orgId),
        ...session.outbox.list(threadId).flatMap((i) => (i.kind === 'add-participant' && !i.failed ? [i.body.orgId] : [])),
      ]);
      const candidates = client.trust.listOrgs().filter((o) => !inThread.has(o.orgId));
      if (candidates.length > 0) {
        const org = remember(h('select', { name: 'orgId' }, ...candidates.map((o) => h('option', { value: o.orgId }, `${o.orgId} (${pickLabel('orgType', o.orgType)})`))), 'orgId');
        const purpose = choice('purpose', 'purpose');
        const scopeNote = h('p', { class: 'warning', id: 'add-scope', role: 'status', hidden: true });
        const reason = h('textarea', { name: 'overrideReason', rows: 2 });
        const reasonField = field(t('action.overrideReason'), reason, { hint: t('action.overrideHint') });
        reasonField.wrap.id = 'override-reason';
        const decide = (): AddDecision => {
          const picked = candidates.find((o) => o.orgId === org.value);
          if (!picked) return { covered: true };
          return addParticipantDecision(thread.referral?.consent, { orgId: picked.orgId, orgType: picked.orgType as OrgTypeName }, purpose.value as Purpose, Date.now(), thread.consentWithdrawal !== null);
        };
        const show = () => {
          const d = decide();
          scopeNote.hidden = d.covered;
          reasonField.wrap.hidden = d.covered || !d.overridable;
          if (!d.covered) {
            const reasons = d.violations.map((v) => tDynamic(`scope.${v}`, humanize(v))).join('; ');
            scopeNote.textContent = d.overridable ? t('action.notCovered', { reasons }) : t('action.notCoveredFinal', { reasons });
          }
        };
        on(org, 'change', show);
        on(purpose, 'change', show);
        if (reasonMissing) reasonField.error.textContent = t('action.overrideRequired');
        form('add-participant', t('action.addParticipant'), [], () => {
          const d = decide();
          if (d.covered) {
            reasonMissing = false;
            return queue({ kind: 'add-participant', body: { orgId: org.value, purpose: purpose.value as Purpose } })();
          }
          if (!d.overridable) return undefined;
          const written = trimmed(reason);
          reasonMissing = !written;
          if (!written) {
            reasonField.error.textContent = t('action.overrideRequired');
            reason.focus();
            return undefined;
          }
          reasonField.error.textContent = '';
          // The written reason goes with the queued item: the case layer checks the consent again when it sends it.
          return queue({ kind: 'add-participant', body: { orgId: org.value, purpose: purpose.value as Purpose, overrideReason: written } })();
        });
        const addForm = actionBox.querySelector<HTMLFormElement>('form#action-add-participant');
        addForm?.prepend(field(t('action.org'), org).wrap, field(t('action.purpose'), purpose).wrap, scopeNote, reasonField.wrap);
        show();
      }
    }
    if (actions.includes('return-step')) {
      const step = choice('step', 'returnStep');
      const status = choice('status', 'stepStatus');
      const decision = remember(h('select', { name: 'decision' }, h('option', { value: '' }, '—'), ...RISK_DECISIONS.map((v) => h('option', { value: v }, pickLabel('riskDecision', v)))), 'decision');
      const note = h('input', { type: 'text', name: 'note', autocomplete: 'off' });
      const date = h('input', { type: 'date', name: 'date' });
      form(
        'return-step',
        t('action.returnStep'),
        [[t('action.step'), step], [t('action.stepStatus'), status], [t('action.decision'), decision], [t('action.stepDate'), date], [t('action.noteText'), note]],
        () => {
          const n = trimmed(note);
          const d = decision.value as (typeof RISK_DECISIONS)[number] | '';
          // A day picked in the reader's own time zone (midday, so no zone moves it to another day).
          const day = date.value ? new Date(`${date.value}T12:00:00`).getTime() : Number.NaN;
          return queue({
            kind: 'return-step',
            body: {
              step: step.value as (typeof RETURN_STEPS)[number],
              status: status.value as (typeof STEP_STATUSES)[number],
              ...(d ? { decision: d } : {}),
              ...(Number.isFinite(day) ? { date: day } : {}),
              ...(n ? { note: n } : {}),
            },
          })();
        },
      );
    }
    // Said while what the last action left in the outbox still waits (every re-render until then).
    if (queuedNote && session.outbox.list(threadId).some((i) => !i.failed)) result.textContent = t('outbox.queued');
    if (actionError) {
      result.className = 'error';
      result.textContent = actionError;
    }
    actionBox.appendChild(result);
    root.appendChild(actionBox);

    const timeline = h('ol', { class: 'timeline', id: 'timeline' });
    const overrides = new Map(thread.overrides.map((o) => [o.id, o]));
    for (const entry of thread.timeline) {
      const detail = eventDetail(events.get(entry.id));
      // An out-of-consent disclosure is shown as such, with its written reason, to every participant.
      const override = overrides.get(entry.id);
      timeline.appendChild(
        h(
          'li',
          { 'data-type': entry.type, class: override ? 'override' : undefined },
          h('strong', {}, tDynamic(`event.${entry.type}`)),
          ` — ${entry.author.orgId}, ${formatDateTime(entry.at)}`,
          detail ? h('p', { class: 'event-detail' }, detail) : null,
          override ? h('p', { class: 'warning override-reason' }, t('thread.override', { org: override.recipient.orgId, reason: override.reason })) : null,
        ),
      );
    }
    if (thread.returnPath.steps.length > 0 || actions.includes('return-step')) root.append(h('h2', {}, t('thread.returnPath')), returnPathList(thread.returnPath));
    root.append(h('h2', {}, t('thread.timeline')), timeline);
    // What this device sent that the relay has not taken yet: "sending…" until it has, after a reload too.
    const waiting = session.outbox.list(threadId);
    if (waiting.length > 0) {
      const list = h('ol', { id: 'pending', class: 'timeline pending' });
      const keyChanges = session.client.trust.pendingKeyChanges();
      for (const item of waiting) list.appendChild(pendingItem(session.outbox.stateOf(item), item, keyChanges, () => void session.outbox.discard(item.id)));
      root.append(h('h2', {}, t('outbox.inThread')), list);
    }
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

/** Why a message could not be used at all, in words (one per reason the case layer gives: the compiler checks). */
const DROP_REASON: Record<DropReason, MessageKey> = {
  'forged-author': 'drop.forged-author',
  'wrong-thread': 'drop.wrong-thread',
  malformed: 'drop.malformed',
  'forged-supplement': 'drop.forged-supplement',
  'unmatched-supplement': 'drop.unmatched-supplement',
  'time-mismatch': 'drop.time-mismatch',
};

/** Why the thread refused a signed event, in words (one per reason the case layer gives: the compiler checks). */
const REFUSE_REASON: Record<RejectReason, MessageKey> = {
  'wrong-party': 'refuse.wrong-party',
  'invalid-transition': 'refuse.invalid-transition',
  duplicate: 'refuse.duplicate',
  'consent-scope': 'refuse.consent-scope',
  'wrong-thread': 'refuse.wrong-thread',
  'no-referral': 'refuse.no-referral',
  'thread-mismatch': 'refuse.thread-mismatch',
  'org-type-mismatch': 'refuse.org-type-mismatch',
  'uncertified-org': 'refuse.uncertified-org',
};

/** One refused event as a line: who signed what, when (the event's own signed time), and why the case refuses it. */
export function refusedLine(r: RejectedEvent): string {
  return t('thread.refused', {
    org: r.author.orgId,
    device: r.author.deviceId,
    event: tDynamic(`event.${r.type}`, humanize(r.type)),
    time: formatDateTime(r.at),
    reason: t(REFUSE_REASON[r.reason]),
  });
}
