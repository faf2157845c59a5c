"""Interoperability test: the identity provider as seen by Authlib (Python).

The script plays two roles:
  - the relying party ``teleservice-demo`` (client_secret_post, RS256 ID tokens), through
    ``authlib.integrations.requests_client.OAuth2Session``, with the ID token validated by
    ``authlib.jose`` + ``authlib.oidc.core.CodeIDToken`` against the provider's JWKS;
  - the user's browser, a plain ``requests.Session`` that never follows redirects and signs in
    on the provider's HTML login page.
Nothing listens on the client's redirect_uri: the Location of the provider's final redirect is
handed to Authlib as the authorization response.

Environment: IDP_ISSUER (e.g. http://127.0.0.1:20000), IDP_PORT (the same port).
Output: one line per check, ``ok - ...`` or ``not ok - ...``; exit status 0 only if all passed.
"""

from __future__ import annotations

import os
import sys
import warnings
from urllib.parse import parse_qs, urljoin, urlsplit

import requests
from interop_common import (
    HTTP_TIMEOUT,
    check,
    describe_error,
    describe_response,
    expect,
    expect_equal,
    fail,
    group,
    input_value,
    new_browser,
    run_checks,
    snippet,
)

# authlib.jose warns on import that it will move to joserfc in Authlib 2; the warning is not
# about this test, so it is silenced (the module is still what Authlib 1.9 documents).
from authlib.deprecate import AuthlibDeprecationWarning

warnings.filterwarnings("ignore", category=AuthlibDeprecationWarning)

from authlib.common.security import generate_token  # noqa: E402
from authlib.common.urls import add_params_to_uri  # noqa: E402
from authlib.integrations.base_client.errors import OAuthError  # noqa: E402
from authlib.integrations.requests_client import OAuth2Session  # noqa: E402
from authlib.jose import JsonWebKey, JsonWebToken  # noqa: E402
from authlib.oidc import discovery as oidc_discovery  # noqa: E402
from authlib.oidc import rpinitiated  # noqa: E402
from authlib.oidc.core import CodeIDToken  # noqa: E402

ISSUER = os.environ.get("IDP_ISSUER", "")
try:
    PORT = int(os.environ.get("IDP_PORT", ""))
except ValueError:
    PORT = 0
if not ISSUER or not PORT:
    print(
        "IDP_ISSUER and IDP_PORT must be set (e.g. IDP_ISSUER=http://127.0.0.1:20000 IDP_PORT=20000)",
        file=sys.stderr,
    )
    sys.exit(2)

CLIENT_ID = "teleservice-demo"
CLIENT_SECRET = "teleservice-demo-secret"
REDIRECT_URI = f"http://127.0.0.1:{PORT + 4}/callback"
POST_LOGOUT_REDIRECT_URI = f"http://127.0.0.1:{PORT + 4}/"
SCOPE = "openid profile offline_access"
ID_TOKEN_ALG = "RS256"
LEEWAY_SECONDS = 5  # small clock-skew allowance (the provider runs on this machine)

CLAIRE = {
    "identifier": "claire.martin",
    "password": "Parent-2026!",
    "profile": "responsable",
    "given_name": "Claire",
    "family_name": "MARTIN",
}
LEA = {
    "identifier": "lea.martin",
    "password": "Cartable-2026",
    "profile": "eleve",
    "given_name": "Léa",
    "family_name": "MARTIN",
}

# ---------------------------------------------------------------------------------------------
# Reporting


# ---------------------------------------------------------------------------------------------
# The browser


def at_redirect_uri(url, redirect_uri=REDIRECT_URI):
    got, want = urlsplit(url), urlsplit(redirect_uri)
    return (got.scheme, got.netloc, got.path) == (want.scheme, want.netloc, want.path)


def authorize_in_browser(browser, authorization_url, user):
    """Drives the browser from the authorization URL to the redirect back to the client.

    ``user`` signs in if the login page appears; ``None`` when no login page may appear.
    Returns (callback_url, saw_login, first_redirect_location).
    """
    url = authorization_url
    saw_login = False
    first_redirect = None
    issuer_netloc = urlsplit(ISSUER).netloc
    for _ in range(10):
        resp = browser.get(url, allow_redirects=False, timeout=HTTP_TIMEOUT)
        if resp.is_redirect:
            location = urljoin(url, resp.headers["Location"])
            if first_redirect is None:
                first_redirect = location
            if at_redirect_uri(location):
                return location, saw_login, first_redirect
            expect_equal(urlsplit(location).netloc, issuer_netloc, f"redirect target ({describe_response(resp)})")
            url = location
            continue
        if resp.status_code == 200 and urlsplit(url).path == "/login":
            if user is None:
                fail(f"the login page was shown where none was expected: GET {url} -> 200")
            expect(not saw_login, f"the login page was shown again after signing in: {snippet(resp.text)}")
            saw_login = True
            csrf = input_value(resp.text, "csrf")
            type_user = input_value(resp.text, "typeUser")
            next_path = input_value(resp.text, "next")
            expect(csrf, f'login page has no hidden input name="csrf": {snippet(resp.text)}')
            expect(type_user is not None, 'login page has no hidden input name="typeUser"')
            expect(next_path is not None, 'login page has no hidden input name="next"')
            expect_equal(type_user, user["profile"], "typeUser on the login page")
            login_url = urljoin(ISSUER, "/login")
            posted = browser.post(
                login_url,
                data={
                    "csrf": csrf,
                    "typeUser": type_user,
                    "next": next_path,
                    "identifier": user["identifier"],
                    "password": user["password"],
                },
                headers={"Origin": ISSUER},
                allow_redirects=False,
                timeout=HTTP_TIMEOUT,
            )
            if posted.status_code != 303:
                fail(f"sign-in of {user['identifier']} was not accepted: {describe_response(posted)}")
            url = urljoin(login_url, posted.headers["Location"])
            continue
        fail(f"unexpected answer in the authorization flow: {describe_response(resp)}")
    fail(f"more than 10 hops from {authorization_url}")


def query_params(url):
    return {k: v[0] if len(v) == 1 else v for k, v in parse_qs(urlsplit(url).query, keep_blank_values=True).items()}


# ---------------------------------------------------------------------------------------------
# The relying party


class RelyingParty:
    def __init__(self, metadata, keyset):
        self.metadata = metadata
        self.keyset = keyset
        self.jwt = JsonWebToken([ID_TOKEN_ALG])

    def session(self):
        return OAuth2Session(
            client_id=CLIENT_ID,
            client_secret=CLIENT_SECRET,
            token_endpoint_auth_method="client_secret_post",
            scope=SCOPE,
            redirect_uri=REDIRECT_URI,
            code_challenge_method="S256",
            token_endpoint=self.metadata["token_endpoint"],
            default_timeout=HTTP_TIMEOUT,
        )

    def start(self, oauth, profile, prompt=None):
        code_verifier = generate_token(64)
        nonce = generate_token(32)
        extra = {"nonce": nonce, "acr_values": profile}
        if prompt:
            extra["prompt"] = prompt
        url, state = oauth.create_authorization_url(
            self.metadata["authorization_endpoint"], code_verifier=code_verifier, **extra
        )
        return {"url": url, "state": state, "nonce": nonce, "code_verifier": code_verifier}

    def exchange(self, oauth, callback, request):
        return oauth.fetch_token(
            self.metadata["token_endpoint"],
            authorization_response=callback,
            state=request["state"],
            code_verifier=request["code_verifier"],
        )

    def validate_id_token(self, id_token, nonce, access_token=None):
        claims = self.jwt.decode(
            id_token,
            self.keyset,
            claims_cls=CodeIDToken,
            claims_options={
                "iss": {"essential": True, "value": ISSUER},
                "aud": {"essential": True, "value": CLIENT_ID},
                "sub": {"essential": True},
                "exp": {"essential": True},
                "iat": {"essential": True},
                "auth_time": {"essential": True},
                "nonce": {"essential": True, "value": nonce},
            },
            claims_params={"nonce": nonce, "client_id": CLIENT_ID, "access_token": access_token},
        )
        claims.validate(leeway=LEEWAY_SECONDS)
        expect_equal(claims.header.get("alg"), ID_TOKEN_ALG, "ID token alg")
        expect(isinstance(claims.get("auth_time"), (int, float)), f"auth_time is not a number: {claims.get('auth_time')!r}")
        return claims


def expect_oauth_error(fn, expected, what):
    try:
        result = fn()
    except OAuthError as err:
        if err.error == expected:
            return err
        fail(f"{what}: expected error {expected}, got {describe_error(err)}")
    fail(f"{what}: expected error {expected}, but it succeeded (keys {sorted(result or {})})")


def sign_in_and_exchange(rp, browser, user, label):
    oauth = rp.session()
    request = rp.start(oauth, user["profile"])

    def authorize():
        callback, saw_login, first = authorize_in_browser(browser, request["url"], user)
        expect(saw_login, "no login page was shown in a fresh browser")
        expect_equal(urlsplit(first).path, "/login", "first redirect path")
        expect_equal(query_params(first).get("profil"), user["profile"], "profil in the redirect to /login")
        params = query_params(callback)
        expect(params.get("code"), f"no code in {callback}")
        expect_equal(params.get("state"), request["state"], "state in the callback")
        expect_equal(params.get("iss"), ISSUER, "iss in the callback (RFC 9207)")
        return callback

    callback = check(
        f"{label}: authorization request (PKCE S256) leads to the login page and back to the redirect_uri with code, state, iss",
        authorize,
        required=True,
    )

    def token_exchange():
        token = rp.exchange(oauth, callback, request)
        expect(token.get("access_token"), "no access_token")
        expect(token.get("id_token"), "no id_token")
        expect(token.get("refresh_token"), "no refresh_token (teleservice-demo may use refresh tokens)")
        expect_equal(str(token.get("token_type", "")).lower(), "bearer", "token_type")
        return token

    token = check(f"{label}: code exchanged at the token endpoint with client_secret_post and the PKCE verifier", token_exchange, required=True)

    claims = check(
        f"{label}: ID token ({ID_TOKEN_ALG}) validated with authlib.jose + CodeIDToken against the JWKS (iss, aud, exp, nonce, sub, auth_time)",
        lambda: rp.validate_id_token(token["id_token"], request["nonce"], token["access_token"]),
        required=True,
    )

    def userinfo():
        resp = oauth.get(rp.metadata["userinfo_endpoint"], timeout=HTTP_TIMEOUT)
        expect_equal(resp.status_code, 200, f"userinfo status ({describe_response(resp)})")
        info = resp.json()
        expect_equal(info.get("sub"), claims["sub"], "userinfo sub")
        expect_equal(info.get("given_name"), user["given_name"], "userinfo given_name")
        expect_equal(info.get("family_name"), user["family_name"], "userinfo family_name")
        return info

    check(
        f"{label}: userinfo returns the same sub, given_name {user['given_name']!r}, family_name {user['family_name']!r}",
        userinfo,
    )
    return {"oauth": oauth, "request": request, "callback": callback, "token": token, "claims": claims}


# ---------------------------------------------------------------------------------------------


def main():
    print(f"# Authlib against {ISSUER} as {CLIENT_ID}")
    discovered = {}

    def discovery_group():
        def fetch():
            resp = requests.get(f"{ISSUER}/.well-known/openid-configuration", timeout=HTTP_TIMEOUT)
            expect_equal(resp.status_code, 200, "discovery status")
            metadata = oidc_discovery.OpenIDProviderMetadata(resp.json())
            metadata.validate(metadata_classes=[rpinitiated.OpenIDProviderMetadata])
            return metadata

        metadata = check(
            "discovery document fetched and validated by authlib.oidc.discovery (+ RP-initiated logout metadata)",
            fetch,
            required=True,
        )

        def contract():
            expect_equal(metadata["issuer"], ISSUER, "issuer")
            endpoints = {
                "authorization_endpoint": "/oidc/authorize",
                "token_endpoint": "/oidc/token",
                "userinfo_endpoint": "/oidc/userinfo",
                "jwks_uri": "/oidc/jwks",
                "revocation_endpoint": "/oidc/revoke",
                "introspection_endpoint": "/oidc/introspect",
                "end_session_endpoint": "/oidc/logout",
            }
            for key, path in endpoints.items():
                expect_equal(metadata.get(key), ISSUER + path, key)
            expect_equal(metadata.get("authorization_response_iss_parameter_supported"), True, "authorization_response_iss_parameter_supported")
            expect("S256" in (metadata.get("code_challenge_methods_supported") or []), "S256 not in code_challenge_methods_supported")
            expect(
                "client_secret_post" in (metadata.get("token_endpoint_auth_methods_supported") or []),
                f"client_secret_post not in token_endpoint_auth_methods_supported: {metadata.get('token_endpoint_auth_methods_supported')}",
            )
            expect(ID_TOKEN_ALG in (metadata.get("id_token_signing_alg_values_supported") or []), "RS256 not in id_token_signing_alg_values_supported")

        check("discovery document advertises the contract endpoints and capabilities", contract)

        def jwks():
            resp = requests.get(metadata["jwks_uri"], timeout=HTTP_TIMEOUT)
            expect_equal(resp.status_code, 200, "jwks status")
            keyset = JsonWebKey.import_key_set(resp.json())
            expect(any(k.kty == "RSA" for k in keyset.keys), "no RSA key in the JWKS")
            return keyset

        keyset = check("JWKS imported with authlib.jose.JsonWebKey (has an RSA key)", jwks, required=True)
        discovered["rp"] = RelyingParty(metadata, keyset)

    group("discovery", discovery_group)
    rp = discovered.get("rp")
    if rp is None:
        return

    browser = new_browser("idp-interop-authlib-browser")
    claire = group("Claire (responsable): code flow with PKCE, ID token, userinfo", lambda: sign_in_and_exchange(rp, browser, CLAIRE, "Claire"))

    if claire:

        def refresh_group():
            oauth = claire["oauth"]
            old_refresh = claire["token"]["refresh_token"]
            old_access = claire["token"]["access_token"]
            endpoint = rp.metadata["token_endpoint"]

            def rotate():
                new = oauth.refresh_token(endpoint, refresh_token=old_refresh)
                expect(new.get("access_token"), "no access_token")
                expect(new["access_token"] != old_access, "the access token did not change")
                expect(new.get("refresh_token") != old_refresh, "no new refresh token in the refresh response (rotation expected)")
                return dict(new)

            new = check("refresh_token grant returns a new access token and a new refresh token", rotate, required=True)

            def new_access_works():
                resp = oauth.get(rp.metadata["userinfo_endpoint"], timeout=HTTP_TIMEOUT)
                expect_equal(resp.status_code, 200, f"userinfo status ({describe_response(resp)})")
                expect_equal(resp.json().get("sub"), claire["claims"]["sub"], "userinfo sub")

            check("the new access token works at userinfo", new_access_works)
            check(
                "reusing the old (rotated) refresh token fails with invalid_grant",
                lambda: expect_oauth_error(lambda: oauth.refresh_token(endpoint, refresh_token=old_refresh), "invalid_grant", "refresh with the old token"),
            )
            check(
                "after that reuse, the new refresh token fails too with invalid_grant (family revoked)",
                lambda: expect_oauth_error(lambda: oauth.refresh_token(endpoint, refresh_token=new["refresh_token"]), "invalid_grant", "refresh with the new token"),
            )

        group("refresh token rotation and reuse detection", refresh_group)

        sso_state = {}

        def sso_group():
            oauth = rp.session()
            request = rp.start(oauth, CLAIRE["profile"])

            def authorize():
                callback, saw_login, _ = authorize_in_browser(browser, request["url"], None)
                expect(not saw_login, "login page shown")
                params = query_params(callback)
                expect(params.get("code"), f"no code in {callback}")
                expect_equal(params.get("state"), request["state"], "state")
                expect_equal(params.get("iss"), ISSUER, "iss")
                return callback

            callback = check("a second authorization in the same browser gets a code without the login page", authorize, required=True)

            def exchange():
                token = rp.exchange(oauth, callback, request)
                claims = rp.validate_id_token(token["id_token"], request["nonce"], token["access_token"])
                expect_equal(claims["sub"], claire["claims"]["sub"], "sub")
                expect_equal(claims["auth_time"], claire["claims"]["auth_time"], "auth_time (the user did not authenticate again)")
                return token

            token = check("the SSO code is exchanged; the ID token is valid, same sub, same auth_time", exchange, required=True)
            sso_state["id_token"] = token["id_token"]
            check(
                "replaying the same authorization code fails with invalid_grant",
                lambda: expect_oauth_error(lambda: rp.exchange(rp.session(), callback, request), "invalid_grant", "second use of the code"),
            )

        group("SSO in the same browser, authorization code replay", sso_group)

        def prompt_none(target_browser):
            oauth = rp.session()
            request = rp.start(oauth, CLAIRE["profile"], prompt="none")
            callback, _, _ = authorize_in_browser(target_browser, request["url"], None)
            params = query_params(callback)
            expect_equal(params.get("error"), "login_required", f"error in {callback}")
            expect_equal(params.get("state"), request["state"], "state")
            expect_equal(params.get("iss"), ISSUER, "iss (RFC 9207 applies to error responses too)")
            expect("code" not in params, "a code was issued")

        group(
            "prompt=none in a fresh browser",
            lambda: check(
                "prompt=none without a session redirects to the redirect_uri with error=login_required, the state and iss",
                lambda: prompt_none(new_browser("idp-interop-authlib-browser")),
            ),
        )

        def logout_group():
            state = generate_token(24)
            # Authlib has no relying-party helper for RP-initiated logout; the URL is built with
            # its URL helper, without client_id: the provider must find the client from the hint.
            url = add_params_to_uri(
                rp.metadata["end_session_endpoint"],
                [
                    ("id_token_hint", sso_state.get("id_token") or claire["token"]["id_token"]),
                    ("post_logout_redirect_uri", POST_LOGOUT_REDIRECT_URI),
                    ("state", state),
                ],
            )

            def end_session():
                resp = browser.get(url, allow_redirects=False, timeout=HTTP_TIMEOUT)
                expect_equal(resp.status_code, 303, f"status ({describe_response(resp)})")
                expect_equal(resp.headers.get("Location"), f"{POST_LOGOUT_REDIRECT_URI}?state={state}", "Location")

            check("the end-session URL (id_token_hint, post_logout_redirect_uri, state) redirects (303) exactly to the post_logout_redirect_uri with the state", end_session)
            check("after logout, prompt=none in the same browser gives error=login_required", lambda: prompt_none(browser))

        group("RP-initiated logout (end session)", logout_group)

    lea = group("Léa (eleve): code flow with PKCE, ID token, userinfo", lambda: sign_in_and_exchange(rp, new_browser("idp-interop-authlib-browser"), LEA, "Léa"))
    if claire and lea:
        check("Claire and Léa have different sub values", lambda: expect(claire["claims"]["sub"] != lea["claims"]["sub"], f"both have sub {lea['claims']['sub']}"))


if __name__ == "__main__":
    sys.exit(run_checks("Authlib", main))
