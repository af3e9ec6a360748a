/**
 * The IOM return path (docs/DOMAIN.md): which step updates are allowed, and the
 * path's state after one. Work on several steps can run in parallel, so
 * `pending`, `in-progress` and `blocked` may be set at any time; the order
 * binds when a step is marked `done`, and departure is gated by the risk
 * assessment:
 * - a step is `done` only after every earlier step is `done`;
 * - departure and everything after it move only after a risk assessment
 *   that is done with `go` (a later re-assessment to `no-go` stops it again);
 * - `not-departed` ends the journey: nothing after departure moves then;
 * - the path's own `closed` step comes after `monitoring` or `not-departed`,
 *   and nothing changes once it is done.
 */
import { RETURN_STEPS, type ReturnStep, type StepStatus } from './picklists';
import type { ReturnStepBody } from './schemas';

export interface ReturnStepState {
  step: ReturnStep;
  status: StepStatus;
  responsibleOrgId: string;
  date?: number;
  note?: string;
  decision?: 'go' | 'no-go';
  /** Hash of the event that set this status. */
  eventId: string;
  updatedAt: number;
}

export interface ReturnPathState {
  /** Recorded steps, in path order. */
  steps: ReturnStepState[];
  /** Risk assessment done with `go`, the survivor not marked not-departed, path not closed. */
  departureAllowed: boolean;
  closed: boolean;
}

const MAIN_PATH: readonly ReturnStep[] = RETURN_STEPS.filter((s) => s !== 'not-departed' && s !== 'closed');
const FROM_DEPARTURE = MAIN_PATH.slice(MAIN_PATH.indexOf('departure-confirmed'));

export const EMPTY_RETURN_PATH: ReturnPathState = { steps: [], departureAllowed: false, closed: false };

function isDone(path: ReturnPathState, step: ReturnStep): boolean {
  return path.steps.some((s) => s.step === step && s.status === 'done');
}

function riskGo(path: ReturnPathState): boolean {
  return path.steps.some((s) => s.step === 'risk-assessment' && s.status === 'done' && s.decision === 'go');
}

/** Why this update is not allowed now, or null when it is. */
export function returnStepProblem(path: ReturnPathState, update: ReturnStepBody): string | null {
  if (path.closed) return 'the return path is closed';
  const moving = update.status === 'in-progress' || update.status === 'done';
  if (FROM_DEPARTURE.includes(update.step) && moving) {
    if (isDone(path, 'not-departed')) return 'the survivor did not depart';
    if (!riskGo(path)) return `${update.step} needs a risk assessment done with "go" first`;
  }
  if (update.step === 'risk-assessment' && isDone(path, 'departure-confirmed')) {
    return 'the risk assessment cannot change after departure';
  }
  if (update.status !== 'done') return null;
  if (update.step === 'not-departed') {
    if (!isDone(path, 'return-requested')) return 'not-departed needs a return request first';
    if (isDone(path, 'departure-confirmed')) return 'departure is already confirmed';
    return null;
  }
  if (update.step === 'closed') {
    return isDone(path, 'monitoring') || isDone(path, 'not-departed') ? null : 'closing the return path needs monitoring or not-departed done';
  }
  const earlier = MAIN_PATH.slice(0, MAIN_PATH.indexOf(update.step));
  const open = earlier.filter((step) => !isDone(path, step));
  return open.length === 0 ? null : `${update.step} cannot be done before ${open.join(', ')}`;
}

export function applyReturnStep(path: ReturnPathState, update: ReturnStepBody, eventId: string, at: number): ReturnPathState {
  const entry: ReturnStepState = { step: update.step, status: update.status, responsibleOrgId: update.responsibleOrgId, eventId, updatedAt: at };
  if (update.date !== undefined) entry.date = update.date;
  if (update.note !== undefined) entry.note = update.note;
  if (update.decision !== undefined) entry.decision = update.decision;
  const steps = [...path.steps.filter((s) => s.step !== update.step), entry].sort(
    (a, b) => RETURN_STEPS.indexOf(a.step) - RETURN_STEPS.indexOf(b.step),
  );
  const next: ReturnPathState = { steps, departureAllowed: false, closed: false };
  next.closed = isDone(next, 'closed');
  next.departureAllowed = riskGo(next) && !isDone(next, 'not-departed') && !next.closed;
  return next;
}
