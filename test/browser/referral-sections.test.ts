/**
 * The referral form's optional HTCDS sections in the web app, against a real
 * relay on real Redis: the NGO's browser, in Russian, fills the trafficking
 * context and the health needs (a partly filled group first gets the schema's
 * own field errors, in Russian), withholds the trafficking context from IOM,
 * and sends. The shelter's device (an SDK client) decrypts exactly those
 * values; IOM's decrypts the referral without the trafficking context. The
 * sender's thread view shows the codes as Russian labels, inside arrays too.
 */
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { CaseService } from '../../client/referral';
import type { HandoverClient } from '../../client/sdk/client';
import { ru } from '../../client/web/src/i18n/ru';
import { ruLabels } from '../../client/web/src/i18n/labels/ru';
import { ROUTES } from '../../shared/api';
import { loadCrypto } from '../../shared/crypto/sodium';
import { type TestOrg, TestNetwork } from '../support/network';
import { startRedis, type TestRedis } from '../support/redis';
import { enrolClient, eventually, postJson, type RelayFixture, startTestRelay } from '../support/relay';
import { enrolBrowser, fillReferralBasics, formField as f, launchChromium } from './browser';
import { seriousViolations } from './screens';

const WEB_DIR = path.join(__dirname, '../../dist/web');
const CASE_CODE = 'SEC-2026-0001';
const RECRUITMENT = `Вакансия швеи в мессенджере, долг за дорогу ${Math.random().toString(36).slice(2, 10)}`;

let redis: TestRedis;
let fx: RelayFixture;
let browser: Browser;
let page: Page;
let shelter: TestOrg;
let ngo: TestOrg;
let webCrypto: Awaited<ReturnType<typeof loadCrypto>>;
let iom: TestOrg;
let shelterClient: HandoverClient;
let iomClient: HandoverClient;
let shelterCases: CaseService;
let iomCases: CaseService;
const pageErrors: string[] = [];

beforeAll(async () => {
  const crypto = await loadCrypto();
  const network = new TestNetwork(crypto, Date.now());
  redis = await startRedis();
  fx = await startTestRelay(network, { redisUrl: redis.url, config: { webApp: { dir: WEB_DIR, development: true } } });
  ngo = network.addOrg('ngo-taraz', 'ngo');
  webCrypto = crypto;
  shelter = network.addOrg('shelter-ist', 'shelter');
  iom = network.addOrg('iom-ist', 'iom');
  await postJson(fx.url, ROUTES.orgs, { certificate: ngo.certificate });
  shelterClient = await enrolClient(fx, shelter, 'amina');
  iomClient = await enrolClient(fx, iom, 'selin');
  shelterCases = new CaseService({ transport: shelterClient });
  iomCases = new CaseService({ transport: iomClient });
  await shelterCases.start();
  await iomCases.start();
  browser = await launchChromium();
  page = await (await browser.newContext()).newPage();
  page.on('pageerror', (err) => pageErrors.push(err.message));
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

it('sends the trafficking context and health needs filled in Russian; the org it is withheld from does not get the trafficking context', async () => {
  // Signed in, so the directory the form lists recipients from is the relay's (the inbox opens before that).
  await page.waitForSelector('#connection:text-is("Connected")', { timeout: 20_000 });
  await page.selectOption('#language', 'ru');
  await page.click('#new-referral');
  await page.waitForSelector('#referral-form');
  await fillReferralBasics(page, shelter.orgId, [iom.orgId]);
  await page.fill(f('header.referringPrimaryCaseWorker.name'), 'Дана');
  await page.fill(f('header.senderCaseReference'), 'TRZ/2026/88');
  await page.fill(f('identity.caseCode'), CASE_CODE);

  // The sections and their pick-lists speak Russian.
  const legend = (section: string) => page.textContent(`fieldset[data-section="${section}"] > legend`);
  expect(await legend('form.section.traffickingContext')).toBe(ru['form.section.traffickingContext']);
  expect(await legend('form.section.healthNeeds')).toBe(ru['form.section.healthNeeds']);
  expect(await legend('form.section.childGuardian')).toBe(ru['form.section.childGuardian']);
  expect(await page.textContent(`${f('traffickingContext.traffickingStatus')} option[value="PossibleVictimOfTrafficking"]`)).toBe(ruLabels.traffickingStatus.PossibleVictimOfTrafficking);
  expect(await page.textContent(`${f('healthNeeds.fitToTravel')} option[value="no"]`)).toBe(ruLabels.fitToTravel.no);
  const checkLabel = (name: string, value: string) => page.$eval(`${f(name)}[value="${value}"]`, (box) => document.querySelector(`label[for="${box.id}"]`)?.textContent);
  expect(await checkLabel('traffickingContext.methodsOfControl', 'DebtBondage')).toBe(ruLabels.methodOfControl.DebtBondage);
  // The risk section's safety instructions are a group of their own within it.
  expect(await page.textContent('fieldset[data-section="form.section.riskSafety"] fieldset[data-group="riskSafety.safetyInstructions"] > legend')).toBe(ru['field.riskSafety.safetyInstructions']);

  // Partly filled: the schema's own checks name the missing fields, in Russian; the untouched groups say nothing.
  await page.fill(f('traffickingContext.recruitmentDetails'), RECRUITMENT);
  await page.click('#send-referral');
  await page.waitForSelector('#form-summary.error');
  const errorOf = (name: string) => page.textContent(`[data-field="${name}"] .field-error`);
  expect(await errorOf('traffickingContext.traffickingStatus')).toBe(ru['form.error.required']);
  expect(await errorOf('traffickingContext.typeOfExploitation')).toBe(ru['form.error.choose']);
  expect(await errorOf('healthNeeds.fitToTravel')).toBe('');
  expect(await errorOf('riskSafety.riskLevel')).toBe('');
  expect(await page.evaluate(() => (document.activeElement as HTMLSelectElement | null)?.name)).toBe('traffickingContext.traffickingStatus');
  expect(await seriousViolations(page)).toEqual([]);

  await page.selectOption(f('traffickingContext.traffickingStatus'), 'PossibleVictimOfTrafficking');
  await page.selectOption(f('traffickingContext.traffickingStatusDecisionMakingOrg'), 'NGO');
  await page.check(`${f('traffickingContext.typeOfExploitation')}[value="ForcedLabour"]`);
  await page.check(`${f('traffickingContext.typeOfExploitation')}[value="SexualExploitation"]`);
  await page.selectOption(f('traffickingContext.forcedLabourIndustry'), 'C_Manufacturing');
  await page.check(`${f('traffickingContext.methodsOfControl')}[value="DebtBondage"]`);
  await page.check(`${f('traffickingContext.methodsOfControl')}[value="WithholdsDocuments"]`);
  await page.check(`${f('traffickingContext.methodOfRecruitment')}[value="ThroughOnlineSocialNetworks"]`);
  // Typed in lower case: the form sends the code as the schema has it.
  await page.fill(f('traffickingContext.countryOfExploitation'), 'tr');
  await page.fill(f('healthNeeds.immediateMedicalNeeds'), 'Порез на левой руке, не обработан');
  await page.fill(f('healthNeeds.medication'), 'Не известно');
  await page.selectOption(f('healthNeeds.fitToTravel'), 'no');

  // Withheld from IOM alone: the preview is the case layer's plan.
  await page.waitForSelector(`#withhold-by-org fieldset[data-org="${iom.orgId}"]`);
  await page.check(`#withhold-by-org [name="withheld-from.${iom.orgId}"][value="traffickingContext"]`);
  const receives = async (orgId: string) => ((await page.getAttribute(`#disclosure-preview li[data-org="${orgId}"]`, 'data-receives')) ?? '').split(' ');
  await page.waitForSelector(`#disclosure-preview li[data-org="${iom.orgId}"]:has-text("${ruLabels.fieldGroup.traffickingContext}")`);
  expect(await receives(iom.orgId)).not.toContain('traffickingContext');
  expect(await receives(iom.orgId)).toContain('healthNeeds');
  expect(await receives(shelter.orgId)).toEqual(expect.arrayContaining(['traffickingContext', 'healthNeeds']));
  expect(await receives(shelter.orgId)).not.toContain('childGuardian');
  expect(await seriousViolations(page)).toEqual([]);

  await page.click('#send-referral');
  await page.waitForSelector('#thread-status', { timeout: 30_000 });
  await eventually(async () => (await iomCases.listThreads()).some((t) => t.caseCode === CASE_CODE), 15_000, 'IOM receives the referral');
  await eventually(async () => (await shelterCases.listThreads()).some((t) => t.caseCode === CASE_CODE), 15_000, 'the shelter receives the referral');
  const threadId = (await shelterCases.listThreads()).find((t) => t.caseCode === CASE_CODE)?.threadId ?? '';
  await shelterCases.idle();
  await iomCases.idle();

  const trafficking = {
    traffickingStatus: 'PossibleVictimOfTrafficking',
    traffickingStatusDecisionMakingOrg: 'NGO',
    typeOfExploitation: ['ForcedLabour', 'SexualExploitation'],
    forcedLabourIndustry: 'C_Manufacturing',
    methodsOfControl: ['DebtBondage', 'WithholdsDocuments'],
    methodOfRecruitment: ['ThroughOnlineSocialNetworks'],
    recruitmentDetails: RECRUITMENT,
    countryOfExploitation: 'TR',
  };
  const health = { immediateMedicalNeeds: 'Порез на левой руке, не обработан', medication: 'Не известно', fitToTravel: 'no' };
  // The shelter gets exactly what was filled: the groups withheld from IOM reach it in a supplement of its own.
  await eventually(async () => (await shelterCases.thread(threadId)).referral?.traffickingContext !== undefined, 15_000, 'the shelter has the trafficking context');
  const atShelter = (await shelterCases.thread(threadId)).referral;
  expect(atShelter?.traffickingContext).toEqual(trafficking);
  expect(atShelter?.healthNeeds).toEqual(health);
  // Untouched groups were left out, not sent empty.
  expect(atShelter?.childGuardian).toBeUndefined();
  expect(atShelter?.riskSafety).toBeUndefined();

  const atIom = (await iomCases.thread(threadId)).referral;
  expect(atIom?.identity.caseCode).toBe(CASE_CODE);
  expect(atIom?.healthNeeds).toEqual(health);
  expect(atIom?.traffickingContext).toBeUndefined();
  expect(atIom?.consent.withheld).toEqual([{ fieldGroups: ['traffickingContext'], fromOrgIds: [iom.orgId] }]);
  // Nothing IOM's device decrypted, in any message of the thread, holds the recruitment story.
  expect(JSON.stringify((await iomClient.threadMessages(threadId)).map((m) => m.payload))).not.toContain(RECRUITMENT);

  // The sender's thread view shows the codes as Russian words, inside arrays too.
  const shown = (await page.textContent('#referral-data')) ?? '';
  for (const label of [
    ru['form.section.traffickingContext'],
    ru['field.traffickingContext.methodsOfControl'],
    ruLabels.traffickingStatus.PossibleVictimOfTrafficking,
    ruLabels.decisionMakingOrg.NGO,
    `${ruLabels.exploitationType.ForcedLabour}, ${ruLabels.exploitationType.SexualExploitation}`,
    ruLabels.forcedLabourIndustry.C_Manufacturing,
    `${ruLabels.methodOfControl.DebtBondage}, ${ruLabels.methodOfControl.WithholdsDocuments}`,
    ruLabels.methodOfRecruitment.ThroughOnlineSocialNetworks,
    'Турция (TR)',
    ru['field.healthNeeds.fitToTravel'],
    ruLabels.fitToTravel.no,
  ]) {
    expect([label, shown.includes(label)]).toEqual([label, true]);
  }
  for (const code of ['PossibleVictimOfTrafficking', 'DebtBondage', 'C_Manufacturing', 'ThroughOnlineSocialNetworks']) expect(shown).not.toContain(code);
  expect(await seriousViolations(page)).toEqual([]);
  await page.selectOption('#language', 'en');
  expect(pageErrors).toEqual([]);
});

it('a form opened before the first sign-in ends says the directory is loading, and lists the organisations once it is in', async () => {
  const context = await browser.newContext();
  try {
    const desk = await context.newPage();
    desk.on('pageerror', (err) => pageErrors.push(err.message));
    // The sign-in (and with it the directory) held back; registration does not need it.
    let release: () => void = () => undefined;
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    await desk.route('**/v1/auth/**', async (route) => {
      await held;
      await route.continue();
    });
    await enrolBrowser(desk, { url: fx.url, crypto: webCrypto }, ngo, 'second-desk', undefined, { waitForSocket: false });
    await desk.click('#new-referral');
    await desk.waitForSelector('#referral-form');
    expect(await desk.textContent('#directory-empty')).toBe('Connecting to the relay: the organisations you can refer to appear when it answers.');
    expect(await desk.locator(`${f('consent.coveredOrgIds')}[value="${shelter.orgId}"]`).count()).toBe(0);
    await desk.fill(f('identity.caseCode'), 'TYPED-BEFORE-SIGN-IN');
    release();
    // Signed in: the form is drawn again with the directory's organisations, and what was typed stays.
    await desk.waitForSelector(`${f('consent.coveredOrgIds')}[value="${shelter.orgId}"]`, { timeout: 20_000 });
    expect(await desk.locator('#directory-empty').count()).toBe(0);
    expect(await desk.inputValue(f('identity.caseCode'))).toBe('TYPED-BEFORE-SIGN-IN');
    expect(pageErrors).toEqual([]);
  } finally {
    await context.close();
  }
});
