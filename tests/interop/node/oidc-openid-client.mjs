// Interoperability test: the identity provider as seen by panva's openid-client v6
// (an OpenID Certified relying-party library), through its functional API.
//
// The script plays two roles:
//   - the relying party `ent-demo` (client_secret_basic, ES256 ID tokens), through openid-client;
//   - the user's browser, with plain fetch (redirect: 'manual') and a small cookie jar,
//     signing in on the provider's HTML login page.
// Nothing listens on the client's redirect_uri: the Location of the provider's final redirect
// is handed to openid-client as the "current URL" of the callback.
//
// Environment: IDP_ISSUER (e.g. http://127.0.0.1:20000), IDP_PORT (the same port).
// Output: one line per check, `ok - …` or `not ok - …`; exit status 0 only if all passed.

import * as client from 'openid-client'

const ISSUER = process.env.IDP_ISSUER
const PORT = Number(process.env.IDP_PORT)
if (!ISSUER || !Number.isInteger(PORT)) {
  console.error('IDP_ISSUER and IDP_PORT must be set (e.g. IDP_ISSUER=http://127.0.0.1:20000 IDP_PORT=20000)')
  process.exit(2)
}

const CLIENT_ID = 'ent-demo'
const CLIENT_SECRET = 'ent-demo-secret'
const REDIRECT_URI = `http://127.0.0.1:${PORT + 1}/callback`
const POST_LOGOUT_REDIRECT_URI = `http://127.0.0.1:${PORT + 1}/`
const UNREGISTERED_REDIRECT_URI = `http://127.0.0.1:${PORT + 1}/evil`
const SCOPE = 'openid profile offline_access'
const HTTP_TIMEOUT_MS = 20_000

const LEA = { identifier: 'lea.martin', password: 'Cartable-2026', profile: 'eleve', givenName: 'Léa', familyName: 'MARTIN' }
const CLAIRE = { identifier: 'claire.martin', password: 'Parent-2026!', profile: 'responsable', givenName: 'Claire', familyName: 'MARTIN' }

// ---------------------------------------------------------------------------------------------
// Reporting

let passed = 0
let failed = 0

class CheckFailed extends Error {}

function fail(message) {
  throw new CheckFailed(message)
}

function assert(condition, message) {
  if (!condition) fail(message)
}

function assertEqual(actual, expected, what) {
  if (actual !== expected) {
    fail(`${what}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`)
  }
}

function describeError(err) {
  if (err instanceof CheckFailed) return err.message
  const parts = [`${err?.name ?? 'Error'}: ${err?.message ?? String(err)}`]
  if (err?.code) parts.push(`code=${err.code}`)
  if (err?.status) parts.push(`status=${err.status}`)
  if (err?.error) parts.push(`error=${err.error}`)
  if (err?.error_description) parts.push(`error_description=${JSON.stringify(err.error_description)}`)
  const cause = err?.cause
  if (cause instanceof URLSearchParams) parts.push(`response params: ${cause.toString()}`)
  else if (cause instanceof Error) parts.push(`cause: ${cause.name}: ${cause.message}${cause.code ? ` (${cause.code})` : ''}`)
  else if (cause && typeof cause === 'object') {
    try {
      parts.push(`cause: ${JSON.stringify(cause)}`)
    } catch {
      parts.push(`cause: ${String(cause)}`)
    }
  }
  return parts.join('; ')
}

// Runs one check. A failed check prints `not ok` and, by default, returns undefined; with
// `{ required: true }` it also aborts the current group of dependent checks.
class GroupAborted extends Error {}

async function check(name, fn, { required = false } = {}) {
  try {
    const value = await fn()
    passed += 1
    console.log(`ok - ${name}`)
    return value
  } catch (err) {
    failed += 1
    console.log(`not ok - ${name}`)
    for (const line of describeError(err).split('\n')) console.log(`  # ${line}`)
    if (required) throw new GroupAborted(name)
    return undefined
  }
}

async function group(title, fn) {
  console.log(`# ${title}`)
  try {
    return await fn()
  } catch (err) {
    if (err instanceof GroupAborted) {
      console.log(`  # remaining checks of "${title}" skipped: "${err.message}" failed`)
      return undefined
    }
    failed += 1
    console.log(`not ok - ${title}: unexpected error`)
    for (const line of describeError(err).split('\n')) console.log(`  # ${line}`)
    return undefined
  }
}

// ---------------------------------------------------------------------------------------------
// A minimal browser: cookie jar + manual redirects.

function decodeHtml(text) {
  return text.replace(/&(#x[0-9a-fA-F]+|#[0-9]+|amp|lt|gt|quot|apos);/g, (_, entity) => {
    switch (entity) {
      case 'amp': return '&'
      case 'lt': return '<'
      case 'gt': return '>'
      case 'quot': return '"'
      case 'apos': return "'"
      default:
        return entity[1] === 'x' || entity[1] === 'X'
          ? String.fromCodePoint(parseInt(entity.slice(2), 16))
          : String.fromCodePoint(parseInt(entity.slice(1), 10))
    }
  })
}

function hiddenInput(html, name) {
  const match = html.match(new RegExp(`name="${name}"\\s+value="([^"]*)"`))
  return match ? decodeHtml(match[1]) : undefined
}

class Browser {
  constructor(label) {
    this.label = label
    this.cookies = new Map() // all cookies are host-only on 127.0.0.1, Path=/
  }

  cookieHeader() {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ')
  }

  storeCookies(response) {
    for (const line of response.headers.getSetCookie()) {
      const [pair, ...attributes] = line.split(';')
      const eq = pair.indexOf('=')
      if (eq <= 0) continue
      const name = pair.slice(0, eq).trim()
      const value = pair.slice(eq + 1).trim()
      const attrs = attributes.map((a) => a.trim().toLowerCase())
      const maxAge = attrs.find((a) => a.startsWith('max-age='))
      const expires = attributes.map((a) => a.trim()).find((a) => a.toLowerCase().startsWith('expires='))
      const expired =
        (maxAge !== undefined && Number(maxAge.slice(8)) <= 0) ||
        (expires !== undefined && Date.parse(expires.slice(8)) <= Date.now())
      if (expired || value === '') this.cookies.delete(name)
      else this.cookies.set(name, value)
    }
  }

  async request(method, url, { form } = {}) {
    const headers = { 'user-agent': 'idp-interop-openid-client-browser', accept: 'text/html,*/*' }
    const cookie = this.cookieHeader()
    if (cookie) headers.cookie = cookie
    let body
    if (form) {
      body = new URLSearchParams(form).toString()
      headers['content-type'] = 'application/x-www-form-urlencoded'
      headers.origin = new URL(url).origin
    }
    const response = await fetch(url, {
      method,
      headers,
      body,
      redirect: 'manual',
      signal: AbortSignal.timeout(HTTP_TIMEOUT_MS),
    })
    this.storeCookies(response)
    const text = await response.text()
    const location = response.headers.get('location')
    return {
      method,
      url: String(url),
      status: response.status,
      contentType: response.headers.get('content-type') ?? '',
      location: location === null ? undefined : new URL(location, url),
      rawLocation: location ?? undefined,
      text,
    }
  }

  get(url) {
    return this.request('GET', url)
  }

  post(url, form) {
    return this.request('POST', url, { form })
  }
}

function isRedirect(status) {
  return [301, 302, 303, 307, 308].includes(status)
}

function snippet(text) {
  const flat = text.replace(/\s+/g, ' ').trim()
  return flat.length > 300 ? `${flat.slice(0, 300)}…` : flat
}

function describeResponse(r) {
  return `${r.method} ${r.url} -> ${r.status}${r.rawLocation ? ` Location: ${r.rawLocation}` : ''}${r.text ? ` body: ${snippet(r.text)}` : ''}`
}

function atRedirectUri(location, redirectUri) {
  const target = new URL(redirectUri)
  return location.origin === target.origin && location.pathname === target.pathname
}

// Drives the browser from the authorization URL to the provider's redirect back to the client.
// `user` is who types their password if the login page appears; null when no login page may
// appear (SSO, prompt=none). Returns { callback: URL, sawLogin, firstRedirect }.
async function authorizeInBrowser(browser, authorizationUrl, user, redirectUri = REDIRECT_URI) {
  let url = new URL(authorizationUrl)
  let sawLogin = false
  let firstRedirect
  for (let hop = 0; hop < 10; hop += 1) {
    const r = await browser.get(url)
    if (isRedirect(r.status)) {
      assert(r.location, `redirect without Location: ${describeResponse(r)}`)
      if (firstRedirect === undefined) firstRedirect = r
      if (atRedirectUri(r.location, redirectUri)) {
        return { callback: r.location, sawLogin, firstRedirect, response: r }
      }
      assertEqual(r.location.origin, new URL(ISSUER).origin, `redirect leaves the provider (${describeResponse(r)})`)
      url = r.location
      continue
    }
    if (r.status === 200 && url.pathname === '/login') {
      if (!user) fail(`the login page was shown where none was expected: GET ${url} -> 200`)
      assert(!sawLogin, `the login page was shown again after signing in: ${snippet(r.text)}`)
      sawLogin = true
      const csrf = hiddenInput(r.text, 'csrf')
      const typeUser = hiddenInput(r.text, 'typeUser')
      const next = hiddenInput(r.text, 'next')
      assert(csrf, `login page has no hidden input name="csrf": ${snippet(r.text)}`)
      assert(typeUser !== undefined, 'login page has no hidden input name="typeUser"')
      assert(next !== undefined, 'login page has no hidden input name="next"')
      assertEqual(typeUser, user.profile, 'typeUser on the login page')
      const posted = await browser.post(new URL('/login', ISSUER), {
        csrf,
        typeUser,
        next,
        identifier: user.identifier,
        password: user.password,
      })
      if (posted.status !== 303) {
        fail(`sign-in of ${user.identifier} was not accepted: POST /login -> ${posted.status}${posted.rawLocation ? ` Location: ${posted.rawLocation}` : ''} ${snippet(posted.text)}`)
      }
      assert(posted.location, 'POST /login answered 303 without Location')
      url = posted.location
      continue
    }
    fail(`unexpected answer in the authorization flow: ${describeResponse(r)}`)
  }
  fail(`more than 10 hops from ${authorizationUrl}`)
}

// ---------------------------------------------------------------------------------------------
// Relying-party helpers on top of openid-client

async function startAuthorization(config, { profile, prompt, redirectUri = REDIRECT_URI } = {}) {
  const codeVerifier = client.randomPKCECodeVerifier()
  const codeChallenge = await client.calculatePKCECodeChallenge(codeVerifier)
  const state = client.randomState()
  const nonce = client.randomNonce()
  const parameters = {
    redirect_uri: redirectUri,
    scope: SCOPE,
    code_challenge: codeChallenge,
    code_challenge_method: 'S256',
    state,
    nonce,
  }
  if (profile) parameters.acr_values = profile
  if (prompt) parameters.prompt = prompt
  const url = client.buildAuthorizationUrl(config, parameters)
  return { url, codeVerifier, state, nonce }
}

async function exchange(config, callback, request) {
  return client.authorizationCodeGrant(config, callback, {
    pkceCodeVerifier: request.codeVerifier,
    expectedState: request.state,
    expectedNonce: request.nonce,
  })
}

async function expectOAuthError(promise, expected, what) {
  let result
  try {
    result = await promise
  } catch (err) {
    const code = err?.error
    if (code === expected) return err
    fail(`${what}: expected error ${expected}, got ${describeError(err)}`)
  }
  fail(`${what}: expected error ${expected}, but it succeeded (${JSON.stringify(Object.keys(result ?? {}))})`)
}

function decodeJwtHeader(jwt) {
  return JSON.parse(Buffer.from(jwt.split('.')[0], 'base64url').toString('utf8'))
}

// Full sign-in of `user` in `browser`, code exchange and ID token checks. Returns the session.
async function signInAndExchange(config, browser, user, label) {
  const request = await startAuthorization(config, { profile: user.profile })
  const flow = await check(`${label}: authorization request leads to the login page and back to the redirect_uri`, async () => {
    const result = await authorizeInBrowser(browser, request.url, user)
    assert(result.sawLogin, 'no login page was shown in a fresh browser')
    const first = result.firstRedirect.location
    assertEqual(first.pathname, '/login', 'first redirect path')
    assertEqual(first.searchParams.get('profil'), user.profile, 'profil in the redirect to /login')
    assert(result.callback.searchParams.get('code'), `no code in ${result.callback}`)
    assertEqual(result.callback.searchParams.get('state'), request.state, 'state in the callback')
    assertEqual(result.callback.searchParams.get('iss'), ISSUER, 'iss in the callback (RFC 9207)')
    return result
  }, { required: true })

  const tokens = await check(`${label}: authorizationCodeGrant (PKCE S256, state, nonce, iss, ES256 ID token validated by openid-client)`, async () => {
    const t = await exchange(config, flow.callback, request)
    assert(t.access_token, 'no access_token')
    assert(t.id_token, 'no id_token')
    assert(t.refresh_token, 'no refresh_token (ent-demo may use refresh tokens)')
    assertEqual(t.token_type?.toLowerCase(), 'bearer', 'token_type')
    assertEqual(decodeJwtHeader(t.id_token).alg, 'ES256', 'ID token alg')
    return t
  }, { required: true })

  const claims = await check(`${label}: ID token has sub and auth_time, aud=${CLIENT_ID}, iss=${ISSUER}`, async () => {
    const c = tokens.claims()
    assert(c, 'no ID token claims')
    assert(typeof c.sub === 'string' && c.sub.length > 0, `sub missing: ${JSON.stringify(c)}`)
    assert(typeof c.auth_time === 'number', `auth_time missing or not a number: ${JSON.stringify(c)}`)
    assertEqual(c.iss, ISSUER, 'iss')
    const aud = Array.isArray(c.aud) ? c.aud : [c.aud]
    assert(aud.includes(CLIENT_ID), `aud ${JSON.stringify(c.aud)} does not contain ${CLIENT_ID}`)
    assertEqual(c.nonce, request.nonce, 'nonce')
    return c
  }, { required: true })

  await check(`${label}: userinfo returns the same sub, given_name ${JSON.stringify(user.givenName)}, family_name ${JSON.stringify(user.familyName)}`, async () => {
    const info = await client.fetchUserInfo(config, tokens.access_token, claims.sub)
    assertEqual(info.sub, claims.sub, 'userinfo sub')
    assertEqual(info.given_name, user.givenName, 'userinfo given_name')
    assertEqual(info.family_name, user.familyName, 'userinfo family_name')
  })

  return { request, flow, tokens, claims }
}

// ---------------------------------------------------------------------------------------------

async function main() {
  console.log(`# openid-client against ${ISSUER} as ${CLIENT_ID}`)

  const config = await group('discovery', async () => {
    const cfg = await check('discovery of the issuer (allowInsecureRequests: plain http on 127.0.0.1)', () =>
      client.discovery(
        new URL(ISSUER),
        CLIENT_ID,
        { client_secret: CLIENT_SECRET, id_token_signed_response_alg: 'ES256' },
        client.ClientSecretBasic(CLIENT_SECRET),
        { execute: [client.allowInsecureRequests], timeout: HTTP_TIMEOUT_MS / 1000 },
      ), { required: true })
    await check('discovery document advertises the contract endpoints and capabilities', () => {
      const m = cfg.serverMetadata()
      assertEqual(m.issuer, ISSUER, 'issuer')
      const endpoints = {
        authorization_endpoint: '/oidc/authorize',
        token_endpoint: '/oidc/token',
        userinfo_endpoint: '/oidc/userinfo',
        jwks_uri: '/oidc/jwks',
        revocation_endpoint: '/oidc/revoke',
        introspection_endpoint: '/oidc/introspect',
        end_session_endpoint: '/oidc/logout',
      }
      for (const [key, path] of Object.entries(endpoints)) assertEqual(m[key], `${ISSUER}${path}`, key)
      assertEqual(m.authorization_response_iss_parameter_supported, true, 'authorization_response_iss_parameter_supported')
      assert(m.response_types_supported?.includes('code'), `response_types_supported: ${JSON.stringify(m.response_types_supported)}`)
      assert(m.code_challenge_methods_supported?.includes('S256'), `code_challenge_methods_supported: ${JSON.stringify(m.code_challenge_methods_supported)}`)
      assert(m.token_endpoint_auth_methods_supported?.includes('client_secret_basic'), `token_endpoint_auth_methods_supported: ${JSON.stringify(m.token_endpoint_auth_methods_supported)}`)
      assert(m.id_token_signing_alg_values_supported?.includes('ES256'), `id_token_signing_alg_values_supported: ${JSON.stringify(m.id_token_signing_alg_values_supported)}`)
    })
    return cfg
  })
  if (!config) return

  // Léa, browser A: sign-in, tokens, userinfo, refresh rotation and family revocation.
  const browserA = new Browser('A')
  const lea = await group('Léa (eleve): code flow with PKCE, ID token, userinfo', () =>
    signInAndExchange(config, browserA, LEA, 'Léa'))

  if (lea) {
    await group('refresh token rotation and reuse detection', async () => {
      const oldRefresh = lea.tokens.refresh_token
      const refreshed = await check('refreshTokenGrant returns a new access token and a new refresh token', async () => {
        const t = await client.refreshTokenGrant(config, oldRefresh)
        assert(t.access_token, 'no access_token')
        assert(t.access_token !== lea.tokens.access_token, 'the access token did not change')
        assert(t.refresh_token, 'no refresh_token in the refresh response (rotation expected)')
        assert(t.refresh_token !== oldRefresh, 'the refresh token did not change (rotation expected)')
        return t
      }, { required: true })
      await check('the new access token works at userinfo', async () => {
        const info = await client.fetchUserInfo(config, refreshed.access_token, lea.claims.sub)
        assertEqual(info.sub, lea.claims.sub, 'userinfo sub')
      })
      await check('reusing the old (rotated) refresh token fails with invalid_grant', () =>
        expectOAuthError(client.refreshTokenGrant(config, oldRefresh), 'invalid_grant', 'refresh with the old token'))
      await check('after that reuse, the new refresh token fails too with invalid_grant (family revoked)', () =>
        expectOAuthError(client.refreshTokenGrant(config, refreshed.refresh_token), 'invalid_grant', 'refresh with the new token'))
    })

    const sso = await group('SSO in the same browser, authorization code replay', async () => {
      const request = await startAuthorization(config, { profile: LEA.profile })
      const flow = await check('a second authorization in the same browser gets a code without the login page', async () => {
        const result = await authorizeInBrowser(browserA, request.url, null)
        assert(!result.sawLogin, 'login page shown')
        assertEqual(result.callback.searchParams.get('state'), request.state, 'state')
        assert(result.callback.searchParams.get('code'), `no code in ${result.callback}`)
        return result
      }, { required: true })
      const tokens = await check('the SSO code is exchanged; the ID token is for the same sub and keeps auth_time', async () => {
        const t = await exchange(config, flow.callback, request)
        const c = t.claims()
        assertEqual(c.sub, lea.claims.sub, 'sub')
        assertEqual(c.auth_time, lea.claims.auth_time, 'auth_time (the user did not authenticate again)')
        return t
      }, { required: true })
      await check('replaying the same authorization code fails with invalid_grant', () =>
        expectOAuthError(exchange(config, flow.callback, request), 'invalid_grant', 'second use of the code'))
      return { tokens }
    })

    await group('prompt=none in a fresh browser', async () => {
      const fresh = new Browser('fresh')
      const request = await startAuthorization(config, { profile: LEA.profile, prompt: 'none' })
      const flow = await check('prompt=none without a session redirects to the redirect_uri with error=login_required and the state', async () => {
        const result = await authorizeInBrowser(fresh, request.url, null)
        const params = result.callback.searchParams
        assertEqual(params.get('error'), 'login_required', `error in ${result.callback}`)
        assertEqual(params.get('state'), request.state, 'state')
        assert(!params.has('code'), 'a code was issued')
        return result
      }, { required: true })
      await check('openid-client reports it as an AuthorizationResponseError login_required (iss checked)', async () => {
        try {
          await exchange(config, flow.callback, request)
        } catch (err) {
          if (err instanceof client.AuthorizationResponseError && err.error === 'login_required') return
          fail(`unexpected error: ${describeError(err)}`)
        }
        fail('authorizationCodeGrant succeeded on an error response')
      })
    })

    await group('unregistered redirect_uri', async () => {
      const request = await startAuthorization(config, { profile: LEA.profile, redirectUri: UNREGISTERED_REDIRECT_URI })
      await check(`an authorization request with redirect_uri ${UNREGISTERED_REDIRECT_URI} is answered 400 with an HTML page, not a redirect`, async () => {
        const r = await new Browser('evil').get(request.url)
        assert(!isRedirect(r.status), `the provider redirected: ${describeResponse(r)}`)
        assert(r.location === undefined, `Location header present: ${r.rawLocation}`)
        assertEqual(r.status, 400, `status (${describeResponse(r)})`)
        assert(r.contentType.startsWith('text/html'), `content-type ${JSON.stringify(r.contentType)}`)
      })
    })

    await group('RP-initiated logout (end session)', async () => {
      const idTokenHint = sso?.tokens?.id_token ?? lea.tokens.id_token
      const state = client.randomState()
      const url = client.buildEndSessionUrl(config, {
        id_token_hint: idTokenHint,
        post_logout_redirect_uri: POST_LOGOUT_REDIRECT_URI,
        state,
      })
      await check('the end-session URL redirects (303) exactly to the post_logout_redirect_uri with the state', async () => {
        const r = await browserA.get(url)
        assertEqual(r.status, 303, `status (${describeResponse(r)})`)
        assert(r.location, 'no Location')
        const expected = new URL(POST_LOGOUT_REDIRECT_URI)
        expected.searchParams.set('state', state)
        assertEqual(r.location.href, expected.href, 'Location')
      })
      await check('after logout, prompt=none in the same browser gives error=login_required', async () => {
        const request = await startAuthorization(config, { profile: LEA.profile, prompt: 'none' })
        const result = await authorizeInBrowser(browserA, request.url, null)
        assertEqual(result.callback.searchParams.get('error'), 'login_required', `error in ${result.callback}`)
        assertEqual(result.callback.searchParams.get('state'), request.state, 'state')
      })
    })
  }

  // Claire, her own browser: the other profile.
  const claire = await group('Claire (responsable): code flow with PKCE, ID token, userinfo', () =>
    signInAndExchange(config, new Browser('C'), CLAIRE, 'Claire'))
  if (lea && claire) {
    await check('Léa and Claire have different sub values', () =>
      assert(lea.claims.sub !== claire.claims.sub, `both have sub ${lea.claims.sub}`))
  }
}

try {
  await main()
} catch (err) {
  failed += 1
  console.log('not ok - unexpected error')
  for (const line of describeError(err).split('\n')) console.log(`  # ${line}`)
  if (err?.stack) console.log(err.stack.split('\n').map((l) => `  # ${l}`).join('\n'))
}
console.log(`# openid-client: ${passed} checks ok, ${failed} not ok`)
process.exitCode = failed === 0 && passed > 0 ? 0 : 1
