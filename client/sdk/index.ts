/**
 * The SDK: everything an app (the CLI, the demo, the web app) needs to be
 * one staff device or an org or network admin, and nothing else. Apps
 * import this file (and, in Node, `./node`) — never `shared/` or the SDK's
 * inner files. The one crypto instance an app makes (`loadCrypto` here,
 * `loadNodeCrypto` in `./node`) is passed to every SDK object and reused by
 * the case layer through the client.
 */
export { type BackgroundProblem, HandoverClient, type ClientOptions, type SendInput, ONE_TIME_PREKEY_BATCH, SIGNED_PREKEY_ROTATION_MS } from './client';
export { AdminKeys, type DeviceRequestView, fingerprintDigits } from './admin';
export { type CertificateRole, type CertificateStanding, type CertificateState, EXPIRY_WARNING_DAYS, certificateStandings, deviceDependencies, needingAction, standingOf } from './certificate-status';
export { CLOCKS_AGREE_MS, checkNotFutureDated, clockOffsetText, explainClockError, isClockError, relayClockOffset, spanText } from './clock';
export { type DeviceRenewalRequest, type OrgRenewalRequest, deviceRenewalRequest } from './renewal';
export { RelayApi } from './relay-api';
export { Vault } from './vault';
export { type KeyValueStorage, MemoryStorage } from './storage';
export { type FailedMessage, type OriginalEnvelope, type StoredMessage } from './messages';
export { type BackupContents, type BackupSummary, readBackup, restoreVault, sealBackup, writeBackup } from './backup';
export { type DeliveryEntry, type OrgDelivery, byOrg } from './delivery';
export { type ReadReceipt, MAX_READ_PER_RECEIPT } from './receipts';
export { SerialQueue } from './serial-queue';
export type { HistoryProgress } from './history-share';
export type { KnownDevice, OrgKeyChange, OrgPin, TrustStore } from './trust';
export { keyFingerprint, isKeyText } from './keys';

export {
  DAY_MS,
  DEVICE_ROLES,
  HandoverError,
  ORG_TYPES,
  PWHASH_INTERACTIVE,
  PWHASH_MODERATE,
  PWHASH_TEST_ONLY,
  isHandoverError,
  loadCrypto,
  type Crypto,
  type DeviceCertificate,
  type EnrolmentRequest,
  type ErrorCode,
  type OrgCertificate,
  type PwhashLimits,
  type Revocation,
} from '../../shared';
