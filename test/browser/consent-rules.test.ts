/**
 * The consent's rules in the web app, against a real relay on real Redis:
 * the NGO's browser withholds groups from one recipient org in the
 * new-referral form, and that org's device (an SDK client) decrypts a
 * referral without them while the other recipient gets them; the NGO adds an
 * org the consent does not cover only with a written vital-interest reason,
 * which every participant sees as an override; and IOM's return steps show
 * on the NGO's page as the ordered path, in the reader's language. Also:
 * setting up the browser runs the keystore's Argon2id in the worker.
 */
import path from 'node:path';
import { readFileSync } from 'node:fs';
import type { Browser, Page } from 'playwright-core';
import { CaseService } from '../../client/referral';
import type { HandoverClient } from '../../client/sdk/client';
import { ROUTES } from '../../shared/api';
import { loadCrypto } from '../../shared/crypto/sodium';
import { type TestOrg, TestNetwork } from '../support/network';
import { startRedis, type TestRedis } from '../support/redis';
import { enrolClient, eventually, postJson, type RelayFixture, startTestRelay } from '../support/relay';
import { enrolBrowser, fillReferralBasics, formField, launchChromium } from './browser';
import { seriousViolations as axeSerious } from './screens';
import { ru } from '../../client/web/src/i18n/ru';

const WEB_DIR = path.join(__dirname, '../../dist/web');
const AXE = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
const MARKER = `Saule${Math.random().toString(36).slice(2, 10)}`;

let redis: TestRedis;
let fx: RelayFixture;
let browser: Browser;
let page: Page;
let shelter: TestOrg;
let iom: TestOrg;
let police: TestOrg;
let shelter2: TestOrg;
let shelterClient: HandoverClient;
let iomClient: HandoverClient;
let shelterCases: CaseService;
let iomCases: CaseService;
let threadId = '';
const pageErrors: string[] = [];

/** axe-core's serious and critical WCAG 2.1 A/AA findings on the page as it is (as accessibility.test.ts runs it). */
async function seriousViolations(p: Page): Promise<string[]> {
  if (!(await p.evaluate(() => 'axe' in window))) await p.addScriptTag({ content: AXE });
  const violations = await p.evaluate(async () => {
    type Found = { id: string; impact: string | null; nodes: Array<{ target: string[] }> };
    const axe = (window as unknown as { axe: { run(ctx: unknown, opts: unknown): Promise<{ violations: Found[] }> } }).axe;
    return (await axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] } })).violations;
  });
  return violations.filter((v) => v.impact === 'serious' || v.impact === 'critical').map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
}

beforeAll(async () => {
  const crypto = await loadCrypto();
  const network = new TestNetwork(crypto, Date.now());
  redis = await startRedis();
  fx = await startTestRelay(network, { redisUrl: redis.url, config: { webApp: { dir: WEB_DIR, development: true } } });
  const ngo = network.addOrg('ngo-taraz', 'ngo');
  shelter = network.addOrg('shelter-ist', 'shelter');
  iom = network.addOrg('iom-ist', 'iom');
  police = network.addOrg('police-ist', 'authority');
  shelter2 = network.addOrg('shelter-ank', 'shelter');
  await postJson(fx.url, ROUTES.orgs, { certificate: police.certificate });
  await postJson(fx.url, ROUTES.orgs, { certificate: shelter2.certificate });
  await postJson(fx.url, ROUTES.orgs, { certificate: ngo.certificate });
  shelterClient = await enrolClient(fx, shelter, 'amina');
  iomClient = await enrolClient(fx, iom, 'selin');
  shelterCases = new CaseService({ transport: shelterClient });
  iomCases = new CaseService({ transport: iomClient });
  await shelterCases.start();
  await iomCases.start();
  browser = await launchChromium();
  // The axe script is injected, so this context bypasses the page's CSP (the other suites keep it).
  page = await (await browser.newContext({ bypassCSP: true })).newPage();
  page.on('pageerror', (err) => pageErrors.push(err.message));
  // Animation frames the page gets while the set-up's Argon2id runs (a page busy with it would get none).
  await page.addInitScript(() => {
    const w = window as unknown as { __kdfTicks: number };
    w.__kdfTicks = 0;
    const tick = () => {
      if (document.documentElement.dataset.kdfRunning === 'true' && document.getElementById('setup')) w.__kdfTicks++;
      requestAnimationFrame(tick);
    };
    requestAnimationFrame(tick);
  });
  await enrolBrowser(page, { url: fx.url, crypto }, ngo, 'dana-browser');
}, 90_000);

afterAll(async () => {
  await browser?.close();
  shelterCases?.dispose();
  iomCases?.dispose();
  await shelterClient?.close();
  await iomClient?.close();
  await fx?.close();
  await redis?.destroy();
});

it('set-up sealed the new keys with Argon2id in the worker, and the page kept drawing meanwhile', async () => {
  expect(await page.evaluate(() => document.documentElement.dataset.kdf)).toBe('worker');
  expect(await page.evaluate(() => (window as unknown as { __kdfTicks: number }).__kdfTicks)).toBeGreaterThanOrEqual(1);
});

it('withholds groups from one recipient: the preview says so, and that org decrypts a referral without them', async () => {
  await page.click('#new-referral');
  await page.waitForSelector('#referral-form');
  const f = (name: string) => `#referral-form [name="${name}"]`;
  await page.selectOption(f('consent.givenBy'), 'survivor');
  await page.selectOption(f('consent.method'), 'verbal');
  await page.check(`${f('consent.purposes')}[value="services"]`);
  await page.check(`${f('consent.coveredOrgIds')}[value="${shelter.orgId}"]`);
  await page.check(`${f('consent.coveredOrgIds')}[value="${iom.orgId}"]`);
  await page.check(`${f('consent.coveredOrgTypes')}[value="shelter"]`);
  await page.selectOption(f('consent.legalBasis'), 'consent');
  await page.fill(f('consent.expiresAt'), new Date(Date.now() + 30 * 86_400_000).toISOString().slice(0, 10));
  // No recipient chosen yet: nothing to withhold per org.
  expect(await page.$$('#withhold-by-org fieldset')).toHaveLength(0);
  await page.selectOption(f('header.kind'), 'shelter-intake');
  await page.selectOption(f('header.priority'), 'urgent');
  await page.selectOption(f('header.purpose'), 'services');
  await page.check(`${f('header.servicesRequested')}[value="legal"]`);
  await page.selectOption(f('header.reasonForReferral'), { index: 1 });
  await page.selectOption(f('header.referredOrganisation'), shelter.orgId);
  await page.check(`${f('header.coordinators')}[value="${iom.orgId}"]`);
  await page.fill(f('header.referringPrimaryCaseWorker.name'), 'Dana');
  await page.fill(f('header.senderCaseReference'), 'TRZ/2026/77');
  await page.fill(f('identity.caseCode'), 'WH-2026-0001');
  await page.fill(f('identity.firstName'), MARKER);
  await page.selectOption(f('riskSafety.riskLevel'), 'high');
  await page.check(f('riskSafety.retaliationRisk'));
  // One fieldset per recipient, in the consent section.
  await page.waitForSelector(`#withhold-by-org fieldset[data-org="${iom.orgId}"]`);
  expect(await page.$$eval('#withhold-by-org fieldset', (els) => els.map((e) => e.getAttribute('data-org')))).toEqual([shelter.orgId, iom.orgId]);
  expect(await page.$eval('#withhold-by-org', (el) => el.closest('fieldset[data-section]')?.getAttribute('data-section'))).toBe('form.section.consent');
  const receives = async (orgId: string) => ((await page.getAttribute(`#disclosure-preview li[data-org="${orgId}"]`, 'data-receives')) ?? '').split(' ');
  await page.waitForSelector(`#disclosure-preview li[data-org="${iom.orgId}"]`);
  expect(await receives(iom.orgId)).toEqual(expect.arrayContaining(['identity', 'legalName', 'riskSafety']));

  await page.check(`#withhold-by-org [name="withheld-from.${iom.orgId}"][value="identity"]`);
  await page.check(`#withhold-by-org [name="withheld-from.${iom.orgId}"][value="riskSafety"]`);
  await page.waitForSelector(`#disclosure-preview li[data-org="${iom.orgId}"]:has-text("withheld: Identity")`);
  const toIom = await receives(iom.orgId);
  expect(toIom).not.toContain('identity');
  expect(toIom).not.toContain('legalName');
  expect(toIom).not.toContain('riskSafety');
  expect(await receives(shelter.orgId)).toEqual(expect.arrayContaining(['identity', 'legalName', 'riskSafety']));
  expect(await page.textContent(`#disclosure-preview li[data-org="${shelter.orgId}"]`)).toMatch(/withheld: —$/);
  // Dropping IOM as a recipient drops its rule from the consent; chosen again, its choices are still there.
  await page.uncheck(`${f('header.coordinators')}[value="${iom.orgId}"]`);
  await page.waitForSelector(`#withhold-by-org fieldset[data-org="${iom.orgId}"]`, { state: 'detached' });
  await page.check(`${f('header.coordinators')}[value="${iom.orgId}"]`);
  await page.waitForSelector(`#withhold-by-org fieldset[data-org="${iom.orgId}"]`);
  expect(await page.isChecked(`#withhold-by-org [name="withheld-from.${iom.orgId}"][value="identity"]`)).toBe(true);

  expect(await seriousViolations(page)).toEqual([]);
  await page.click('#send-referral');
  await page.waitForSelector('#thread-status', { timeout: 30_000 });
  await eventually(async () => (await iomCases.listThreads()).some((t) => t.caseCode === 'WH-2026-0001'), 15_000, 'IOM receives the referral');
  await eventually(async () => (await shelterCases.listThreads()).some((t) => t.caseCode === 'WH-2026-0001'), 15_000, 'the shelter receives the referral');
  threadId = (await iomCases.listThreads()).find((t) => t.caseCode === 'WH-2026-0001')?.threadId ?? '';
  await iomCases.idle();
  await shelterCases.idle();
  const atIom = (await iomCases.thread(threadId)).referral;
  expect(atIom?.identity).toEqual({ caseCode: 'WH-2026-0001' });
  expect(atIom?.riskSafety).toBeUndefined();
  // Nothing IOM's device decrypted holds the name, in any message of the thread (event or supplement).
  expect(JSON.stringify((await iomClient.threadMessages(threadId)).map((m) => m.payload))).not.toContain(MARKER);
  // The consent IOM holds says what was withheld from it (signed with the referral).
  expect(atIom?.consent.withheld).toEqual([{ fieldGroups: ['identity', 'riskSafety'], fromOrgIds: [iom.orgId] }]);
  // The shelter may see more: the groups withheld from IOM reach it in a supplement of its own.
  await eventually(async () => (await shelterCases.thread(threadId)).referral?.identity.firstName === MARKER, 15_000, 'the shelter has the name');
  const atShelter = (await shelterCases.thread(threadId)).referral;
  expect(atShelter?.riskSafety?.riskLevel).toBe('high');
  expect(pageErrors).toEqual([]);
});

it('adds an org the consent does not cover only with a written vital-interest reason, shown to all as an override', async () => {
  await page.waitForSelector('#action-add-participant');
  // A second shelter is covered by its type: added as is, no reason asked.
  await page.selectOption('#action-add-participant select[name="orgId"]', shelter2.orgId);
  await page.selectOption('#action-add-participant select[name="purpose"]', 'services');
  expect(await page.isVisible('#add-scope')).toBe(false);
  expect(await page.isVisible('#override-reason')).toBe(false);
  await page.selectOption('#action-add-participant select[name="orgId"]', police.orgId);
  await page.selectOption('#action-add-participant select[name="purpose"]', 'services');
  await page.waitForSelector('#add-scope:has-text("The consent does not cover this: the consent does not cover this organisation")');
  expect(await page.isVisible('#override-reason')).toBe(true);
  await page.click('#action-add-participant button[type="submit"]');
  await page.waitForSelector('#override-reason .field-error:text-is("Write the vital-interest reason first.")');
  expect(await page.$$('#timeline li[data-type="participant.add"]')).toHaveLength(0);
  // A live update re-renders the thread: what was picked, and what is missing, stay.
  await shelterCases.note(threadId, 'Bed ready from tonight');
  await page.waitForSelector('#timeline li[data-type="note"] .event-detail:text-is("Bed ready from tonight")', { timeout: 15_000 });
  expect(await page.inputValue('#action-add-participant select[name="orgId"]')).toBe(police.orgId);
  expect(await page.isVisible('#add-scope')).toBe(true);
  expect(await page.textContent('#override-reason .field-error')).toBe('Write the vital-interest reason first.');

  const reason = 'Trafficker seen near the shelter; police protection needed tonight';
  await page.fill('#action-add-participant textarea[name="overrideReason"]', reason);
  await page.click('#action-add-participant button[type="submit"]');
  await page.waitForSelector(`#timeline li[data-type="participant.add"].override .override-reason:has-text("${reason}")`, { timeout: 15_000 });
  expect(await page.textContent('#timeline li[data-type="participant.add"] .override-reason')).toBe(`Consent overridden for ${police.orgId} in the vital interest: ${reason}`);
  expect(await seriousViolations(page)).toEqual([]);
  // Every participant's replay records the override, from the signed event.
  await eventually(async () => (await shelterCases.thread(threadId)).overrides.some((o) => o.via === 'participant.add' && o.reason === reason), 15_000, 'the shelter sees the override');
  expect((await shelterCases.thread(threadId)).overrides.find((o) => o.via === 'participant.add')?.recipient.orgId).toBe(police.orgId);
  expect(pageErrors).toEqual([]);
});

it('shows the return path IOM records as an ordered list, with status and time in the reader\'s language', async () => {
  await iomCases.returnStep(threadId, { step: 'return-requested', status: 'done', note: 'Asked at the consulate' });
  await iomCases.returnStep(threadId, { step: 'risk-assessment', status: 'in-progress' });
  await page.waitForSelector('#return-path li[data-step="risk-assessment"][data-status="in-progress"]', { timeout: 15_000 });
  const steps = await page.$$eval('#return-path li', (els) => els.map((e) => [e.getAttribute('data-step'), e.getAttribute('data-status')]));
  expect(steps[0]).toEqual(['return-requested', 'done']);
  expect(steps[1]).toEqual(['receipt-confirmed', 'not-started']);
  expect(steps[2]).toEqual(['risk-assessment', 'in-progress']);
  expect(steps[steps.length - 1]).toEqual(['closed', 'not-started']);
  const first = (await page.textContent('#return-path li[data-step="return-requested"]')) ?? '';
  expect(first).toContain('Done');
  expect(first).toContain(`responsible: ${iom.orgId}`);
  expect(first).toContain('Asked at the consulate');
  expect(first).toContain(String(new Date().getFullYear()));
  expect(await seriousViolations(page)).toEqual([]);
  await page.selectOption('#language', 'ru');
  await page.waitForSelector('#return-path li[data-step="return-requested"] .step-status:text-is("Выполнено")');
  expect(await page.textContent('#return-path li[data-step="receipt-confirmed"] .step-status')).toBe('Не начато');
  expect(await page.textContent('#return-path li[data-step="return-requested"]')).toContain('обновлено');
  await page.selectOption('#language', 'en');
  expect(pageErrors).toEqual([]);
});

/** From wherever the page is, a new referral form (the inbox first). */
async function openNewReferral(): Promise<void> {
  if (await page.$('#referral-form')) await page.click('#referral-form button.secondary[type="button"]');
  else if (!(await page.$('#new-referral'))) await page.click('#back');
  await page.waitForSelector('#new-referral');
  await page.click('#new-referral');
  await page.waitForSelector('#referral-form');
}

/** The case's own required fields: the caseworker, the sender's reference, the case code. */
async function fillCase(caseCode: string): Promise<void> {
  await page.fill(formField('header.referringPrimaryCaseWorker.name'), 'Dana');
  await page.fill(formField('header.senderCaseReference'), `TRZ/${caseCode}`);
  await page.fill(formField('identity.caseCode'), caseCode);
}

/** The thread the SDK client holds for a case code, once it has it. */
async function threadFor(cases: CaseService, caseCode: string): Promise<string> {
  await eventually(async () => (await cases.listThreads()).some((t) => t.caseCode === caseCode), 15_000, `the referral ${caseCode} arrives`);
  await cases.idle();
  return (await cases.listThreads()).find((t) => t.caseCode === caseCode)?.threadId ?? '';
}

it('sends a referral to an org outside the consent only with a written vital-interest reason, which the receiving org sees as an override', async () => {
  await openNewReferral();
  const f = formField;
  // The consent covers the shelter only; IOM is a coordinator all the same.
  await fillReferralBasics(page, shelter.orgId, [iom.orgId]);
  await page.uncheck(`${f('consent.coveredOrgIds')}[value="${iom.orgId}"]`);
  await fillCase('OV-2026-0001');
  await page.fill(f('identity.firstName'), 'Aigerim');
  await page.dispatchEvent(f('identity.firstName'), 'change');
  await page.waitForSelector(`#disclosure-preview li.warning[data-org="${iom.orgId}"]:has-text("outside the consent (the consent does not cover this organisation)")`);
  expect(await page.isVisible('#referral-override')).toBe(true);
  expect(await page.isVisible('#override-refused')).toBe(false);
  expect(await page.textContent('#referral-override')).toContain(`(${iom.orgId})`);
  // The shelter is in the consent: no warning for it.
  expect(await page.getAttribute(`#disclosure-preview li[data-org="${shelter.orgId}"]`, 'class')).toBeNull();
  expect(await axeSerious(page)).toEqual([]);

  // Without a reason: refused, nothing sent, the field says why.
  await page.click('#send-referral');
  await page.waitForSelector('[data-field="overrideReason"] .field-error:text-is("Write the vital-interest reason first.")');
  expect(await page.evaluate(() => document.activeElement?.getAttribute('name'))).toBe('overrideReason');
  expect(await page.$('#thread-status')).toBeNull();
  // Covered again: no override asked; uncovered again: asked again.
  await page.check(`${f('consent.coveredOrgIds')}[value="${iom.orgId}"]`);
  await page.waitForSelector('#referral-override', { state: 'hidden' });
  await page.uncheck(`${f('consent.coveredOrgIds')}[value="${iom.orgId}"]`);
  await page.waitForSelector('#referral-override', { state: 'visible' });

  const reason = 'Exploiter is searching for her; IOM must arrange safe transfer today';
  await page.fill(f('overrideReason'), reason);
  await page.click('#send-referral');
  await page.waitForSelector('#thread-status', { timeout: 30_000 });
  // The sender's own timeline shows the signed override with its reason.
  await page.waitForSelector(`#timeline li[data-type="consent.override"].override .override-reason:has-text("${reason}")`, { timeout: 15_000 });
  expect(await page.textContent('#timeline li[data-type="consent.override"] .override-reason')).toBe(`Consent overridden for ${iom.orgId} in the vital interest: ${reason}`);
  expect(await axeSerious(page)).toEqual([]);

  // The receiving org outside the consent holds the override, from the signed event, with the reason.
  const atIom = await threadFor(iomCases, 'OV-2026-0001');
  await eventually(async () => (await iomCases.thread(atIom)).overrides.length > 0, 15_000, 'IOM holds the override');
  const overrides = (await iomCases.thread(atIom)).overrides;
  expect(overrides).toEqual([expect.objectContaining({ via: 'consent.override', reason, recipient: { orgId: iom.orgId, orgType: 'iom' } })]);
  expect((await iomCases.thread(atIom)).referral?.identity.firstName).toBe('Aigerim');
  // So does the shelter (every participant sees it); one thread for the case, sent once.
  const atShelter = await threadFor(shelterCases, 'OV-2026-0001');
  await eventually(async () => (await shelterCases.thread(atShelter)).overrides.some((o) => o.reason === reason), 15_000, 'the shelter sees the override');
  expect((await iomCases.listThreads()).filter((t) => t.caseCode === 'OV-2026-0001')).toHaveLength(1);
  expect(pageErrors).toEqual([]);
});

it('withholds a group from every org of a type: an org of that type decrypts the referral without it, another type gets it', async () => {
  await openNewReferral();
  const f = formField;
  // Folded until opened (the keyboard walk of the consent stays short); the types by their labels in the user's language.
  expect(await page.isVisible('#withhold-by-type fieldset[data-org-type="authority"]')).toBe(false);
  await page.selectOption('#language', 'ru');
  await page.click('#withhold-by-type > summary');
  await page.waitForSelector(`#withhold-by-type fieldset[data-org-type="authority"] legend:text-is("Скрыть от всех организаций типа «Государственный орган»")`);
  expect(await page.textContent('#withhold-by-type > summary')).toBe(ru['form.withheldByType']);
  await page.selectOption('#language', 'en');
  if (!(await page.$('#withhold-by-type[open]'))) await page.click('#withhold-by-type > summary');
  await page.waitForSelector('#withhold-by-type fieldset[data-org-type="shelter"] legend:text-is("Withhold from every organisation of type “Shelter”")');
  const name = `Type${Math.random().toString(36).slice(2, 10)}`;
  await fillReferralBasics(page, shelter.orgId, [iom.orgId]);
  await fillCase('TY-2026-0001');
  await page.fill(f('identity.firstName'), name);
  await page.dispatchEvent(f('identity.firstName'), 'change');
  const receives = async (orgId: string) => ((await page.getAttribute(`#disclosure-preview li[data-org="${orgId}"]`, 'data-receives')) ?? '').split(' ');
  await page.waitForSelector(`#disclosure-preview li[data-org="${shelter.orgId}"]`);
  expect(await receives(shelter.orgId)).toEqual(expect.arrayContaining(['identity', 'legalName']));
  // Identity from every shelter (the legal name with it).
  await page.check('#withhold-by-type [name="withheld-type.shelter"][value="identity"]');
  await page.waitForSelector(`#disclosure-preview li[data-org="${shelter.orgId}"]:not([data-receives~="identity"])`);
  expect(await page.textContent(`#disclosure-preview li[data-org="${shelter.orgId}"]`)).toMatch(/withheld: .*Identity/);
  expect(await receives(shelter.orgId)).not.toContain('identity');
  expect(await receives(shelter.orgId)).not.toContain('legalName');
  expect(await receives(iom.orgId)).toEqual(expect.arrayContaining(['identity', 'legalName']));
  expect(await page.textContent(`#disclosure-preview li[data-org="${shelter.orgId}"]`)).toMatch(/^shelter-ist \(Shelter\): /);
  expect(await axeSerious(page)).toEqual([]);
  await page.click('#send-referral');
  await page.waitForSelector('#thread-status', { timeout: 30_000 });

  const atShelter = await threadFor(shelterCases, 'TY-2026-0001');
  const shelterView = (await shelterCases.thread(atShelter)).referral;
  expect(shelterView?.identity).toEqual({ caseCode: 'TY-2026-0001' });
  expect(shelterView?.consent.withheld).toEqual([{ fieldGroups: ['identity'], fromOrgTypes: ['shelter'] }]);
  expect(JSON.stringify((await shelterClient.threadMessages(atShelter)).map((m) => m.payload))).not.toContain(name);
  const atIom = await threadFor(iomCases, 'TY-2026-0001');
  await eventually(async () => (await iomCases.thread(atIom)).referral?.identity.firstName === name, 15_000, 'IOM has the name');
  expect(pageErrors).toEqual([]);
});

it('takes a country by its name in Russian and sends its code; a name it does not know is a field error in Russian', async () => {
  await openNewReferral();
  const f = formField;
  await page.selectOption('#language', 'ru');
  await page.waitForSelector(`#referral-form legend:text-is("${ru['form.section.consent']}")`);
  const country = f('traffickingContext.countryOfExploitation');
  const listId = await page.getAttribute(country, 'list');
  expect(await page.$$eval(`datalist#${listId} option`, (els) => els.length)).toBe(249);
  expect(await page.$eval(`datalist#${listId} option[value="Турция"]`, (el) => el.textContent)).toBe('TR');
  await fillReferralBasics(page, shelter.orgId, [iom.orgId]);
  await fillCase('CO-2026-0001');
  await page.selectOption(f('traffickingContext.traffickingStatus'), { index: 1 });
  await page.check(`${f('traffickingContext.typeOfExploitation')} >> nth=0`);
  await page.fill(country, 'Атлантида');
  await page.click('#send-referral');
  await page.waitForSelector(`[data-field="traffickingContext.countryOfExploitation"] .field-error:text-is("${ru['form.error.country']}")`);
  expect(await page.$('#thread-status')).toBeNull();
  // Typed in another case, as a person would: the name maps back to its code.
  await page.fill(country, 'турция');
  // Sent from the keyboard: headless Chromium's suggestion pop-up (the typed name matches a country) takes the next mouse click.
  await page.focus('#send-referral');
  await page.keyboard.press('Enter');
  await page.waitForSelector('#thread-status', { timeout: 30_000 });
  const atIom = await threadFor(iomCases, 'CO-2026-0001');
  expect((await iomCases.thread(atIom)).referral?.traffickingContext?.countryOfExploitation).toBe('TR');
  // The thread shows it by name again, in the reader's language.
  expect(await page.textContent('body')).toContain('Турция (TR)');
  await page.selectOption('#language', 'en');
  expect(pageErrors).toEqual([]);
});
