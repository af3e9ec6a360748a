/**
 * `handover certificates`: every certificate this profile depends on, with
 * the days it has left — this device's, its org's and each partner org's
 * (an org admin's profile: its org's) — and whether this device's clock
 * agrees with the relay's. The same warnings, one line each, head
 * `handover inbox` and `handover show` (certificateWarnings).
 */
import type { Command } from 'commander';
import {
  type CertificateStanding,
  EXPIRY_WARNING_DAYS,
  type HandoverClient,
  certificateStandings,
  clockOffsetText,
  deviceDependencies,
  isHandoverError,
  needingAction,
  relayClockOffset,
} from '../../sdk';
import { openAdminKeys } from '../admin/keys';
import { type GlobalOptions, output, serverUrl } from '../context';
import { globalOptions, run } from '../run';
import { openDevice } from './open';

/** A date in this computer's time zone, as people read it. */
export function localDate(ms: number): string {
  const d = new Date(ms);
  const two = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${two(d.getMonth() + 1)}-${two(d.getDate())}`;
}

function whenText(s: CertificateStanding): string {
  if (s.state === 'expired') return `EXPIRED on ${localDate(s.expiresAt)}`;
  return s.daysLeft === 0 ? `expires within a day (${localDate(s.expiresAt)})` : `expires in ${s.daysLeft} day${s.daysLeft === 1 ? '' : 's'}, on ${localDate(s.expiresAt)}`;
}

/** What to do about one certificate that needs action, in one line. */
export function warningLine(s: CertificateStanding): string {
  if (s.state === 'not-yet-valid') {
    return `! The certificate of ${s.id} is dated in the future (issued ${localDate(s.issuedAt)}): a clock is wrong somewhere; see handover certificates.`;
  }
  const when = whenText(s);
  if (s.role === 'this-device') {
    const after = s.state === 'expired' ? ' (it has expired: your admin confirms your fingerprint by phone again)' : '';
    return `! Your device certificate (${s.id}) ${when}: run \`handover device renew --out renewal.json\` and give the file to your org admin${after}.`;
  }
  if (s.role === 'own-org') {
    return `! Your org's certificate (${s.id}) ${when}: your org admin renews it with \`handover org renew\`.`;
  }
  const consequence = s.state === 'expired' ? 'nothing can be sent to it or received from it' : 'after that nothing can be sent to it or received from it';
  return `! The certificate of partner org ${s.id} (${s.name}) ${when}: ${consequence} until its admin renews it.`;
}

/** The warning lines of a staff device (for inbox and show), given the time. */
export function certificateWarnings(client: HandoverClient, now = Date.now()): string[] {
  return needingAction(certificateStandings(deviceDependencies(client), now)).map(warningLine);
}

const ROLE_TEXT: Record<CertificateStanding['role'], string> = {
  'this-device': 'this device',
  'own-org': 'your org',
  'partner-org': 'partner org',
};

const STATE_TEXT: Record<CertificateStanding['state'], string> = {
  valid: '',
  expiring: '  RENEW SOON',
  expired: '  EXPIRED',
  'not-yet-valid': '  NOT VALID YET (check the clocks)',
};

function standingRow(s: CertificateStanding): string {
  const left = s.state === 'expired' ? `expired ${-s.daysLeft} day(s) ago` : `${s.daysLeft} day${s.daysLeft === 1 ? '' : 's'} left`;
  return `  ${ROLE_TEXT[s.role].padEnd(12)} ${s.id.padEnd(24)} ${s.name.slice(0, 28).padEnd(28)} until ${localDate(s.expiresAt)}  ${left}${STATE_TEXT[s.state]}`;
}

interface CertificatesView {
  warnDays: number;
  certificates: CertificateStanding[];
  /** Whether the relay answered now (otherwise: as of the last sign-in). */
  fresh: boolean;
  /** This device's clock minus the relay's, in ms; null when the relay could not be asked. */
  clockOffsetMs: number | null;
}

function certificatesText(v: CertificatesView): string {
  const lines = [`Certificates this profile depends on (warned ${v.warnDays} days before they expire):`];
  if (v.certificates.length === 0) lines.push('  none yet (import or register a certificate first)');
  lines.push(...v.certificates.map(standingRow));
  if (!v.fresh) lines.push('  (the relay could not be reached: partner orgs as of the last sign-in)');
  lines.push(...needingAction(v.certificates).map(warningLine));
  if (v.clockOffsetMs === null) lines.push('Clock: the relay could not be asked for its time.');
  else {
    const off = clockOffsetText(v.clockOffsetMs);
    lines.push(off ? `Clock: ${off}. Certificates and messages are refused beyond 5 minutes: set this computer's clock right (automatic date and time).` : "Clock: agrees with the relay's.");
  }
  return lines.join('\n');
}

/** A staff device's view; null when the profile holds no device (an admin's profile). */
async function deviceView(opts: GlobalOptions): Promise<CertificatesView | null> {
  let client: HandoverClient;
  try {
    client = await openDevice(opts, false);
  } catch (err) {
    if (isHandoverError(err, 'KEYSTORE_CORRUPT') && /incomplete/.test(err.message)) return null;
    throw err;
  }
  const fresh = await client.signIn().then(
    () => true,
    () => false,
  );
  const offset = await relayClockOffset(client.api.baseUrl);
  return { warnDays: EXPIRY_WARNING_DAYS, certificates: certificateStandings(deviceDependencies(client), Date.now()), fresh, clockOffsetMs: offset ?? null };
}

/** An org admin's (or coordinator's) profile: its org certificate, if one was imported. */
async function adminView(opts: GlobalOptions): Promise<CertificatesView> {
  const standing = await (await openAdminKeys(opts)).orgCertificateStanding();
  const offset = await relayClockOffset(serverUrl(opts));
  return { warnDays: EXPIRY_WARNING_DAYS, certificates: standing ? [standing] : [], fresh: true, clockOffsetMs: offset ?? null };
}

export function registerCertificatesCommand(program: Command): void {
  const g = () => globalOptions(program);
  program
    .command('certificates')
    .description(`certificates this profile depends on (its device, its org, partner orgs) with days left; warns ${EXPIRY_WARNING_DAYS} days ahead; checks the clock`)
    .action(
      run(program, async () => {
        const view = (await deviceView(g())) ?? (await adminView(g()));
        output(g(), view, () => certificatesText(view));
      }),
    );
}
