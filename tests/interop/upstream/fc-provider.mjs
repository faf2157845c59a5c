// panva's oidc-provider (OpenID-certified), configured like FranceConnect v2, for the
// interoperability test of the IdP's "S'identifier avec FranceConnect": FranceConnect's paths
// under /api/v2, ES256 ID tokens, userinfo as an ES256-signed JWT, scopes named after the
// claims of the identité pivot, acr eidas1, client_secret_post, RP-initiated logout at
// /api/v2/session/end. A small login page of its own (no devInteractions: they load a web
// font and never set acr) lets the test pick an identity or cancel.
//
// Environment: FC_PORT (where to listen on 127.0.0.1), IDP_ISSUER (the IdP, for its
// registered addresses), FC_CLIENT_ID and FC_CLIENT_SECRET (the IdP's registration).

import crypto from 'node:crypto'
import http from 'node:http'
import Provider from 'oidc-provider'

const PORT = Number(process.env.FC_PORT)
const IDP = process.env.IDP_ISSUER
const CLIENT_ID = process.env.FC_CLIENT_ID
const CLIENT_SECRET = process.env.FC_CLIENT_SECRET
if (!Number.isInteger(PORT) || !IDP || !CLIENT_ID || !CLIENT_SECRET) {
  console.error('FC_PORT, IDP_ISSUER, FC_CLIENT_ID and FC_CLIENT_SECRET must be set')
  process.exit(2)
}
const ISSUER = `http://127.0.0.1:${PORT}`

// The identité pivot of the test identities (FranceConnect's claim names).
const PEOPLE = {
  claire: {
    given_name: 'Claire Anne', family_name: 'DUPONT', preferred_username: 'MARTIN',
    birthdate: '1984-05-12', gender: 'female', birthplace: '75056', birthcountry: '99100',
    email: 'claire.dupont@example.fr',
  },
  paul: {
    given_name: 'Paul Jean', family_name: 'DURAND', birthdate: '1980-11-02', gender: 'male',
    birthplace: '69123', birthcountry: '99100', email: 'paul.durand@example.fr',
  },
}
const PIVOT = ['given_name', 'family_name', 'preferred_username', 'birthdate', 'gender', 'birthplace', 'birthcountry', 'email']

const { privateKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' })
const signingKey = { ...privateKey.export({ format: 'jwk' }), kid: 'fc-interop-es256', use: 'sig', alg: 'ES256' }

const provider = new Provider(ISSUER, {
  clients: [{
    client_id: CLIENT_ID,
    client_secret: CLIENT_SECRET,
    redirect_uris: [`${IDP}/upstream/franceconnect/callback`],
    post_logout_redirect_uris: [`${IDP}/upstream/franceconnect/logout-callback`],
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_post',
    id_token_signed_response_alg: 'ES256',
    userinfo_signed_response_alg: 'ES256',
  }],
  jwks: { keys: [signingKey] },
  routes: {
    authorization: '/api/v2/authorize',
    token: '/api/v2/token',
    userinfo: '/api/v2/userinfo',
    jwks: '/api/v2/jwks',
    end_session: '/api/v2/session/end',
  },
  scopes: ['openid', ...PIVOT],
  claims: Object.fromEntries(PIVOT.map((c) => [c, [c]])),
  acrValues: ['eidas1'],
  pkce: { required: () => false },
  cookies: { keys: [crypto.randomBytes(32).toString('hex')] },
  ttl: { AccessToken: 60, AuthorizationCode: 60, IdToken: 60, Interaction: 600, Session: 3600, Grant: 3600 },
  features: {
    devInteractions: { enabled: false },
    jwtUserinfo: { enabled: true },
    rpInitiatedLogout: {
      enabled: true,
      logoutSource: async (ctx, form) => {
        ctx.body = `<!DOCTYPE html><html lang="fr"><head><meta charset="utf-8"><title>Déconnexion</title></head>
<body>${form}<button type="submit" form="op.logoutForm" value="yes" name="logout">Se déconnecter</button></body></html>`
      },
    },
  },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  async findAccount(ctx, id) {
    const person = PEOPLE[id]
    if (!person) return undefined
    return { accountId: id, claims: async () => ({ sub: `fc-${id}`, ...person }) }
  },
  // the IdP is FranceConnect's partner: no consent page, the requested scopes are granted
  async loadExistingGrant(ctx) {
    const grantId = ctx.oidc.result?.consent?.grantId || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId)
    if (grantId) return ctx.oidc.provider.Grant.find(grantId)
    const grant = new ctx.oidc.provider.Grant({ clientId: ctx.oidc.client.clientId, accountId: ctx.oidc.session.accountId })
    grant.addOIDCScope([...ctx.oidc.requestParamScopes].join(' '))
    await grant.save()
    return grant
  },
})
provider.proxy = false

function page(res, status, body) {
  res.writeHead(status, { 'content-type': 'text/html; charset=utf-8' })
  res.end(`<!DOCTYPE html><html lang="fr"><head><meta charset="utf-8"><title>FranceConnect (test)</title></head><body>${body}</body></html>`)
}

async function readForm(req) {
  let body = ''
  for await (const chunk of req) body += chunk
  return new URLSearchParams(body)
}

// The login page: pick an identity, or cancel (access_denied).
async function interaction(req, res) {
  const [, , uid, action] = req.url.split('?')[0].split('/')
  try {
    const details = await provider.interactionDetails(req, res)
    if (details.uid !== uid) return page(res, 400, 'interaction inconnue')
    if (req.method === 'GET') {
      const buttons = Object.keys(PEOPLE)
        .map((id) => `<button type="submit" name="identity" value="${id}">${PEOPLE[id].given_name} ${PEOPLE[id].family_name}</button>`)
        .join('\n')
      return page(res, 200, `<form method="post" action="/interaction/${uid}/login">${buttons}</form>
<form method="post" action="/interaction/${uid}/cancel"><button type="submit">Annuler</button></form>`)
    }
    if (req.method === 'POST' && action === 'login') {
      const identity = (await readForm(req)).get('identity')
      if (!PEOPLE[identity]) return page(res, 400, 'identité inconnue')
      return provider.interactionFinished(req, res, { login: { accountId: identity, acr: 'eidas1' } }, { mergeWithLastSubmission: false })
    }
    if (req.method === 'POST' && action === 'cancel') {
      return provider.interactionFinished(req, res, { error: 'access_denied', error_description: 'User auth aborted' }, { mergeWithLastSubmission: false })
    }
    return page(res, 404, 'introuvable')
  } catch (err) {
    return page(res, 400, `erreur : ${err.message}`)
  }
}

const callback = provider.callback()
http
  .createServer((req, res) => (req.url.startsWith('/interaction/') ? interaction(req, res) : callback(req, res)))
  .listen(PORT, '127.0.0.1', () => console.log(`oidc-provider (like FranceConnect v2) at ${ISSUER}`))
