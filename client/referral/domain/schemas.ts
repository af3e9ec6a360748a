/**
 * Schemas of everything the referral workflow puts inside an encrypted
 * message body: the referral itself and every event of a case thread.
 *
 * Every object is strict (unknown keys, `__proto__` included, are refused),
 * every string and array is capped, pick-lists are closed enums. A client
 * parses a decrypted body with `EventEnvelope` before anything else reads it.
 */
import { z } from 'zod';
import { CountryCode, DeviceId, Hash32, Id, MessageId, OrgType, Timestamp, b64uBytes } from '../../../shared';
import {
  CONSENT_GIVERS,
  CONSENT_METHODS,
  DECLINE_REASONS,
  DOCUMENT_TYPES,
  FIELD_GROUPS,
  HTCDS_DECISION_MAKING_ORGS,
  HTCDS_EXPLOITATION_TYPES,
  HTCDS_FORCED_LABOUR_INDUSTRIES,
  HTCDS_GENDERS,
  HTCDS_METHODS_OF_CONTROL,
  HTCDS_METHODS_OF_RECRUITMENT,
  HTCDS_REFERRAL_REASONS,
  HTCDS_TRAFFICKING_STATUSES,
  LEGAL_BASES,
  PRIORITIES,
  PURPOSES,
  REFERRAL_KINDS,
  RETURN_STEPS,
  RISK_DECISIONS,
  RISK_LEVELS,
  SERVICES,
  STEP_STATUSES,
  WITHDRAW_REASONS,
} from './picklists';

export const REFERRAL_LIMITS = {
  shortText: 100,
  text: 500,
  longText: 4000,
  maxPrev: 32,
  maxCoordinators: 10,
  maxCoveredOrgs: 50,
  maxWithheldRules: 20,
  maxAttachments: 20,
  maxListItems: 20,
} as const;

// Control characters (other than tab and line breaks) have no place in case
// notes and are a classic way to corrupt exports and terminals.
const NO_CONTROL_CHARS = /^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F]*$/;

function text(max: number) {
  return z.string().min(1).max(max).regex(NO_CONTROL_CHARS, 'control characters are not allowed');
}
export const ShortText = text(REFERRAL_LIMITS.shortText);
export const Text = text(REFERRAL_LIMITS.text);
export const LongText = text(REFERRAL_LIMITS.longText);

/** An array with a cap and no repeated values (pick-list multiselects). */
function uniqueList<T extends z.ZodType>(item: T, max: number = REFERRAL_LIMITS.maxListItems) {
  return z
    .array(item)
    .max(max)
    .refine((list) => new Set(list).size === list.length, 'values must not repeat');
}

/** HTCDS prs_MobilePhone: E.164. */
export const PhoneNumber = z.string().regex(/^\+?[1-9]\d{1,14}$/, 'phone numbers use E.164, e.g. +77015550123');
export const Email = z.email().max(254);
/** A calendar date, `YYYY-MM-DD`, that exists. */
export const CalendarDate = z
  .string()
  .regex(/^\d{4}-\d{2}-\d{2}$/, 'dates use YYYY-MM-DD')
  .refine((value) => {
    const ms = Date.parse(`${value}T00:00:00Z`);
    return Number.isFinite(ms) && new Date(ms).toISOString().startsWith(value);
  }, 'not a calendar date');
/** BCP 47 language tag such as `kk`, `ru`, `uz-Latn`. */
export const LanguageTag = z.string().max(35).regex(/^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$/, 'use a BCP 47 tag, e.g. kk or ru');
/** A code the sender chose for the case; never the survivor's name. */
export const CaseCode = z.string().min(3).max(40).regex(/^[A-Za-z0-9][A-Za-z0-9_\-/.]*$/, 'letters, digits and - _ / .');

export const Priority = z.enum(PRIORITIES);
export type Priority = z.infer<typeof Priority>;
export const Purpose = z.enum(PURPOSES);
export type Purpose = z.infer<typeof Purpose>;
export const FieldGroup = z.enum(FIELD_GROUPS);
export type FieldGroup = z.infer<typeof FieldGroup>;

/** `ngo` | `iom` | `shelter` | `authority` */
export type OrgTypeName = z.infer<typeof OrgType>;

export const OrgRef = z.strictObject({ orgId: Id, orgType: OrgType });
export type OrgRef = z.infer<typeof OrgRef>;

// --- The referral body, group by group (docs/DOMAIN.md) ---

export const CaseWorker = z.strictObject({
  name: ShortText,
  title: ShortText.optional(),
  mobilePhone: PhoneNumber.optional(),
  email: Email.optional(),
});

export const ReferralHeader = z.strictObject({
  kind: z.enum(REFERRAL_KINDS),
  priority: Priority,
  /** The purpose the consent must cover for this referral. */
  purpose: Purpose,
  servicesRequested: uniqueList(z.enum(SERVICES)).min(1),
  /** HTCDS cas_ReasonForOutgoingReferral */
  reasonForReferral: z.enum(HTCDS_REFERRAL_REASONS),
  /** HTCDS cas_OutgoingReferralDetails */
  referralDetails: LongText.optional(),
  /** HTCDS cas_ReferringPrimaryCaseWorker */
  referringPrimaryCaseWorker: CaseWorker,
  senderCaseReference: ShortText,
  /** HTCDS cas_ReferredOrganisation: the org asked to act. */
  referredOrganisation: OrgRef,
  /** Further orgs in the thread from the start (e.g. IOM coordinating a return). */
  coordinators: z.array(OrgRef).max(REFERRAL_LIMITS.maxCoordinators),
});

export const AgeRange = z
  .strictObject({ min: z.number().int().min(0).max(120), max: z.number().int().min(0).max(120) })
  .refine((r) => r.min <= r.max, 'age range min must not exceed max');

export const IdentityDocument = z.strictObject({
  documentType: z.enum(DOCUMENT_TYPES),
  number: z.string().min(1).max(40).regex(/^[A-Za-z0-9][A-Za-z0-9 \-/]*$/, 'document numbers use letters, digits, space, - and /'),
  issuingCountry: CountryCode.optional(),
});

export const Location = z.strictObject({
  country: CountryCode,
  region: ShortText.optional(),
  city: ShortText.optional(),
  detail: Text.optional(),
});

export const Identity = z.strictObject({
  caseCode: CaseCode,
  /** HTCDS prs_FirstName (legal name: only when the purpose needs it). */
  firstName: ShortText.optional(),
  /** HTCDS prs_SecondName */
  secondName: ShortText.optional(),
  /** HTCDS prs_Birthdate */
  birthdate: CalendarDate.optional(),
  ageRange: AgeRange.optional(),
  /** HTCDS prs_Gender */
  gender: z.enum(HTCDS_GENDERS).optional(),
  /** HTCDS prs_Citizenship (ISO 3166 alpha-2, multiselect) */
  citizenship: uniqueList(CountryCode, 5).optional(),
  languages: uniqueList(LanguageTag, 10).optional(),
  identityDocuments: z.array(IdentityDocument).max(10).optional(),
  /** HTCDS prs_MobilePhone */
  mobilePhone: PhoneNumber.optional(),
  currentLocation: Location.optional(),
});
export type Identity = z.infer<typeof Identity>;

export const ChildGuardian = z.strictObject({
  isChild: z.boolean(),
  unaccompanied: z.boolean(),
  separated: z.boolean(),
  caregiverName: ShortText.optional(),
  caregiverRelation: ShortText.optional(),
  caregiverInformed: z.boolean(),
});

export const TraffickingContext = z.strictObject({
  /** HTCDS vic_TraffickingStatus */
  traffickingStatus: z.enum(HTCDS_TRAFFICKING_STATUSES),
  /** HTCDS vic_TraffickingStatusDecisionMakingOrg */
  traffickingStatusDecisionMakingOrg: z.enum(HTCDS_DECISION_MAKING_ORGS).optional(),
  /** HTCDS vic_TypeOfExploitation */
  typeOfExploitation: uniqueList(z.enum(HTCDS_EXPLOITATION_TYPES)).min(1),
  /** HTCDS vic_ForcedLabourIndustry */
  forcedLabourIndustry: z.enum(HTCDS_FORCED_LABOUR_INDUSTRIES).optional(),
  /** HTCDS vic_MethodsOfControl */
  methodsOfControl: uniqueList(z.enum(HTCDS_METHODS_OF_CONTROL)).optional(),
  /** HTCDS vic_MethodOfRecruitment */
  methodOfRecruitment: uniqueList(z.enum(HTCDS_METHODS_OF_RECRUITMENT)).optional(),
  recruitmentDetails: LongText.optional(),
  countryOfExploitation: CountryCode.optional(),
});

export const SafetyInstructions = z.strictObject({
  whoMayVisit: Text.optional(),
  codeWord: ShortText.optional(),
  transport: Text.optional(),
  other: Text.optional(),
});

export const RiskSafety = z.strictObject({
  riskLevel: z.enum(RISK_LEVELS),
  /** A life-threatening risk is shared with every recipient, whatever consent withholds. */
  lifeThreatening: z.boolean(),
  retaliationRisk: z.boolean(),
  reTraffickingRisk: z.boolean(),
  safetyInstructions: SafetyInstructions.optional(),
});

export const HealthNeeds = z.strictObject({
  immediateMedicalNeeds: Text.optional(),
  disability: Text.optional(),
  medication: Text.optional(),
  fitToTravel: z.enum(['yes', 'no', 'unknown']).optional(),
  otherNeeds: Text.optional(),
});

/**
 * Who the withheld groups are hidden from: the listed orgs and org types.
 * A rule that lists neither applies to every recipient.
 */
export const WithheldRule = z.strictObject({
  fieldGroups: uniqueList(FieldGroup).min(1),
  fromOrgIds: uniqueList(Id, REFERRAL_LIMITS.maxCoveredOrgs).optional(),
  fromOrgTypes: uniqueList(OrgType, 4).optional(),
});
export type WithheldRule = z.infer<typeof WithheldRule>;

export const ConsentRecord = z
  .strictObject({
    givenBy: z.enum(CONSENT_GIVERS),
    method: z.enum(CONSENT_METHODS),
    /** Attachment id of the encrypted scan of a written consent. */
    scanAttachmentId: Id.optional(),
    givenAt: Timestamp,
    recordedBy: CaseWorker,
    purposes: uniqueList(Purpose, PURPOSES.length).min(1),
    coveredOrgIds: uniqueList(Id, REFERRAL_LIMITS.maxCoveredOrgs),
    coveredOrgTypes: uniqueList(OrgType, 4),
    withheld: z.array(WithheldRule).max(REFERRAL_LIMITS.maxWithheldRules),
    expiresAt: Timestamp,
    legalBasis: z.enum(LEGAL_BASES),
  })
  .refine((c) => c.coveredOrgIds.length + c.coveredOrgTypes.length > 0, 'consent must cover at least one org or org type')
  .refine((c) => c.expiresAt > c.givenAt, 'consent must expire after it was given');
export type ConsentRecord = z.infer<typeof ConsentRecord>;

/** An encrypted file: the ciphertext travels separately; its key travels here. */
export const AttachmentRef = z.strictObject({
  attachmentId: Id,
  mediaType: z.string().max(100).regex(/^[a-z]+\/[a-z0-9.+-]+$/, 'a media type such as application/pdf'),
  size: z.number().int().min(1).max(64 * 1024 * 1024),
  ciphertextHash: Hash32,
  /** The file's 32-byte content key. */
  key: b64uBytes(32),
  description: ShortText.optional(),
  /** The group this file belongs to, so withholding that group withholds the file too. */
  relatesTo: FieldGroup.optional(),
});
export type AttachmentRef = z.infer<typeof AttachmentRef>;

/** The groups that can be sent again later (`referral.provide-info`). */
export const ReferralData = z.strictObject({
  identity: Identity.optional(),
  childGuardian: ChildGuardian.optional(),
  traffickingContext: TraffickingContext.optional(),
  riskSafety: RiskSafety.optional(),
  healthNeeds: HealthNeeds.optional(),
  attachments: z.array(AttachmentRef).max(REFERRAL_LIMITS.maxAttachments).optional(),
});
export type ReferralData = z.infer<typeof ReferralData>;

export const ReferralBody = z.strictObject({
  header: ReferralHeader,
  identity: Identity,
  childGuardian: ChildGuardian.optional(),
  traffickingContext: TraffickingContext.optional(),
  riskSafety: RiskSafety.optional(),
  healthNeeds: HealthNeeds.optional(),
  consent: ConsentRecord,
  attachments: z.array(AttachmentRef).max(REFERRAL_LIMITS.maxAttachments).optional(),
});
export type ReferralBody = z.infer<typeof ReferralBody>;

// --- Bodies of the other events ---

const OptionalNote = z.strictObject({ note: Text.optional() });

export const AcknowledgeBody = z.strictObject({ note: Text.optional(), expectedDecisionBy: Timestamp.optional() });
export const RequestInfoBody = z.strictObject({
  fieldGroups: uniqueList(FieldGroup).optional(),
  questions: LongText,
});
export const ProvideInfoBody = z.strictObject({
  /** Id (hash) of the `referral.request-info` event this answers. */
  inReplyTo: Hash32,
  details: LongText.optional(),
  data: ReferralData.optional(),
});
export const AcceptBody = z.strictObject({ note: Text.optional(), bedReserved: z.boolean().optional() });
export const DeclineBody = z
  .strictObject({
    reasonCode: z.enum(DECLINE_REASONS),
    details: LongText.optional(),
    suggestedOrgId: Id.optional(),
  })
  .refine((d) => d.reasonCode !== 'other' || d.details !== undefined, 'a decline for "other" reasons needs details');
export type DeclineBody = z.infer<typeof DeclineBody>;
export const IntakeScheduleBody = z.strictObject({
  scheduledFor: Timestamp,
  location: Text.optional(),
  transport: Text.optional(),
  note: Text.optional(),
});
export type IntakeScheduleBody = z.infer<typeof IntakeScheduleBody>;
export const WithdrawBody = z.strictObject({ reasonCode: z.enum(WITHDRAW_REASONS), details: LongText.optional() });
export const NoteBody = z.strictObject({ text: LongText });
export const ParticipantAddBody = z.strictObject({
  orgId: Id,
  orgType: OrgType,
  /** The purpose the new org joins for; the consent must cover it. */
  purpose: Purpose,
  /** Vital-interest override of the consent scope: a written reason, visible to all. */
  consentOverrideReason: Text.optional(),
});
export const ReturnStepBody = z
  .strictObject({
    step: z.enum(RETURN_STEPS),
    status: z.enum(STEP_STATUSES),
    responsibleOrgId: Id,
    date: Timestamp.optional(),
    note: Text.optional(),
    /** Only on `risk-assessment`; required once it is done. */
    decision: z.enum(RISK_DECISIONS).optional(),
  })
  .refine((s) => s.step === 'risk-assessment' || s.decision === undefined, 'only a risk assessment carries go / no-go')
  .refine((s) => s.step !== 'risk-assessment' || s.status !== 'done' || s.decision !== undefined, 'a done risk assessment needs go or no-go');
export type ReturnStepBody = z.infer<typeof ReturnStepBody>;
export const ConsentWithdrawBody = z.strictObject({
  givenBy: z.enum(CONSENT_GIVERS),
  method: z.enum(CONSENT_METHODS),
  recordedBy: CaseWorker,
  note: Text.optional(),
});
export const PurgeReceiptBody = z.strictObject({
  /** Id (hash) of the `consent.withdraw` event acted on. */
  withdrawalId: Hash32,
  itemsDeleted: z.number().int().min(0).max(1_000_000),
});
export const CaseCloseBody = z.strictObject({
  /** HTCDS cas_ReasonForCaseClosure */
  reasonForCaseClosure: LongText,
});
export const ConsentOverrideBody = z.strictObject({
  recipient: OrgRef,
  purpose: Purpose,
  fieldGroups: uniqueList(FieldGroup),
  reason: Text,
});

// --- The event envelope ---

export const EventAuthor = z.strictObject({ deviceId: DeviceId, orgId: Id, orgType: OrgType });
export type EventAuthor = z.infer<typeof EventAuthor>;

const EnvelopeFields = {
  /** Random id the author gives the event (128 bits, base64url); a repeat is a duplicate. */
  eventId: MessageId,
  threadId: MessageId,
  /** Hashes of the latest events the author had seen (computed by the caller). */
  prev: uniqueList(Hash32, REFERRAL_LIMITS.maxPrev),
  author: EventAuthor,
  /** Author's clock, ms since the epoch. */
  at: Timestamp,
};

function event<T extends string, B extends z.ZodType>(type: T, body: B) {
  return z.strictObject({ type: z.literal(type), ...EnvelopeFields, body });
}

export const EventEnvelope = z.discriminatedUnion('type', [
  event('referral.create', ReferralBody),
  event('referral.acknowledge', AcknowledgeBody),
  event('referral.request-info', RequestInfoBody),
  event('referral.provide-info', ProvideInfoBody),
  event('referral.accept', AcceptBody),
  event('referral.decline', DeclineBody),
  event('intake.schedule', IntakeScheduleBody),
  event('intake.arrived', OptionalNote),
  event('intake.no-show', OptionalNote),
  event('service.start', OptionalNote),
  event('service.complete', OptionalNote),
  event('referral.withdraw', WithdrawBody),
  event('note', NoteBody),
  event('participant.add', ParticipantAddBody),
  event('return.step', ReturnStepBody),
  event('consent.override', ConsentOverrideBody),
  event('consent.withdraw', ConsentWithdrawBody),
  event('purge.receipt', PurgeReceiptBody),
  event('case.close', CaseCloseBody),
]);
export type EventEnvelope = z.infer<typeof EventEnvelope>;
export type EventType = EventEnvelope['type'];
export type EventOf<T extends EventType> = Extract<EventEnvelope, { type: T }>;

/** An event as the state machine receives it: with its hash, computed by the caller. */
export const ThreadEvent = z.strictObject({ id: Hash32, event: EventEnvelope });
export type ThreadEvent = z.infer<typeof ThreadEvent>;
