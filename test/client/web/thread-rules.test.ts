/**
 * The thread view's rules, without a browser: adding an org the consent
 * does not cover (the domain's own check decides; a withdrawal cannot be
 * overridden), and the return path as an ordered list of steps.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { ReferralBody, ReturnPathState } from '../../../client/referral';
import { addParticipantDecision, returnRows } from '../../../client/web/src/thread';

const example = JSON.parse(readFileSync(path.join(__dirname, '../../../examples/referral.json'), 'utf8')) as ReferralBody;
const now = example.consent.givenAt + 1000;

it('adds a covered org plainly, offers a written override for one the consent does not cover, and none after a withdrawal', () => {
  const consent = example.consent;
  expect(addParticipantDecision(consent, { orgId: 'iom-ist', orgType: 'iom' }, 'return', now)).toEqual({ covered: true });
  expect(addParticipantDecision(consent, { orgId: 'police-ist', orgType: 'authority' }, 'return', now)).toEqual({ covered: false, violations: ['org-not-covered'], overridable: true });
  expect(addParticipantDecision(consent, { orgId: 'iom-ist', orgType: 'iom' }, 'legal', now)).toMatchObject({ covered: false, overridable: true });
  expect(addParticipantDecision(consent, { orgId: 'iom-ist', orgType: 'iom' }, 'return', consent.expiresAt + 1)).toEqual({ covered: false, violations: ['expired'], overridable: true });
  expect(addParticipantDecision(consent, { orgId: 'police-ist', orgType: 'authority' }, 'return', now, true)).toMatchObject({ covered: false, overridable: false });
  expect(addParticipantDecision(undefined, { orgId: 'x', orgType: 'ngo' }, 'return', now)).toEqual({ covered: true });
});

it('lists the return path in its order, recorded steps with status, the rest not started', () => {
  const path: ReturnPathState = {
    steps: [
      { step: 'return-requested', status: 'done', responsibleOrgId: 'iom-ist', eventId: 'a', updatedAt: 10 },
      { step: 'risk-assessment', status: 'done', decision: 'go', responsibleOrgId: 'iom-ist', eventId: 'b', updatedAt: 30, date: 25, note: 'ok' },
    ],
    departureAllowed: true,
    closed: false,
  };
  const rows = returnRows(path);
  expect(rows.map((r) => r.step)).toEqual(['return-requested', 'receipt-confirmed', 'risk-assessment', 'family-assessment', 'travel-documents', 'fit-to-travel', 'departure-confirmed', 'arrival-confirmed', 'reintegration-plan', 'monitoring', 'closed']);
  expect(rows[0]).toEqual({ step: 'return-requested', status: 'done', responsibleOrgId: 'iom-ist', updatedAt: 10 });
  expect(rows[1]).toEqual({ step: 'receipt-confirmed', status: 'not-started' });
  expect(rows[2]).toMatchObject({ status: 'done', decision: 'go', date: 25, note: 'ok' });
  // Not departed shows only when recorded, in its place after departure.
  const stopped = returnRows({ ...path, steps: [...path.steps, { step: 'not-departed', status: 'done', responsibleOrgId: 'iom-ist', eventId: 'c', updatedAt: 40 }] });
  expect(stopped.map((r) => r.step).indexOf('not-departed')).toBe(stopped.map((r) => r.step).indexOf('departure-confirmed') + 1);
});
