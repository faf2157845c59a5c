// The demo's journeys in a real browser: Debian's Chromium, headless, driven by
// playwright-core (which downloads nothing). Sign in once at the demo ENT (OpenID Connect),
// open the demo Pronote (CAS) without signing in again, sign out from Pronote, and find both
// signed out; then the reverse, leaving from the ENT; then a guardian through the
// FranceConnect sandbox (P+3), linking her children, and out again through its session/end;
// then "Mon compte" (a new pupil proposed at sign-in, two accounts merged, a child's
// password); then the school administration (a staff sign-in with its TOTP code, a whole
// class's passwords regenerated, the PDF letters downloaded); then recovery by SMS (a forgotten
// identifier, a new password through a code). A real browser enforces what an HTTP
// client does not (Content-Security-Policy on the redirects after a form, SameSite cookies,
// scripts), so these checks catch what the Rust end-to-end tests cannot.
//
// Every IdP page the journeys reach is also audited with axe-core (WCAG 2.1 A and AA rules):
// a serious or critical violation fails the run, and the pages audited are listed at the end.
//
// Environment: IDP_PORT (the IdP of `idp demo`; the ENT on +1, Pronote on +2), CHROMIUM (the
// browser binary, default /usr/lib/chromium/chromium), SHOTS (a folder for screenshots,
// optional), README_SHOTS (a folder for the README's phone-sized screenshots, optional).

import { createHmac } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { chromium } from 'playwright-core'

const AXE_SOURCE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8')
const AXE_RULES = { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] } }

const PORT = Number(process.env.IDP_PORT)
if (!Number.isInteger(PORT)) {
  console.error('IDP_PORT must be set (the port of `idp demo`)')
  process.exit(2)
}
const IDP = `http://127.0.0.1:${PORT}`
const ENT = `http://127.0.0.1:${PORT + 1}/`
const PRONOTE = `http://127.0.0.1:${PORT + 2}/`
const CHROMIUM = process.env.CHROMIUM || '/usr/lib/chromium/chromium'
const SHOTS = process.env.SHOTS

let passed = 0
let failed = 0
class CheckFailed extends Error {}
class GroupAborted extends Error {}

function assert(condition, message) {
  if (!condition) throw new CheckFailed(message)
}

async function check(name, fn, { required = false } = {}) {
  try {
    const value = await fn()
    passed += 1
    console.log(`ok - ${name}`)
    return value
  } catch (err) {
    failed += 1
    console.log(`not ok - ${name}`)
    for (const line of String(err?.message ?? err).split('\n')) console.log(`  # ${line}`)
    if (required) throw new GroupAborted(name)
    return undefined
  }
}

async function group(title, fn) {
  console.log(`# ${title}`)
  try {
    await fn()
  } catch (err) {
    if (err instanceof GroupAborted) {
      console.log(`  # remaining checks of "${title}" skipped: "${err.message}" failed`)
    } else {
      failed += 1
      console.log(`not ok - ${title}: unexpected error`)
      for (const line of String(err?.stack ?? err).split('\n')) console.log(`  # ${line}`)
    }
  }
}

// A fresh browser context: its own cookies, its console and CSP reports kept.
async function newPage(browser) {
  const context = await browser.newContext({ viewport: { width: 1100, height: 900 }, locale: 'fr-FR' })
  const page = await context.newPage()
  page.reports = []
  page.on('console', (m) => {
    if (m.type() === 'error' && /Content Security Policy|Refused/.test(m.text())) page.reports.push(m.text())
  })
  return page
}

const README_SHOTS = process.env.README_SHOTS
const audited = []

// axe-core on the page as it is now (run through the DevTools protocol, so that the page's
// own Content-Security-Policy stays as strict as in production). Only the IdP's pages.
async function audit(page, name) {
  if (!page.url().startsWith(IDP)) return
  const path = new URL(page.url()).pathname
  let result
  try {
    await page.evaluate(AXE_SOURCE)
    result = await page.evaluate((rules) => window.axe.run(document, rules), AXE_RULES)
  } catch (err) {
    failed += 1
    console.log(`not ok - accessibility of ${name} (${path}): axe-core did not run: ${err?.message ?? err}`)
    return
  }
  const serious = result.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical')
  audited.push({ name, path, rules: result.passes.length, violations: result.violations, serious })
  if (serious.length === 0) {
    passed += 1
    const minor = result.violations.map((v) => `${v.id} (${v.impact})`).join(', ')
    console.log(`ok - accessibility of ${name} (${path}): no serious violation${minor ? `; minor: ${minor}` : ''}`)
  } else {
    failed += 1
    console.log(`not ok - accessibility of ${name} (${path})`)
    for (const v of serious) {
      console.log(`  # ${v.impact} ${v.id}: ${v.help}`)
      for (const n of v.nodes.slice(0, 3)) console.log(`  #   ${n.target.join(' ')}: ${n.failureSummary.replace(/\n/g, ' ')}`)
    }
  }
}

async function shot(page, name) {
  await audit(page, name)
  if (SHOTS) await page.screenshot({ path: `${SHOTS}/${name}.png`, fullPage: true })
}

// The README's screenshots: what a phone's screen shows (390 × 844, most parents use one),
// or a desktop's for the administration.
async function readmeShot(page, name, viewport = { width: 390, height: 844 }) {
  if (!README_SHOTS) return
  const size = page.viewportSize()
  await page.setViewportSize(viewport)
  await page.screenshot({ path: `${README_SHOTS}/${name}.png` })
  await page.setViewportSize(size)
}

// On the IdP's sign-in page: choose the profile, type the credentials, submit, and wait to
// be back at `returnTo`.
async function signIn(page, user, returnTo) {
  assert(page.url().startsWith(`${IDP}/login`), `not the IdP's sign-in page: ${page.url()}`)
  await audit(page, 'the sign-in page: profiles')
  await page.getByRole('link', { name: user.profileLabel }).first().click()
  await page.waitForURL(/profil=/)
  await audit(page, `the sign-in page: ${user.profileLabel}`)
  await page.fill('input[name=identifier]', user.identifier)
  await page.fill('input[name=password]', user.password)
  await page.getByRole('button', { name: 'Se connecter' }).click()
  try {
    await page.waitForURL((url) => url.href === returnTo, { timeout: 15000 })
  } catch {
    throw new CheckFailed(`not back at ${returnTo} after signing in: at ${page.url()}; browser reports: ${page.reports.join(' | ') || 'none'}`)
  }
}

// The demo staff's TOTP secret (idp::demo::DEMO_TOTP_SECRET), and its current code (RFC 6238).
const DEMO_TOTP_SECRET = 'KRSXG5CTMVRXEZLUKRSXG5CTMVRXEZLU'
function totp(secretBase32, unixSeconds = Date.now() / 1000) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567'
  let bits = ''
  for (const c of secretBase32) bits += alphabet.indexOf(c).toString(2).padStart(5, '0')
  const key = Buffer.from(bits.match(/.{8}/g).map((b) => parseInt(b, 2)))
  const counter = Buffer.alloc(8)
  counter.writeBigInt64BE(BigInt(Math.floor(unixSeconds / 30)))
  const digest = createHmac('sha1', key).update(counter).digest()
  const offset = digest[19] & 15
  return String((digest.readUInt32BE(offset) & 0x7fffffff) % 1000000).padStart(6, '0')
}

const CLAIRE = { identifier: 'claire.martin', password: 'Parent-2026!', profileLabel: 'Représentant légal' }
const LEA = { identifier: 'lea.martin', password: 'Cartable-2026', profileLabel: 'Élève' }

async function main() {
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync',
      '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1'],
  })
  try {
    await group('Pages before signing in: sign-in, its error, recovery (accessibility)', async () => {
      const page = await newPage(browser)
      await check('the sign-in page on a phone: the profiles, then the pupils\' form', async () => {
        await page.setViewportSize({ width: 390, height: 844 })
        await page.goto(`${IDP}/login`)
        await audit(page, 'the sign-in page on a phone: profiles')
        await page.getByRole('link', { name: 'Élève' }).first().click()
        await page.waitForURL(/profil=eleve/)
        await readmeShot(page, 'connexion')
        const skip = page.locator('a[href="#contenu"]')
        assert(await skip.count() === 1, 'no skip link to the content')
        assert(await page.getAttribute('html', 'lang') === 'fr', 'the page is not lang="fr"')
        await page.setViewportSize({ width: 1100, height: 900 })
      }, { required: true })
      await check('a wrong password: one message for both fields, and the form keeps the identifier', async () => {
        await page.fill('input[name=identifier]', 'lea.martin')
        await page.fill('input[name=password]', 'pas-le-bon')
        await page.getByRole('button', { name: 'Se connecter' }).click()
        await page.waitForSelector('text=Identifiant ou mot de passe incorrect.')
        assert(await page.inputValue('input[name=identifier]') === 'lea.martin', 'the identifier was lost')
        await audit(page, 'the sign-in page: a wrong password')
      })
      await check('"English" in the footer: the same page in English, then "Français" back', async () => {
        await page.goto(`${IDP}/login?profil=eleve`)
        await page.getByRole('link', { name: 'English' }).click()
        await page.waitForSelector('button:has-text("Sign in")')
        assert(new URL(page.url()).search === '?profil=eleve', `not back on the same page: ${page.url()}`)
        assert(await page.getAttribute('html', 'lang') === 'en', 'the page is not lang="en"')
        await audit(page, 'the sign-in page in English')
        await page.getByRole('link', { name: 'Français' }).click()
        await page.waitForSelector('button:has-text("Se connecter")')
      })
      for (const [path, name] of [
        ['/mot-de-passe-oublie', 'recovery: a forgotten password'],
        ['/identifiant-oublie', 'recovery: a forgotten identifier'],
        ['/admin/connexion', 'the staff sign-in'],
      ]) {
        await check(`${name} (${path})`, async () => {
          await page.goto(`${IDP}${path}`)
          await audit(page, name)
        })
      }
      assert(page.reports.length === 0, `browser reports: ${page.reports.join(' | ')}`)
      await page.context().close()
    })

    await group('ENT first, then Pronote, then logout from Pronote (Claire)', async () => {
      const page = await newPage(browser)
      await check('the ENT sends the browser to the IdP, Claire signs in and is back at the ENT', async () => {
        await page.goto(ENT)
        await page.getByRole('link', { name: 'Se connecter' }).click()
        await page.waitForURL(/\/login/)
        await signIn(page, CLAIRE, ENT)
      }, { required: true })
      await check('the ENT shows Claire, her profile and both children with school and class', async () => {
        await shot(page, '1-ent-claire')
        const text = await page.textContent('main')
        assert(text.includes('Bonjour Claire MARTIN'), 'no greeting')
        assert(text.includes('Représentant légal'), 'no profile')
        const rows = await page.locator('#enfants tbody tr').allTextContents()
        assert(rows.some((r) => r.includes('Léa MARTIN') && r.includes('Collège Jean Moulin') && r.includes('4e A')), `children: ${rows}`)
        assert(rows.some((r) => r.includes('Hugo MARTIN') && r.includes('École élémentaire Jules Ferry') && r.includes('CM2')), `children: ${rows}`)
      })
      await check('"Ouvrir Pronote" opens Pronote signed in, without the sign-in page', async () => {
        const seen = []
        page.on('framenavigated', (f) => { if (f === page.mainFrame()) seen.push(f.url()) })
        await page.getByRole('link', { name: 'Ouvrir Pronote' }).click()
        await page.waitForURL((url) => url.href === PRONOTE)
        await shot(page, '2-pronote-claire')
        assert(!seen.some((u) => u.startsWith(`${IDP}/login`)), `went through the sign-in page: ${seen}`)
        const text = await page.textContent('main')
        assert(text.includes('Bonjour Claire MARTIN'), 'Pronote does not show Claire')
        assert(text.includes('FrEduVecteur = 2|MARTIN|Claire|JM-E0001|0141234A'), 'attributes not shown')
      }, { required: true })
      await check('"Se déconnecter" in Pronote: the IdP lists the ENT and Pronote as signed out', async () => {
        await page.getByRole('button', { name: 'Se déconnecter' }).click()
        await page.waitForURL(/\/deconnexion\?id=/)
        await shot(page, '3-idp-logout')
        const lines = await page.locator('#logout-services li').allTextContents()
        assert(lines.some((l) => l.includes('ENT de démonstration') && l.includes('Déconnecté')), `lines: ${lines}`)
        assert(lines.some((l) => l.includes('Pronote de démonstration') && l.includes('Déconnecté')), `lines: ${lines}`)
      })
      await check('back at the ENT: nobody is signed in (back-channel logout reached it)', async () => {
        await page.goto(ENT)
        const text = await page.textContent('main')
        assert(!text.includes('Bonjour'), 'the ENT session is still there')
      })
      await check('Pronote again: the IdP asks to sign in', async () => {
        await page.goto(PRONOTE)
        await page.waitForURL(/\/login/)
      })
      assert(page.reports.length === 0, `browser reports: ${page.reports.join(' | ')}`)
      await page.context().close()
    })

    await group('Pronote first, then the ENT, then logout from the ENT (Léa)', async () => {
      const page = await newPage(browser)
      await check('Pronote sends the browser to the IdP, Léa signs in and is back at Pronote', async () => {
        await page.goto(PRONOTE)
        await page.waitForURL(/\/login/)
        await signIn(page, LEA, PRONOTE)
        const text = await page.textContent('main')
        assert(text.includes('Bonjour Léa MARTIN') && text.includes('Élève'), 'Pronote does not show Léa')
      }, { required: true })
      await check('the ENT signs her in without asking', async () => {
        await page.goto(ENT)
        await page.getByRole('link', { name: 'Se connecter' }).click()
        await page.waitForURL((url) => url.href === ENT)
        const text = await page.textContent('main')
        assert(text.includes('Bonjour Léa MARTIN'), 'the ENT does not show Léa')
        assert(text.includes('Collège Jean Moulin'), 'no school')
      }, { required: true })
      await check('"Se déconnecter" in the ENT: back at the ENT, signed out', async () => {
        await page.getByRole('button', { name: 'Se déconnecter' }).click()
        await page.waitForURL((url) => url.href.startsWith(`${ENT}?state=`))
        await shot(page, '4-ent-signed-out')
        assert((await page.textContent('main')).includes('Vous êtes déconnecté'), 'no notice')
      })
      await check('Pronote was told (CAS single logout): the IdP asks to sign in', async () => {
        for (let i = 0; i < 50; i += 1) {
          await page.goto(PRONOTE)
          if (page.url().startsWith(`${IDP}/login`)) return
          await page.waitForTimeout(100)
        }
        throw new CheckFailed(`Pronote still signed in: ${page.url()}`)
      })
      assert(page.reports.length === 0, `browser reports: ${page.reports.join(' | ')}`)
      await page.context().close()
    })

    await group('FranceConnect (the sandbox): Claire links her children, reaches the ENT, logs out everywhere', async () => {
      const page = await newPage(browser)
      await check('from the ENT: the guardians\' sign-in page puts "S\'identifier avec FranceConnect" first', async () => {
        await page.goto(ENT)
        await page.getByRole('link', { name: 'Se connecter' }).click()
        await page.waitForURL(/\/login/)
        await page.getByRole('link', { name: 'Représentant légal' }).first().click()
        await page.waitForURL(/profil=responsable/)
        const button = page.locator('#upstream-franceconnect')
        assert(await button.isVisible(), 'no FranceConnect button')
        const what = page.getByRole('link', { name: "Qu'est-ce que FranceConnect ?" })
        assert((await what.getAttribute('target')) === '_blank', 'the link does not open a new tab')
        const logo = await page.locator('#upstream-franceconnect img').evaluate((img) => img.naturalWidth)
        assert(logo > 0, 'the logo did not load')
        await shot(page, '5-fc-button')
      }, { required: true })
      await check('the sandbox: Claire picked; back at the IdP, "Rattacher des élèves"', async () => {
        await page.locator('#upstream-franceconnect').click()
        await page.waitForURL(/\/api\/v2\/authorize/)
        await page.locator('#identite-claire').click()
        await page.waitForURL(/\/rattacher-des-eleves\?id=/)
        await page.getByRole('link', { name: 'Rattacher des élèves' }).click()
        await page.waitForURL(/\/rattacher-des-eleves\/dates/)
      }, { required: true })
      await check('the children\'s birth dates confirmed: the summary, then the ENT signed in with FrEduOrigAuth FC', async () => {
        // named only by their order (eldest first) until the dates are right
        const fields = page.locator('fieldset.child input')
        assert((await fields.count()) === 2, 'two children to confirm')
        assert(!(await page.textContent('main')).includes('Léa'), 'a child named before the dates')
        await fields.nth(0).fill('2012-03-14')
        await fields.nth(1).fill('2015-09-02')
        await shot(page, '6-fc-dates')
        await page.getByRole('button', { name: 'Confirmer' }).click()
        await page.waitForSelector('text=Votre compte est prêt')
        await shot(page, '7-fc-summary')
        assert((await page.textContent('#enfants')).includes('Léa M. – Collège Jean Moulin, 4e A'), 'the children on the summary')
        await page.getByRole('link', { name: 'Accéder à mes services' }).click()
        try {
          await page.waitForURL((url) => url.href === ENT, { timeout: 15000 })
        } catch {
          throw new CheckFailed(`not at the ENT: ${page.url()}; browser reports: ${page.reports.join(' | ') || 'none'}`)
        }
        const text = await page.textContent('main')
        assert(text.includes('Bonjour Claire MARTIN'), 'the ENT does not show Claire')
        assert(text.includes('"FrEduOrigAuth": "FC"'), 'FrEduOrigAuth is not FC')
      }, { required: true })
      await check('the IdP\'s own "Se déconnecter": through FranceConnect\'s session/end, then the services listed', async () => {
        await page.goto(`${IDP}/`)
        assert((await page.textContent('main')).includes('Vous vous êtes connecté avec FranceConnect'), 'no FranceConnect note')
        const seen = []
        // redirects are not committed navigations: the requests show the way through
        page.on('request', (r) => { if (r.isNavigationRequest()) seen.push(r.url()) })
        await page.getByRole('button', { name: 'Se déconnecter' }).click()
        // the logout page, on by itself to the sandbox's session/end, back to the list
        const deadline = Date.now() + 15000
        while (!(seen.some((u) => u.includes('/api/v2/session/end')) && /\/deconnexion\?id=/.test(page.url()) && !(await page.locator('#logout-next').count()))) {
          if (Date.now() > deadline) {
            throw new CheckFailed(`the logout did not go through the sandbox and back: ${seen.join(' → ')}; browser reports: ${page.reports.join(' | ') || 'none'}`)
          }
          await page.waitForTimeout(100)
        }
        const lines = await page.locator('#logout-services li').allTextContents()
        assert(lines.some((l) => l.includes('ENT de démonstration')), `lines: ${lines}`)
        await page.goto(ENT)
        assert(!(await page.textContent('main')).includes('Bonjour'), 'the ENT session is still there')
      })
      assert(page.reports.length === 0, `browser reports: ${page.reports.join(' | ')}`)
      await page.context().close()
    })

    await group('First connection (Hugo, temporary password) from Pronote', async () => {
      const page = await newPage(browser)
      await check('Pronote → the IdP; the temporary password leads to "Première connexion"', async () => {
        await page.goto(PRONOTE)
        await page.waitForURL(/\/login/)
        await page.getByRole('link', { name: 'Élève' }).first().click()
        await page.waitForURL(/profil=eleve/)
        await page.fill('input[name=identifier]', 'hugo.martin')
        await page.fill('input[name=password]', 'Provisoire-2026')
        await page.getByRole('button', { name: 'Se connecter' }).click()
        await page.waitForURL(/\/premiere-connexion\?id=/)
        await audit(page, 'first connection: a password of his own')
        await readmeShot(page, 'premiere-connexion')
      }, { required: true })
      await check('a password of his own (a refused one first), then his birth date: activated', async () => {
        await page.fill('input[name=password]', 'hugo2026x')
        await page.fill('input[name=confirmation]', 'hugo2026x')
        await page.getByRole('button', { name: 'Suivant' }).click()
        await page.waitForSelector('#erreur')
        assert((await page.textContent('#erreur')).includes('ni votre nom ni votre prénom'), 'no French explanation')
        await audit(page, 'first connection: a refused password, its error tied to the field')
        await page.fill('input[name=password]', 'Trottinette-42')
        await page.fill('input[name=confirmation]', 'Trottinette-42')
        await page.getByRole('button', { name: 'Suivant' }).click()
        await page.waitForSelector('text=Confirmez votre date de naissance')
        await audit(page, 'first connection: the birth date')
        await page.fill('input[name=naissance]', '2015-09-02')
        await page.getByRole('button', { name: 'Confirmer' }).click()
        await page.waitForSelector('text=Votre compte est activé')
        await shot(page, '8-activated')
      }, { required: true })
      await check('"Accéder à mes services": back at Pronote, signed in as Hugo', async () => {
        await page.getByRole('link', { name: 'Accéder à mes services' }).click()
        try {
          await page.waitForURL((url) => url.href === PRONOTE, { timeout: 15000 })
        } catch {
          throw new CheckFailed(`not at Pronote: ${page.url()}; browser reports: ${page.reports.join(' | ') || 'none'}`)
        }
        assert((await page.textContent('main')).includes('Bonjour Hugo MARTIN'), 'Pronote does not show Hugo')
      })
      assert(page.reports.length === 0, `browser reports: ${page.reports.join(' | ')}`)
      await page.context().close()
    })
    await group('Sign-up by mobile (Paul, the SMS read on /dev/outbox)', async () => {
      const page = await newPage(browser)
      await check('"Je n\'ai pas de compte": names and mobile, then the code page', async () => {
        await page.goto(`${IDP}/login?profil=responsable`)
        await page.getByRole('link', { name: "Je n'ai pas de compte" }).click()
        await page.waitForURL(/\/inscription$/)
        await audit(page, 'sign-up: names and mobile')
        await page.fill('input[name=nom]', 'DURAND')
        await page.fill('input[name=prenom]', 'Paul')
        await page.fill('input[name=portable]', '06 12 34 56 78')
        await page.getByRole('button', { name: 'Recevoir un code par SMS' }).click()
        await page.waitForURL(/\/inscription\/etape\?id=/)
        await audit(page, 'sign-up: the SMS code')
      }, { required: true })
      const code = await check('the SMS is on the demo outbox page', async () => {
        const outbox = await page.context().newPage()
        await outbox.goto(`${IDP}/dev/outbox`)
        const text = await outbox.locator('article', { hasText: 'SMS à +33612345678' }).first().locator('pre').textContent()
        await outbox.close()
        const found = text.match(/\b(\d{6})\b/)
        assert(found, `no code in: ${text}`)
        return found[1]
      }, { required: true })
      await check('the code, Jules\'s birth date and a password: the identifier is shown', async () => {
        await page.fill('input[name=code]', code)
        await page.getByRole('button', { name: 'Valider' }).click()
        await page.waitForSelector('text=Premier enfant')
        await audit(page, 'sign-up: the children\'s birth dates')
        await page.fill('input[name^=naissance-]', '2013-06-21')
        await page.getByRole('button', { name: 'Confirmer' }).click()
        await page.waitForSelector('input[name=confirmation]')
        await audit(page, 'sign-up: the password')
        await page.fill('input[name=password]', 'Velo-Rouge-2026')
        await page.fill('input[name=confirmation]', 'Velo-Rouge-2026')
        await page.getByRole('button', { name: 'Créer mon compte' }).click()
        await page.waitForSelector('text=Votre compte est créé')
        assert((await page.textContent('#identifiant')) === 'paul.durand', 'not paul.durand')
        await shot(page, '9-signed-up')
      }, { required: true })
      await check('"Accéder à mes services": the IdP\'s home lists Jules', async () => {
        await page.getByRole('link', { name: 'Accéder à mes services' }).click()
        await page.waitForSelector('text=Jules')
      })
      assert(page.reports.length === 0, `browser reports: ${page.reports.join(' | ')}`)
      await page.context().close()
    })
    await group('Mon compte: Valérie\'s new pupil found by an import, Marc\'s two accounts, a child\'s password', async () => {
      const page = await newPage(browser)
      await check('from the ENT, Valérie signs in and is asked about a new pupil; "Plus tard" goes on to the ENT', async () => {
        await page.goto(ENT)
        await page.getByRole('link', { name: 'Se connecter' }).click()
        await page.waitForURL(/\/login/)
        await page.getByRole('link', { name: 'Représentant légal' }).first().click()
        await page.waitForURL(/profil=/)
        await page.fill('input[name=identifier]', 'valerie.leroy')
        await page.fill('input[name=password]', 'Parent-2026!')
        await page.getByRole('button', { name: 'Se connecter' }).click()
        await page.waitForURL(/\/compte\/nouvel-eleve\?suite=/)
        await page.waitForSelector("text=Un nouvel élève a été trouvé")
        const text = await page.textContent('main')
        assert(text.includes('École élémentaire Jules Ferry'), 'no school named')
        assert(!text.includes('Lou'), 'the child named before the date')
        await shot(page, '10-nouvel-eleve')
        await page.getByRole('button', { name: 'Plus tard' }).click()
        try {
          await page.waitForURL((url) => url.href === ENT, { timeout: 15000 })
        } catch {
          throw new CheckFailed(`not back at the ENT: at ${page.url()}; browser reports: ${page.reports.join(' | ') || 'none'}`)
        }
      }, { required: true })
      await check('"Mes enfants" offers the pupil again; her birth date adds Lou', async () => {
        await page.goto(`${IDP}/compte/enfants`)
        await page.getByRole('link', { name: /Un nouvel élève a été trouvé/ }).click()
        await page.waitForURL(/\/compte\/nouvel-eleve/)
        await page.fill('input[name^=naissance-]', '23/10/2017')
        await page.getByRole('button', { name: 'Ajouter à mon compte' }).click()
        await page.waitForSelector('text=Élève ajouté à votre compte')
        await page.getByRole('link', { name: 'Continuer' }).click()
        await page.waitForURL(`${IDP}/compte/enfants`)
        const text = await page.textContent('main')
        assert(text.includes('Lou LEROY') && text.includes('Nina LEROY'), `children: ${text}`)
      })
      assert(page.reports.length === 0, `browser reports: ${page.reports.join(' | ')}`)
      await page.context().close()

      const marc = await newPage(browser)
      await check('Marc takes Malo from his second account ("Ajouter des élèves depuis un autre compte")', async () => {
        await marc.goto(`${IDP}/login?profil=responsable`)
        await marc.fill('input[name=identifier]', 'marc.petit')
        await marc.fill('input[name=password]', 'Parent-2026!')
        await marc.getByRole('button', { name: 'Se connecter' }).click()
        await marc.waitForURL(`${IDP}/`)
        await marc.getByRole('link', { name: 'Mon compte' }).click()
        await marc.waitForURL(`${IDP}/compte`)
        await shot(marc, '11-mes-informations')
        await readmeShot(marc, 'mon-compte')
        await marc.getByRole('link', { name: 'Mes enfants' }).click()
        await marc.waitForURL(`${IDP}/compte/enfants`)
        await marc.fill('input[name=identifiant]', 'marc.petit2')
        await marc.fill('#autre-mot-de-passe', 'Regroupement-2026')
        await marc.getByRole('button', { name: 'Ajouter les élèves' }).click()
        await marc.waitForURL(/regroupe=1/)
        const text = await marc.textContent('main')
        assert(text.includes('Malo PETIT') && text.includes('Lycée Victor Hugo'), `children: ${text}`)
        assert(text.includes('Les élèves du compte marc.petit2 sont maintenant sur votre compte'), `no notice: ${text}`)
        await shot(marc, '12-mes-enfants')
      }, { required: true })
      await check('a new temporary password for Emma, shown once, with a working "Imprimer" button', async () => {
        await marc.getByRole('button', { name: 'Réinitialiser le mot de passe de Emma PETIT' }).click()
        await marc.waitForSelector('#mot-de-passe-provisoire')
        const password = await marc.textContent('#mot-de-passe-provisoire')
        assert(/^[a-z2-9]{4}-[a-z2-9]{4}-[a-z2-9]{4}$/.test(password), `password: ${password}`)
        // print.js runs under the page's own policy: it shows the button
        await marc.getByRole('button', { name: 'Imprimer' }).waitFor({ state: 'visible' })
        await shot(marc, '13-mot-de-passe-enfant')
      })
      await check('"Historique" lists the merge and the sign-in', async () => {
        await marc.goto(`${IDP}/compte/historique`)
        await audit(marc, 'Mon compte: Historique')
        const text = await marc.textContent('main')
        assert(text.includes('Élèves ajoutés depuis un autre compte'), `history: ${text}`)
        assert(text.includes('avec votre identifiant et votre mot de passe'), `history: ${text}`)
      })
      assert(marc.reports.length === 0, `browser reports: ${marc.reports.join(' | ')}`)
      await marc.context().close()
    })

    await group('Administration: the collège regenerates the passwords of 4e A and downloads the letters', async () => {
      const page = await newPage(browser)
      await check('"Personnel / Autre et invité", password, then the code of the authenticator app', async () => {
        await page.goto(`${IDP}/login?changer=1`)
        await page.getByRole('link', { name: 'Personnel / Autre et invité' }).click()
        await page.waitForURL(`${IDP}/admin/connexion`)
        await audit(page, 'the staff sign-in')
        await page.fill('input[name=identifier]', 'admin.college')
        await page.fill('input[name=password]', 'Direction-College-2026')
        await page.getByRole('button', { name: 'Continuer' }).click()
        await page.waitForURL(`${IDP}/admin/connexion/code`)
        await audit(page, 'the staff sign-in: the second factor')
        await page.fill('input[name=code]', totp(DEMO_TOTP_SECRET))
        await page.getByRole('button', { name: 'Valider' }).click()
        await page.waitForURL(`${IDP}/admin/0141234A/comptes`)
      }, { required: true })
      await check('the search: 20 a page, with their states', async () => {
        await page.selectOption('#profil', 'eleve')
        await page.getByRole('button', { name: 'Rechercher' }).click()
        await page.waitForURL(/profil=eleve/)
        const rows = await page.locator('table.accounts tbody tr').count()
        assert(rows === 20, `rows: ${rows}`)
        const text = await page.textContent('main')
        assert(text.includes('État') && text.includes('Non activé'), `states: ${text.slice(0, 400)}`)
        await shot(page, '14-administration-recherche')
        await readmeShot(page, 'administration-recherche', { width: 1100, height: 800 })
        await page.getByRole('link', { name: 'suivant ›' }).click()
        await page.waitForURL(/page=2/)
      })
      await check('"Classes et activation", then the 4e A pupils\' passwords, confirmed', async () => {
        await page.getByRole('link', { name: 'Classes et activation' }).click()
        await page.waitForURL(`${IDP}/admin/0141234A/classes`)
        await shot(page, '15-administration-classes')
        await page.getByRole('button', { name: 'Régénérer les mots de passe des élèves de 4e A' }).click()
        await page.waitForSelector('text=Régénérer le mot de passe de')
        await page.getByRole('button', { name: 'Régénérer les mots de passe' }).click()
        await page.waitForSelector('text=Message à copier et coller')
        const message = await page.inputValue('#message')
        assert(message.includes('Identifiant : lea.martin'), `message: ${message.slice(0, 300)}`)
        await shot(page, '16-administration-mots-de-passe')
      }, { required: true })
      await check('"Télécharger les courriers (PDF)": one PDF for the class', async () => {
        const [download] = await Promise.all([
          page.waitForEvent('download'),
          page.getByRole('link', { name: 'Télécharger les courriers (PDF)' }).click(),
        ])
        assert(download.suggestedFilename() === '0141234A-4e_A.pdf', `file: ${download.suggestedFilename()}`)
        const stream = await download.createReadStream()
        const chunks = []
        for await (const chunk of stream) chunks.push(chunk)
        const pdf = Buffer.concat(chunks)
        assert(pdf.subarray(0, 8).toString() === '%PDF-1.4', 'not a PDF')
      })
      assert(page.reports.length === 0, `browser reports: ${page.reports.join(' | ')}`)
      await page.context().close()
    })

    await group('Recovery: Claire\'s forgotten identifier by SMS, then a new password with a code', async () => {
      const page = await newPage(browser)
      const outboxCode = async (pattern) => {
        const outbox = await page.context().newPage()
        await outbox.goto(`${IDP}/dev/outbox`)
        const text = await outbox.locator('article', { hasText: 'SMS à +33611223344' }).first().locator('pre').textContent()
        await outbox.close()
        const found = text.match(pattern)
        assert(found, `not in the SMS: ${text}`)
        return found[1]
      }
      await check('"Identifiant oublié ?": her mobile, and the identifier arrives by SMS', async () => {
        await page.goto(`${IDP}/login?profil=responsable`)
        await page.getByRole('link', { name: 'Identifiant oublié ?' }).click()
        await page.waitForURL(`${IDP}/identifiant-oublie`)
        await page.fill('input[name=contact]', '06 11 22 33 44')
        await page.getByRole('button', { name: 'Recevoir mon identifiant' }).click()
        await page.waitForLoadState()
        await audit(page, 'recovery: the identifier sent')
        assert(await outboxCode(/(claire\.martin)/) === 'claire.martin', 'no identifier in the SMS')
      }, { required: true })
      await check('"Mot de passe oublié ?": a code by SMS, then a new password, then a sign-in with it', async () => {
        await page.goto(`${IDP}/mot-de-passe-oublie`)
        await page.fill('input[name=identifiant]', 'claire.martin')
        await page.check('input[name=canal][value=sms]')
        await page.getByRole('button', { name: 'Continuer' }).click()
        await page.waitForURL(/\/mot-de-passe-oublie\/code\?id=/)
        await audit(page, 'recovery: the SMS code')
        await page.fill('input[name=code]', await outboxCode(/\b(\d{6})\b/))
        await page.getByRole('button', { name: 'Valider' }).click()
        await page.waitForURL(/\/mot-de-passe-oublie\/nouveau/)
        await audit(page, 'recovery: the new password')
        await page.fill('input[name=password]', 'Jardin-Bleu-77')
        await page.fill('input[name=confirmation]', 'Jardin-Bleu-77')
        await page.getByRole('button', { name: 'Enregistrer' }).click()
        await page.waitForSelector('text=Mot de passe changé')
        await shot(page, '17-mot-de-passe-change')
        await page.goto(`${IDP}/login?profil=responsable`)
        await page.fill('input[name=identifier]', 'claire.martin')
        await page.fill('input[name=password]', 'Jardin-Bleu-77')
        await page.getByRole('button', { name: 'Se connecter' }).click()
        await page.waitForURL(`${IDP}/`)
        assert((await page.textContent('main')).includes('Léa'), 'her children are not listed')
      })
      assert(page.reports.length === 0, `browser reports: ${page.reports.join(' | ')}`)
      await page.context().close()
    })
  } finally {
    await browser.close()
  }
}

try {
  await main()
} catch (err) {
  failed += 1
  console.log('not ok - unexpected error')
  for (const line of String(err?.stack ?? err).split('\n')) console.log(`  # ${line}`)
}
const seriousTotal = audited.reduce((n, a) => n + a.serious.length, 0)
const minorTotal = audited.reduce((n, a) => n + a.violations.length - a.serious.length, 0)
console.log(`# axe-core (WCAG 2.1 A + AA): ${audited.length} page states audited, ${seriousTotal} serious or critical violations, ${minorTotal} minor`)
for (const a of audited) {
  console.log(`#   ${a.serious.length === 0 ? 'ok' : 'VIOLATIONS'}  ${a.path.padEnd(34)} ${String(a.rules).padStart(2)} rules passed  ${a.name}`)
}
console.log(`# chromium: ${passed} checks ok, ${failed} not ok`)
process.exitCode = failed === 0 && passed > 0 ? 0 : 1
