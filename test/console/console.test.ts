import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { startCloud, DEFAULT_TEACHER_DIR, type RunningCloud } from '../../cloud/api/start-cloud';
import { startConsoleFleet, type ConsoleFleet } from './console-fleet';

/**
 * The console in real headless Chromium against a real cloud (SQLite, job runner with a real
 * SSD-KD child process, embedded broker, fleet controller). Screenshots go to test-artifacts/.
 * The browser console must stay free of errors.
 */
const CHROMIUM = '/usr/bin/chromium';
const ARTIFACTS = join(process.cwd(), 'test-artifacts', 'console');
const ADMIN = 'console-test-admin-token';
const describeIfChromium = existsSync(CHROMIUM) ? describe : describe.skip;

describeIfChromium('console in headless Chromium', () => {
  let dir: string;
  let cloud: RunningCloud;
  let context: BrowserContext;
  let page: Page;
  let fleet: ConsoleFleet | null = null;
  const browserErrors: string[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'edgekd-console-'));
    mkdirSync(ARTIFACTS, { recursive: true });
    // The committed default teacher when present; otherwise an untrained LeNet-5-BN written by the
    // helper (this test checks what the console shows, not the student's accuracy).
    const teacherDir = existsSync(join(DEFAULT_TEACHER_DIR, 'model.json')) ? DEFAULT_TEACHER_DIR : await (await import('./untrained-teacher')).writeUntrainedTeacher(join(dir, 'untrained-lenet5-bn'));
    cloud = await startCloud({ dataDir: join(dir, 'cloud'), port: 0, brokerPort: 0, teacherDir, tokens: [{ token: ADMIN, role: 'admin', name: 'tester' }], logLevel: 'warn', jobEnv: { EDGEKD_LOG_LEVEL: 'warn' } });
    context = await chromium.launchPersistentContext(join(dir, 'chromium-profile'), {
      executablePath: CHROMIUM,
      headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
      viewport: { width: 1400, height: 1000 },
    });
    page = context.pages()[0] ?? (await context.newPage());
    page.on('console', (m) => {
      if (m.type() === 'error') browserErrors.push(m.text());
    });
    page.on('pageerror', (e) => browserErrors.push(`pageerror: ${e.message}`));
  }, 60_000);

  afterAll(async () => {
    await context?.close();
    await fleet?.close();
    await cloud?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const pointsOf = (selector: string) =>
    page.evaluate((sel) => {
      const canvas = document.querySelector(`${sel} canvas`) as HTMLCanvasElement | null;
      const chart = canvas ? (window as unknown as { Chart: { getChart(c: HTMLCanvasElement): { data: { datasets: { data: unknown[] }[] } } | undefined } }).Chart.getChart(canvas) : undefined;
      return chart ? chart.data.datasets.reduce((n, d) => n + d.data.length, 0) : -1;
    }, selector);

  it('starts a run and shows its loss curve moving, with buffer histogram and samples', async () => {
    await page.goto(`${cloud.url}/?token=${ADMIN}#/runs`);
    await page.waitForSelector('#new-run select[name=teacher] option', { state: 'attached' });
    expect(page.url()).not.toContain('token=');
    await page.selectOption('#new-run select[name=size]', 'quick');
    await page.fill('#new-run input[name=epochs]', '2');
    await page.click('#new-run button[type=submit]');
    await page.waitForFunction(() => /^#\/runs\/[0-9a-f-]+$/.test(location.hash) || document.querySelector('#new-run .error')?.textContent);
    expect(await page.locator('#new-run .error').count() ? await page.locator('#new-run .error').textContent() : '').toBe('');
    await page.waitForFunction(() => document.querySelector('#loss-chart canvas') !== null);
    await expect.poll(() => pointsOf('#loss-chart'), { timeout: 60_000, interval: 250 }).toBeGreaterThan(1);
    const first = await pointsOf('#loss-chart');
    await expect.poll(() => pointsOf('#loss-chart'), { timeout: 30_000, interval: 250 }).toBeGreaterThan(first);
    await expect.poll(() => pointsOf('#buffer-chart'), { timeout: 60_000, interval: 500 }).toBeGreaterThan(0);
    await page.waitForSelector('#gallery img', { timeout: 30_000 });
    await page.screenshot({ path: join(ARTIFACTS, 'run.png'), fullPage: true });
    expect(browserErrors).toEqual([]);
  }, 120_000);

  it('lists runs as keyboard-followable links with a meaningful progress cell', async () => {
    await page.goto(`${cloud.url}/#/runs`);
    const link = page.locator('#main a.run-link, a.run-link').first();
    await link.waitFor();
    const href = (await link.getAttribute('href')) ?? '';
    expect(href).toMatch(/^#\/runs\/[0-9a-f-]+$/);
    // The progress cell never shows the bare event type; it says where the run is or what it did.
    const progress = (await page.locator('span.progress').first().textContent()) ?? '';
    expect(progress).not.toMatch(/^(phase|step|epoch|buffer|samples)\b\s*\d*$/);
    expect(progress).toMatch(/epoch \d+|step \d+|accuracy \d|: /);
    // Keyboard: focus the link and press Enter.
    await link.focus();
    await page.keyboard.press('Enter');
    await page.waitForFunction((h) => location.hash === h, href);
    await page.waitForSelector('#loss-chart canvas');
    expect(browserErrors).toEqual([]);
  }, 30_000);

  it('starts a rollout and shows the devices commit', async () => {
    fleet = await startConsoleFleet(cloud, dir);
    await page.goto(`${cloud.url}/#/fleet`);
    await expect.poll(() => page.locator('#devices tbody tr').count(), { timeout: 30_000 }).toBe(fleet.deviceIds.length);
    await page.selectOption('#new-rollout select[name=package]', fleet.packageId);
    await page.fill('#new-rollout input[name=group]', fleet.group);
    await page.fill('#new-rollout input[name=bake]', '500');
    // Lenient ML-quality gates, so the rollout completes and the page has their values to show.
    await page.fill('#new-rollout input[name=shadow]', '0');
    await page.fill('#new-rollout input[name=confidence]', '1');
    await page.click('#new-rollout button[type=submit]');
    await page.waitForFunction(() => location.hash.startsWith('#/rollouts/'));
    await expect.poll(() => page.locator('#rollout-devices .state.committed').count(), { timeout: 60_000, interval: 250 }).toBe(fleet.deviceIds.length);
    await expect.poll(() => page.locator('#rollout-head .state').first().textContent(), { timeout: 30_000 }).toBe('completed');
    // Each wave shows the ML-quality gates it was judged on, as the engine recorded them.
    const rolloutId = await page.evaluate(() => location.hash.split('/')[2]!);
    const recorded = (await (await fetch(`${cloud.url}/api/rollouts/${rolloutId}`, { headers: { authorization: `Bearer ${ADMIN}` } })).json()) as { waves: { index: number; verdict?: { results: { gate: string; outcome: string; value: number | null; threshold: number }[] } }[] };
    const mlRecorded = recorded.waves.flatMap((w) => (w.verdict?.results ?? []).filter((g) => g.gate === 'shadowAgreement' || g.gate === 'confidenceShift'));
    expect(mlRecorded).toHaveLength(2 * recorded.waves.length);
    await expect.poll(() => page.locator('#waves li.gate[data-gate=shadowAgreement]').count(), { timeout: 10_000 }).toBe(recorded.waves.length);
    const shown = await page.locator('#waves li.gate').evaluateAll((els) => els.map((e) => ({
      gate: e.getAttribute('data-gate'), outcome: e.getAttribute('data-outcome'),
      value: e.querySelector('.gate-value')?.textContent, threshold: e.querySelector('.gate-threshold')?.textContent,
    })));
    const shownMl = shown.filter((g) => g.gate === 'shadowAgreement' || g.gate === 'confidenceShift');
    expect(shownMl).toEqual(mlRecorded.map((g) => ({ gate: g.gate, outcome: g.outcome, value: g.value === null ? 'no data' : String(Number.isInteger(g.value) ? g.value : g.value.toFixed(3)), threshold: String(g.threshold) })));
    // Install gates sit beside them.
    expect(shown.filter((g) => g.gate === 'installSuccess')).toHaveLength(recorded.waves.length);
    await page.screenshot({ path: join(ARTIFACTS, 'rollout.png'), fullPage: true });
    await page.goto(`${cloud.url}/#/fleet`);
    // Every device reports the new model version in its heartbeat (4th column).
    const versions = () => page.locator('#devices tbody tr td:nth-child(4)').allTextContents();
    await expect.poll(versions, { timeout: 20_000 }).toEqual(fleet.deviceIds.map(() => '1'));
    await page.screenshot({ path: join(ARTIFACTS, 'fleet.png'), fullPage: true });
    await page.goto(`${cloud.url}/#/models`);
    await page.waitForSelector('#lineage .node');
    await page.screenshot({ path: join(ARTIFACTS, 'models.png'), fullPage: true });
    expect(browserErrors).toEqual([]);
  }, 120_000);

  it('adds a device showing its credentials once, and revokes it', async () => {
    const registry = cloud.fleet!.registry;
    await page.goto(`${cloud.url}/#/fleet`);
    await page.fill('#new-device input[name=deviceId]', 'console-added-1');
    await page.fill('#new-device input[name=groups]', 'console-extra, yard');
    await page.click('#new-device button[type=submit]');
    const password = (await page.locator('#new-device-credentials .password').textContent({ timeout: 10_000 })) ?? '';
    expect(await page.locator('#new-device-credentials .username').textContent()).toBe('console-added-1');
    expect(await registry.authenticate('console-added-1', Buffer.from(password))).toEqual({ kind: 'device', deviceId: 'console-added-1' });
    const row = page.locator('#devices tbody tr[data-id="console-added-1"]');
    await expect.poll(() => row.locator('td').nth(5).textContent(), { timeout: 10_000 }).toBe('console-extra, yard');
    await page.screenshot({ path: join(ARTIFACTS, 'device-added.png'), fullPage: true });

    // The credentials are not kept: after a reload the page no longer has them.
    await page.reload();
    await row.waitFor();
    expect(await page.content()).not.toContain(password);

    page.once('dialog', (d) => void d.accept());
    await row.locator('button.revoke').click();
    await expect.poll(() => row.locator('.state').nth(1).textContent(), { timeout: 10_000 }).toBe('revoked');
    expect(await row.locator('button.revoke').count()).toBe(0);
    expect(await registry.authenticate('console-added-1', Buffer.from(password))).toBeNull();
    await page.screenshot({ path: join(ARTIFACTS, 'device-revoked.png'), fullPage: true });
    expect(browserErrors).toEqual([]);
  }, 60_000);
});
