/** Named workflow steps for the state tests: each appends one event with the usual author. */
import type { EventAuthor, ThreadEvent } from '../../../../client/referral/domain/schemas';
import { NGO, SHELTER_A, T0, type ThreadBuilder, b64uDigest } from './fixtures';

export type StepName =
  | 'ack'
  | 'requestInfo'
  | 'provideInfo'
  | 'accept'
  | 'decline'
  | 'schedule'
  | 'arrived'
  | 'noShow'
  | 'start'
  | 'complete'
  | 'withdraw'
  | 'close'
  | 'consentWithdraw'
  | 'note';

function lastRequestId(b: ThreadBuilder): string {
  const requests = b.events.filter((e) => e.event.type === 'referral.request-info');
  return requests[requests.length - 1]?.id ?? b64uDigest('no request', 32);
}

/** Appends the step; `author` replaces its usual author. */
export function step(b: ThreadBuilder, name: StepName, author?: EventAuthor): ThreadEvent {
  const shelter = author ?? SHELTER_A;
  const sender = author ?? NGO;
  switch (name) {
    case 'ack':
      return b.add('referral.acknowledge', shelter, { note: 'Received, checking beds' });
    case 'requestInfo':
      return b.add('referral.request-info', shelter, { fieldGroups: ['healthNeeds'], questions: 'Does the hand injury need surgery?' });
    case 'provideInfo':
      return b.add('referral.provide-info', sender, { inReplyTo: lastRequestId(b), details: 'A clinic dressed it; no surgery.' });
    case 'accept':
      return b.add('referral.accept', shelter, { bedReserved: true });
    case 'decline':
      return b.add('referral.decline', shelter, { reasonCode: 'no-capacity', suggestedOrgId: 'shelter-ank' });
    case 'schedule':
      return b.add('intake.schedule', shelter, { scheduledFor: T0 + 86_400_000, location: 'Consulate entrance' });
    case 'arrived':
      return b.add('intake.arrived', shelter, {});
    case 'noShow':
      return b.add('intake.no-show', shelter, { note: 'Not at the pick-up point' });
    case 'start':
      return b.add('service.start', shelter, {});
    case 'complete':
      return b.add('service.complete', shelter, { note: 'Moved on to the return programme' });
    case 'withdraw':
      return b.add('referral.withdraw', sender, { reasonCode: 'referred-elsewhere' });
    case 'close':
      return b.add('case.close', sender, { reasonForCaseClosure: 'Survivor returned home' });
    case 'consentWithdraw':
      return b.add('consent.withdraw', author ?? SHELTER_A, { givenBy: 'survivor', method: 'verbal', recordedBy: { name: 'Elif Demir' } });
    case 'note':
      return b.add('note', author ?? NGO, { text: 'Called the family; they are safe.' });
  }
}
