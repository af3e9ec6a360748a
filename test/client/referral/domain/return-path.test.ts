import { RETURN_STEPS } from '../../../../client/referral/domain/picklists';
import { EMPTY_RETURN_PATH, applyReturnStep, returnStepProblem, type ReturnPathState } from '../../../../client/referral/domain/return-path';
import type { ReturnStepBody } from '../../../../client/referral/domain/schemas';
import { deriveThreadState } from '../../../../client/referral/domain/state';
import { IOM, T0, ThreadBuilder, at } from './fixtures';

type Update = Omit<ReturnStepBody, 'responsibleOrgId'>;

/** Applies updates in order; throws on the first refused one, naming it. */
function walk(updates: Update[], start: ReturnPathState = EMPTY_RETURN_PATH): ReturnPathState {
  let path = start;
  updates.forEach((u, i) => {
    const body = { ...u, responsibleOrgId: 'iom-ist' } as ReturnStepBody;
    const problem = returnStepProblem(path, body);
    if (problem) throw new Error(`update ${i} (${u.step} ${u.status}) refused: ${problem}`);
    path = applyReturnStep(path, body, `ev-${i}`, T0 + i);
  });
  return path;
}

function problemAfter(done: Update[], next: Update): string | null {
  return returnStepProblem(walk(done), { ...next, responsibleOrgId: 'iom-ist' } as ReturnStepBody);
}

const done = (step: Update['step'], decision?: 'go' | 'no-go'): Update => ({ step, status: 'done', ...(decision ? { decision } : {}) });
const UP_TO_RISK = [done('return-requested'), done('receipt-confirmed')];
const BEFORE_DEPARTURE = [...UP_TO_RISK, done('risk-assessment', 'go'), done('family-assessment'), done('travel-documents'), done('fit-to-travel')];

describe('IOM return path order', () => {
  test('the whole path in order is accepted and ends closed', () => {
    const path = walk([...BEFORE_DEPARTURE, done('departure-confirmed'), done('arrival-confirmed'), done('reintegration-plan'), done('monitoring'), done('closed')]);
    expect(path.closed).toBe(true);
    expect(path.departureAllowed).toBe(false);
    expect(path.steps.map((s) => s.step)).toEqual(RETURN_STEPS.filter((s) => s !== 'not-departed'));
  });

  test('no departure before a risk assessment with "go"', () => {
    const withoutAssessment = [...UP_TO_RISK];
    expect(problemAfter(withoutAssessment, { step: 'departure-confirmed', status: 'in-progress' })).toMatch(/risk assessment/);
    expect(problemAfter(withoutAssessment, { step: 'departure-confirmed', status: 'done' })).toMatch(/risk assessment/);
    const noGo = [...UP_TO_RISK, done('risk-assessment', 'no-go'), done('family-assessment'), done('travel-documents'), done('fit-to-travel')];
    expect(problemAfter(noGo, { step: 'departure-confirmed', status: 'done' })).toMatch(/"go"/);
    expect(walk(noGo).departureAllowed).toBe(false);
    expect(problemAfter(BEFORE_DEPARTURE, { step: 'departure-confirmed', status: 'done' })).toBeNull();
    expect(walk(BEFORE_DEPARTURE).departureAllowed).toBe(true);
  });

  test('a re-assessment to "no-go" stops departure again', () => {
    const path = walk([...BEFORE_DEPARTURE, done('risk-assessment', 'no-go')]);
    expect(path.departureAllowed).toBe(false);
    expect(returnStepProblem(path, { step: 'departure-confirmed', status: 'done', responsibleOrgId: 'iom-ist' })).not.toBeNull();
  });

  test('steps after departure also wait for "go", even as in-progress', () => {
    expect(problemAfter(UP_TO_RISK, { step: 'arrival-confirmed', status: 'in-progress' })).toMatch(/risk assessment/);
    expect(problemAfter(UP_TO_RISK, { step: 'monitoring', status: 'pending' })).toBeNull();
  });

  test('a step is done only after every earlier step is done; parallel work may be in progress', () => {
    expect(problemAfter([done('return-requested')], done('travel-documents'))).toMatch(/receipt-confirmed, risk-assessment, family-assessment/);
    expect(problemAfter([done('return-requested')], { step: 'travel-documents', status: 'in-progress' })).toBeNull();
    expect(problemAfter([done('return-requested')], { step: 'family-assessment', status: 'blocked' })).toBeNull();
  });

  test('not-departed ends the journey', () => {
    const path = walk([...UP_TO_RISK, done('risk-assessment', 'go'), done('not-departed')]);
    expect(path.departureAllowed).toBe(false);
    expect(problemAfter([...BEFORE_DEPARTURE, done('not-departed')], done('departure-confirmed'))).toMatch(/did not depart/);
    expect(problemAfter([...UP_TO_RISK, done('not-departed')], done('closed'))).toBeNull();
    expect(problemAfter([], done('not-departed'))).toMatch(/return request/);
    expect(problemAfter([...BEFORE_DEPARTURE, done('departure-confirmed')], done('not-departed'))).toMatch(/already confirmed/);
  });

  test('the risk assessment cannot be rewritten after departure', () => {
    expect(problemAfter([...BEFORE_DEPARTURE, done('departure-confirmed')], done('risk-assessment', 'no-go'))).toMatch(/after departure/);
  });

  test('closing needs monitoring (or not-departed), and nothing changes after it', () => {
    expect(problemAfter(BEFORE_DEPARTURE, done('closed'))).toMatch(/monitoring/);
    const closed = walk([...UP_TO_RISK, done('not-departed'), done('closed')]);
    expect(returnStepProblem(closed, { step: 'monitoring', status: 'pending', responsibleOrgId: 'iom-ist' })).toMatch(/closed/);
  });

  test('a later update of a step replaces the earlier one and keeps path order', () => {
    const path = walk([done('return-requested'), { step: 'family-assessment', status: 'pending' }, { step: 'receipt-confirmed', status: 'in-progress' }, { step: 'family-assessment', status: 'blocked', note: 'Family unreachable' }]);
    expect(path.steps.map((s) => [s.step, s.status])).toEqual([
      ['return-requested', 'done'],
      ['receipt-confirmed', 'in-progress'],
      ['family-assessment', 'blocked'],
    ]);
    expect(path.steps[2]?.note).toBe('Family unreachable');
  });

  test('in a thread, a departure before "go" is rejected and visible', () => {
    const b = new ThreadBuilder();
    b.create();
    const ok = b.add('return.step', IOM, { step: 'return-requested', status: 'done', responsibleOrgId: 'iom-ist' });
    const early = b.add('return.step', IOM, { step: 'departure-confirmed', status: 'done', responsibleOrgId: 'iom-kz', date: T0 });
    const state = deriveThreadState(b.events, at(T0));
    expect(state.timeline.some((t) => t.id === ok.id)).toBe(true);
    expect(state.rejected).toEqual([expect.objectContaining({ id: early.id, code: 'INVALID_EVENT', reason: 'invalid-transition' })]);
    expect(state.returnPath.steps.map((s) => s.step)).toEqual(['return-requested']);
  });
});
