'use strict';
// Shared helpers for the end-to-end suite: the browser (Debian's Chromium driven by
// playwright-core), accessibility checks (axe-core), failure artefacts, the demo accounts and
// the outbox. Every scenario file runs `scenario(name, async (s) => { ... })`.
//
// Environment (set by run.sh): E2E_PORT (gateway port), E2E_DATA_DIR (demo data folder, for the
// outbox), E2E_ARTIFACTS (where failures are kept), E2E_SCREENSHOTS (docs/screenshots, optional).

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const zlib = require('node:zlib');
const assert = require('node:assert/strict');
const { test, before, after } = require('node:test');
const { chromium } = require('playwright-core');

const PORT = process.env.E2E_PORT;
if (!PORT) {
  throw new Error('E2E_PORT is not set: run the suite with tests/e2e/run.sh');
}
const DATA_DIR = process.env.E2E_DATA_DIR || '';
const ARTIFACTS = process.env.E2E_ARTIFACTS || path.join(__dirname, 'artifacts', 'manual');
const SCREENSHOTS = process.env.E2E_SCREENSHOTS || '';
const CHROMIUM = process.env.E2E_CHROMIUM || '/usr/bin/chromium';

const PASSWORD = 'Convergences-Demo-2026!';
const ACCOUNTS = {
  admin: 'admin@cig-exemple.fr',
  referent: 'referent@mairie-exemple.fr',
  agent: 'agent@mairie-exemple.fr',
  ccas: 'agent.ccas@mairie-exemple.fr',
};

const portal = (p = '/') => `http://auth.localhost:${PORT}${p}`;
const bip = (p = '/') => `http://bip.localhost:${PORT}${p}`;
const netcotisations = (p = '/') => `http://netcotisations.localhost:${PORT}${p}`;

// WCAG 2.1 level A and AA rules only.
const AXE_TAGS = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'];
const AXE_SOURCE = require.resolve('axe-core');

let browser;
let profileDir;

before(async () => {
  // Playwright refuses --user-data-dir in `args` for launch(): it always starts Chromium with a
  // fresh temporary profile of its own (deleted on close), which is what we want.
  profileDir = fs.mkdtempSync(path.join(os.tmpdir(), 'conv-e2e-chromium-'));
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--disable-dev-shm-usage',
      '--lang=fr-FR',
      // Chromium resolves *.localhost to the loopback by itself; this makes it explicit.
      '--host-resolver-rules=MAP *.localhost 127.0.0.1',
    ],
    env: { ...process.env, XDG_CONFIG_HOME: profileDir, XDG_CACHE_HOME: profileDir },
  });
});

after(async () => {
  if (browser) await browser.close();
  if (profileDir) fs.rmSync(profileDir, { recursive: true, force: true });
});

function slug(s) {
  return s
    .normalize('NFD')
    .replace(/[\u0300-\u036f]/g, '')
    .replace(/[^A-Za-z0-9]+/g, '-')
    .replace(/^-|-$/g, '')
    .toLowerCase()
    .slice(0, 60);
}

/** A browser context (isolated cookies) with the viewport of the committed screenshots. */
async function newContext() {
  const context = await browser.newContext({
    viewport: { width: 1280, height: 800 },
    locale: 'fr-FR',
    // The pages send `script-src 'self'`: axe-core is injected as an inline script.
    bypassCSP: true,
    acceptDownloads: true,
  });
  context.setDefaultTimeout(15_000);
  context.setDefaultNavigationTimeout(20_000);
  return context;
}

/**
 * One scenario = one node:test test with its own browser context. `s.step(label)` names the
 * current step; on failure every open page of the context is saved (screenshot + HTML) under
 * ARTIFACTS/<scenario>/ with the step in the file name, and the gateway log is kept by run.sh.
 */
function scenario(name, fn, options = {}) {
  test(name, options, async (t) => {
    const context = await newContext();
    const contexts = [context];
    const s = {
      context,
      t,
      /** Another browser (separate cookies), saved on failure and closed at the end too. */
      async newContext() {
        const c = await newContext();
        contexts.push(c);
        return c;
      },
      stepName: 'start',
      checked: [],
      step(label) {
        s.stepName = label;
        t.diagnostic(`step: ${label}`);
      },
      /** axe-core on the page as it is now; fails on any WCAG 2.1 A/AA violation. */
      async a11y(page, label) {
        const violations = await axeViolations(page);
        s.checked.push(label);
        if (violations.length) {
          const text = violations
            .map((v) => `  [${v.impact}] ${v.id}: ${v.help}\n` +
              v.nodes.map((n) => `      ${n.target.join(' ')} — ${n.failureSummary.replace(/\n/g, ' ')}`).join('\n'))
            .join('\n');
          assert.fail(`accessibility (axe-core, WCAG 2.1 A/AA) on "${label}" (${page.url()}):\n${text}`);
        }
      },
      async screenshot(page, file) {
        if (!SCREENSHOTS) return;
        fs.mkdirSync(SCREENSHOTS, { recursive: true });
        await page.screenshot({ path: path.join(SCREENSHOTS, file), fullPage: false });
      },
    };
    try {
      await fn(s);
    } catch (err) {
      if (options.todo) throw err; // a known bug, reported as TODO: no artefacts
      for (let i = 0; i < contexts.length; i++) {
        await saveArtifacts(contexts[i], name, `${s.stepName}${i ? `-browser${i + 1}` : ''}`).catch((e) =>
          console.error(`(could not save artefacts: ${e.message})`));
      }
      throw err;
    } finally {
      t.diagnostic(`axe-core: ${s.checked.length} page(s) checked: ${s.checked.join(', ')}`);
      for (const c of contexts) await c.close().catch(() => {});
    }
  });
}

async function axeViolations(page) {
  await page.waitForLoadState('load');
  const present = await page.evaluate(() => typeof window.axe !== 'undefined');
  if (!present) await page.addScriptTag({ path: AXE_SOURCE });
  const result = await page.evaluate(async (tags) => {
    // eslint-disable-next-line no-undef
    const r = await axe.run(document, { runOnly: { type: 'tag', values: tags }, resultTypes: ['violations'] });
    return r.violations.map((v) => ({
      id: v.id,
      impact: v.impact,
      help: v.help,
      nodes: v.nodes.map((n) => ({ target: n.target, failureSummary: n.failureSummary || '' })),
    }));
  }, AXE_TAGS);
  return result;
}

async function saveArtifacts(context, name, step) {
  const dir = path.join(ARTIFACTS, slug(name));
  fs.mkdirSync(dir, { recursive: true });
  const pages = context.pages();
  for (let i = 0; i < pages.length; i++) {
    const p = pages[i];
    const base = path.join(dir, `${slug(step)}-tab${i + 1}`);
    try {
      await p.screenshot({ path: `${base}.png`, fullPage: true, timeout: 5_000 });
    } catch (e) {
      fs.writeFileSync(`${base}.screenshot-error.txt`, String(e));
    }
    try {
      // Without the injected axe-core source (half a megabyte of script).
      const html = (await p.content()).replace(/<script[^>]*>\/\*! axe v[\s\S]*?<\/script>/, '<script>/* axe-core */</script>');
      fs.writeFileSync(`${base}.html`, `<!-- ${p.url()} -->\n${html}`);
    } catch (e) {
      fs.writeFileSync(`${base}.html-error.txt`, String(e));
    }
  }
  console.error(`artefacts of "${name}" (step "${step}") saved in ${dir}`);
}

// ---------------------------------------------------------------------------------------------
// User actions

async function expectLoginForm(page) {
  await page.getByRole('heading', { level: 1, name: 'Se connecter' }).waitFor();
  assert.equal(await page.locator('.tiles').count(), 0, 'the login page must not show tiles');
}

async function fillLogin(page, email, password) {
  await page.getByLabel('Adresse e-mail').fill(email);
  await page.getByLabel('Mot de passe', { exact: true }).fill(password);
  await page.getByRole('button', { name: 'Se connecter' }).click();
}

/** Logs in from the login page and waits for the portal. */
async function login(page, email, password = PASSWORD) {
  await page.goto(portal('/login'));
  await expectLoginForm(page);
  await fillLogin(page, email, password);
  await page.getByRole('heading', { level: 1, name: 'Vos applications' }).waitFor();
}

/** The tile names shown on the portal, in order. */
async function tileNames(page) {
  return (await page.locator('.tiles .tile-name').allTextContents()).map((s) => s.trim());
}

async function tileHref(page, name) {
  const tile = page.locator('a.tile', { has: page.locator('.tile-name', { hasText: name }) });
  assert.equal(await tile.count(), 1, `one tile "${name}"`);
  return tile.getAttribute('href');
}

/** Opens the account menu of the header (the photo or initials and the name). */
async function openAccountMenu(page) {
  const menu = page.locator('details.user-menu');
  if (!(await menu.evaluate((d) => d.open))) await menu.locator('summary').click();
}

/** "Déconnexion" in the header's account menu, then the confirmation page, then back on the
 * login page. */
async function logout(s, page, { a11y = false } = {}) {
  await openAccountMenu(page);
  await page.getByRole('navigation', { name: 'Compte' }).getByRole('link', { name: 'Déconnexion' }).click();
  await page.getByText('Voulez-vous vraiment vous déconnecter ?').waitFor();
  if (a11y) await s.a11y(page, 'confirmation de déconnexion');
  await page.getByRole('button', { name: 'Se déconnecter' }).click();
  await expectLoginForm(page);
}

/** Waits for a download triggered by `click` and returns its bytes. */
async function download(page, click) {
  const [dl] = await Promise.all([page.waitForEvent('download'), click()]);
  const file = await dl.path();
  return { name: dl.suggestedFilename(), bytes: fs.readFileSync(file) };
}

/** Checks a CSV export: UTF-8 BOM, ';' separator, CRLF; returns its rows (arrays of cells). */
function parseCsv(bytes) {
  assert.deepEqual([...bytes.subarray(0, 3)], [0xef, 0xbb, 0xbf], 'the CSV starts with the UTF-8 BOM');
  const text = bytes.subarray(3).toString('utf8');
  assert.ok(text.includes('\r\n'), 'CSV lines end with CRLF');
  const rows = [];
  let row = [];
  let cell = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') { cell += '"'; i++; }
      else if (c === '"') quoted = false;
      else cell += c;
    } else if (c === '"') quoted = true;
    else if (c === ';') { row.push(cell); cell = ''; }
    else if (c === '\r' && text[i + 1] === '\n') { row.push(cell); rows.push(row); row = []; cell = ''; i++; }
    else cell += c;
  }
  if (cell !== '' || row.length) { row.push(cell); rows.push(row); }
  return rows;
}

// ---------------------------------------------------------------------------------------------
// Directory actions as the référent (through the UI)

/**
 * Creates a user through "Ajouter" on the UTILISATEURS tab and returns its card URL. The page
 * must be logged in as a référent or admin.
 */
async function createUser(s, page, u, { a11yForm = false, screenshot = null } = {}) {
  await page.goto(portal('/aia/utilisateurs'));
  await page.getByRole('link', { name: 'Ajouter', exact: true }).click();
  await page.getByRole('heading', { level: 1 }).waitFor();
  if (a11yForm) await s.a11y(page, 'formulaire utilisateur (vide)');
  await page.getByRole('textbox', { name: 'Nom', exact: true }).fill(u.lastName);
  await page.getByLabel('Prénom').fill(u.firstName);
  await page.getByLabel('Adresse e-mail').fill(u.email);
  await page.getByLabel("Structure d'appartenance").selectOption({ label: u.structureLabel });
  if (u.jobTitle) await page.getByLabel('Fonction').fill(u.jobTitle);
  if (u.service) await page.getByLabel('Service').fill(u.service);
  if (screenshot) await s.screenshot(page, screenshot);
  await page.getByRole('button', { name: 'Ajouter', exact: true }).click();
}

/** The label of a structure in the "Structure d'appartenance" select, found by its text. */
async function structureOption(page, includes) {
  const labels = await page.getByLabel("Structure d'appartenance").locator('option').allTextContents();
  const label = labels.find((l) => l.includes(includes));
  assert.ok(label, `a structure option containing "${includes}" among ${JSON.stringify(labels)}`);
  return label.trim();
}

/** APPLICATIONS tab: unfolds the application and opens the role's members. */
async function openRole(page, appName, role) {
  await page.goto(portal('/aia/applications'));
  const app = page.locator('details', { has: page.locator('summary', { hasText: appName }) });
  if (!(await app.evaluate((d) => d.open))) await app.locator('summary').click();
  await app.getByRole('link', { name: role, exact: true }).click();
  await page.getByRole('heading', { name: /^Membres \(\d+\)$/ }).waitFor();
}

/** AFFECTER: search a user by ≥3 characters, select, confirm. */
async function assignRole(page, appName, role, search, email) {
  await openRole(page, appName, role);
  await page.getByRole('link', { name: 'Affecter', exact: true }).click();
  await page.getByRole('heading', { level: 1, name: /^Affecter/ }).waitFor();
  await page.getByRole('searchbox', { name: 'Rechercher' }).fill(search);
  await page.getByRole('button', { name: 'Rechercher' }).click();
  const row = page.locator('#resultats tr', { hasText: email });
  await row.waitFor();
  await row.getByRole('checkbox').check();
  await page.locator('#resultats').getByRole('button', { name: 'Affecter', exact: true }).click();
  await page.getByRole('heading', { name: /^Membres \(\d+\)$/ }).waitFor();
}

// ---------------------------------------------------------------------------------------------
// Mail (the demo's outbox)

function decodeQuotedPrintable(text) {
  const soft = text.replace(/=\r?\n/g, '');
  const bytes = [];
  for (let i = 0; i < soft.length; i++) {
    const m = /^=([0-9A-Fa-f]{2})/.exec(soft.slice(i, i + 3));
    if (m) { bytes.push(parseInt(m[1], 16)); i += 2; }
    else bytes.push(...Buffer.from(soft[i], 'utf8'));
  }
  return Buffer.from(bytes).toString('utf8');
}

/**
 * Waits (polling the outbox folder, at most `timeout` ms) for a new message to `email` that
 * was not there in `seen`, and returns the password link it carries.
 */
async function waitForMailLink(email, seen = new Set(), timeout = 10_000) {
  assert.ok(DATA_DIR, 'E2E_DATA_DIR is set');
  const outbox = path.join(DATA_DIR, 'outbox');
  const deadline = Date.now() + timeout;
  const re = new RegExp(`http://auth\\.localhost:${PORT}/mot-de-passe/[A-Za-z0-9_-]+`);
  for (;;) {
    const files = fs.existsSync(outbox) ? fs.readdirSync(outbox).filter((f) => f.endsWith('.eml')) : [];
    for (const f of files) {
      if (seen.has(f)) continue;
      const raw = fs.readFileSync(path.join(outbox, f), 'utf8');
      const decoded = decodeQuotedPrintable(raw);
      if (!decoded.toLowerCase().includes(email.toLowerCase())) continue;
      const m = re.exec(decoded);
      if (m) return m[0];
    }
    if (Date.now() > deadline) assert.fail(`no message with a link to ${email} in ${outbox}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function outboxFiles() {
  const outbox = path.join(DATA_DIR, 'outbox');
  return new Set(fs.existsSync(outbox) ? fs.readdirSync(outbox) : []);
}

/**
 * "Première visite ?" for `email` in `page` (a browser without session): asks for the link,
 * reads it from the outbox, sets `password`, and ends on the portal (logging in if sent to the
 * login page).
 */
async function firstVisit(page, email, password) {
  await page.goto(portal('/premiere-visite'));
  const before = outboxFiles();
  await page.getByLabel('Adresse e-mail professionnelle').fill(email);
  await page.getByRole('button', { name: 'Recevoir le lien par e-mail' }).click();
  await page.getByRole('status').waitFor();
  const link = await waitForMailLink(email, before);
  await page.goto(link);
  await page.getByLabel('Nouveau mot de passe').fill(password);
  await page.getByLabel('Confirmation du mot de passe').fill(password);
  await page.getByRole('button', { name: 'Enregistrer mon mot de passe' }).click();
  const home = page.getByRole('heading', { level: 1, name: 'Vos applications' });
  const loginForm = page.getByRole('heading', { level: 1, name: 'Se connecter' });
  await home.or(loginForm).waitFor();
  if (await loginForm.isVisible()) {
    await fillLogin(page, email, password);
    await home.waitFor();
  }
  return link;
}

// ---------------------------------------------------------------------------------------------
// Reflow (WCAG 1.4.10, which axe-core does not check)

/** Fails if the page scrolls sideways: wide data tables may scroll inside their own frame
 * (.table-wrap), which the criterion allows; nothing else may stick out. */
async function noSidewaysScroll(page, label) {
  const r = await page.evaluate(() => {
    const W = document.documentElement.clientWidth;
    const culprits = [];
    document.querySelectorAll('body *').forEach((el) => {
      const box = el.getBoundingClientRect();
      const escapes = ['absolute', 'fixed'].includes(getComputedStyle(el).position);
      if (box.width && box.right > W + 1 && (escapes || !el.parentElement.closest('.table-wrap'))) {
        culprits.push(`${el.tagName.toLowerCase()}${el.id ? `#${el.id}` : ''}${el.className ? `.${String(el.className).replace(/ /g, '.')}` : ''} (right ${Math.round(box.right)})`);
      }
    });
    return { scroll: document.documentElement.scrollWidth, width: W, culprits: culprits.slice(0, 6) };
  });
  assert.ok(r.scroll <= r.width,
    `"${label}" scrolls sideways at ${r.width} px: content ${r.scroll} px wide; ${r.culprits.join(', ')}`);
}

// ---------------------------------------------------------------------------------------------
// A small valid PNG, made here (no fixture file): a 48x48 gradient.

function crc32(buf) {
  let c;
  let crc = 0xffffffff;
  for (let n = 0; n < buf.length; n++) {
    c = (crc ^ buf[n]) & 0xff;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    crc = (crc >>> 8) ^ c;
  }
  return (crc ^ 0xffffffff) >>> 0;
}

function pngChunk(type, data) {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const td = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(td));
  return Buffer.concat([len, td, crc]);
}

function makePng(width = 48, height = 48) {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // RGB
  const raw = Buffer.alloc((width * 3 + 1) * height);
  for (let y = 0; y < height; y++) {
    const o = y * (width * 3 + 1);
    raw[o] = 0; // filter: none
    for (let x = 0; x < width; x++) {
      raw[o + 1 + x * 3] = Math.round((x / width) * 255);
      raw[o + 2 + x * 3] = 80;
      raw[o + 3 + x * 3] = Math.round((y / height) * 255);
    }
  }
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    pngChunk('IHDR', ihdr),
    pngChunk('IDAT', zlib.deflateSync(raw)),
    pngChunk('IEND', Buffer.alloc(0)),
  ]);
}

/** A unique suffix so that scenarios never collide, even on a kept data folder. */
function unique() {
  return `${Date.now().toString(36)}${Math.floor(Math.random() * 1e6).toString(36)}`;
}

module.exports = {
  openAccountMenu,
  assert,
  axeViolations,
  scenario,
  PORT,
  PASSWORD,
  ACCOUNTS,
  portal,
  bip,
  netcotisations,
  login,
  fillLogin,
  logout,
  expectLoginForm,
  tileNames,
  tileHref,
  download,
  parseCsv,
  createUser,
  structureOption,
  openRole,
  assignRole,
  waitForMailLink,
  firstVisit,
  outboxFiles,
  decodeQuotedPrintable,
  makePng,
  noSidewaysScroll,
  unique,
};
