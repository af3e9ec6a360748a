/**
 * Test support: Debian's Chromium, headless, through playwright-core. The
 * flags keep it from calling home (no component updates, sync or QUIC).
 */
import { existsSync } from 'node:fs';
import jsQR from 'jsqr';
import { type Browser, type Page, chromium } from 'playwright-core';
import { issueDeviceCertificate } from '../../shared/certificates';
import type { Crypto } from '../../shared/crypto/types';
import type { TestOrg } from '../support/network';

export const PASSPHRASE = 'a long browser passphrase';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) throw new Error(`no Chromium at ${CHROMIUM}: install Debian's chromium package (apt-get install chromium); tests never download a browser`);
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_FLAGS });
}

/**
 * The set-up screen of the app at `url`, filled and sent for device `name`
 * of `org`: the page makes the keys and shows the enrolment request.
 * Returns how long that took, from the click.
 */
export async function setUpDevice(p: Page, url: string, org: TestOrg, name: string, passphrase = PASSPHRASE, timeoutMs = 30_000): Promise<number> {
  await p.goto(url);
  await p.waitForSelector('html[data-ready="true"]');
  await p.fill('#setup input[name="orgId"]', org.orgId);
  await p.fill('#setup input[name="deviceName"]', name);
  await p.fill('#setup input[name="label"]', `Staff ${name}`);
  await p.fill('#setup input[name="passphrase"]', passphrase);
  await p.fill('#setup input[name="passphraseAgain"]', passphrase);
  const started = Date.now();
  await p.click('#setup button[type="submit"]');
  await p.waitForSelector('#enrolment-request', { timeout: timeoutMs });
  return Date.now() - started;
}

/**
 * The org admin's side, played by the test: sign the enrolment request
 * `requestText` as `handover org sign-device` would, paste both
 * certificates into the page and wait for the inbox (the page registers).
 */
export async function importSignedCertificates(p: Page, crypto: Crypto, org: TestOrg, requestText: string, timeoutMs = 30_000): Promise<void> {
  const now = Date.now();
  const certificate = issueDeviceCertificate(crypto, {
    request: JSON.parse(requestText),
    orgCertificate: org.certificate,
    orgPrivateKey: org.keys.privateKey,
    role: 'caseworker',
    issuedAt: now - 60_000,
    expiresAt: now + 90 * 86_400_000,
  });
  await p.fill('#enrol textarea[name="orgCertificate"]', JSON.stringify(org.certificate));
  await p.fill('#enrol textarea[name="deviceCertificate"]', JSON.stringify(certificate));
  await p.click('#enrol button[type="submit"]');
  await p.waitForSelector('#new-referral', { timeout: timeoutMs });
}

/**
 * Set up and enrol the app at `url` as device `name` of `org`: the page
 * makes the keys and shows the request; the test plays the org admin and
 * signs it; the page imports and registers. `created` gets how long making
 * and sealing the keys took.
 */
export async function enrolBrowser(
  p: Page,
  fx: { url: string; crypto: Crypto },
  org: TestOrg,
  name: string,
  created?: (ms: number) => Promise<void>,
  opts: { waitForSocket?: boolean } = {},
): Promise<void> {
  const setUpMs = await setUpDevice(p, fx.url, org, name);
  await created?.(setUpMs);
  // Read after `created` (which may re-render the screen, e.g. in another language: a freshly signed request).
  const requestText = await p.inputValue('#enrolment-request');
  // The QR code on the screen carries the same request (read back by an independent decoder).
  expect(JSON.parse(await readQr(p, '#enrolment-qr svg'))).toEqual(JSON.parse(requestText));
  await importSignedCertificates(p, fx.crypto, org, requestText);
  // The inbox opens before the socket is up; the tests go on with the relay (unless they hold the sign-in back).
  if (opts.waitForSocket !== false) await p.waitForSelector('#connection[data-state="connected"]', { timeout: 30_000 });
}

/** Decode the QR code the page drew as an SVG path of unit squares. */
export async function readQr(p: Page, selector: string): Promise<string> {
  const { viewBox, d } = await p.$eval(selector, (svg) => ({ viewBox: svg.getAttribute('viewBox') ?? '', d: svg.querySelector('path')?.getAttribute('d') ?? '' }));
  const size = Number(viewBox.split(' ')[2]);
  const scale = 4;
  const width = size * scale;
  const data = new Uint8ClampedArray(width * width * 4).fill(255);
  for (const [, xs, ys] of d.matchAll(/M(\d+) (\d+)h1v1h-1z/g)) {
    const x = Number(xs);
    const y = Number(ys);
    for (let py = 0; py < scale; py++) for (let px = 0; px < scale; px++) data.fill(0, ((y * scale + py) * width + x * scale + px) * 4, ((y * scale + py) * width + x * scale + px) * 4 + 3);
  }
  const found = jsQR(data, width, width, { inversionAttempts: 'dontInvert' });
  if (!found) throw new Error('no QR code could be read on the page');
  return new TextDecoder().decode(new Uint8Array(found.binaryData));
}

/** The referral form's field, by its path into the referral body. */
export const formField = (name: string): string => `#referral-form [name="${name}"]`;

/**
 * Fill the referral form's consent and header for a referral to `receivingOrgId` with `coordinatorOrgIds`
 * (the consent covers them all; services, urgent, legal help). The caller fills the case's own fields.
 */
export async function fillReferralBasics(p: Page, receivingOrgId: string, coordinatorOrgIds: readonly string[]): Promise<void> {
  const f = formField;
  await p.selectOption(f('consent.givenBy'), 'survivor');
  await p.selectOption(f('consent.method'), 'verbal');
  await p.check(`${f('consent.purposes')}[value="services"]`);
  for (const orgId of [receivingOrgId, ...coordinatorOrgIds]) await p.check(`${f('consent.coveredOrgIds')}[value="${orgId}"]`);
  await p.selectOption(f('consent.legalBasis'), 'consent');
  await p.fill(f('consent.expiresAt'), new Date(Date.now() + 30 * 86_400_000).toISOString().slice(0, 10));
  await p.selectOption(f('header.kind'), 'service');
  await p.selectOption(f('header.priority'), 'urgent');
  await p.selectOption(f('header.purpose'), 'services');
  await p.check(`${f('header.servicesRequested')}[value="legal"]`);
  await p.selectOption(f('header.reasonForReferral'), { index: 1 });
  await p.selectOption(f('header.referredOrganisation'), receivingOrgId);
  for (const orgId of coordinatorOrgIds) await p.check(`${f('header.coordinators')}[value="${orgId}"]`);
}
