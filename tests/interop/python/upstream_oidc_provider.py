"""The IdP's "S'identifier avec FranceConnect" against panva's oidc-provider (OpenID-certified)
configured like FranceConnect v2 (upstream/fc-provider.mjs), driven as a browser with
requests: the request the IdP sends, a guardian matched and linked by the children's birth
dates, single sign-on to a service, the FranceConnect session ended at logout through the
provider's own confirmation form, straight through the next time, and a cancelled sign-in.

Environment: IDP_ISSUER, IDP_PORT, FC_ISSUER (oidc-provider), FC_CLIENT_ID.
"""

from __future__ import annotations

import os
import re
import sys
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

from interop_common import (
    HTTP_TIMEOUT,
    check,
    describe_response,
    expect,
    expect_equal,
    get,
    group,
    input_value,
    logout_page_parts,
    new_browser,
    run_checks,
)

IDP = os.environ["IDP_ISSUER"]
FC = os.environ["FC_ISSUER"]
FC_CLIENT_ID = os.environ["FC_CLIENT_ID"]
# the demo ENT's registered redirect URI (the demo puts the ENT on the IdP's port + 1)
ENT_CALLBACK = f"http://127.0.0.1:{int(os.environ['IDP_PORT']) + 1}/callback"


def query(url):
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def follow_until(browser, url, prefix, limit=10):
    """Follows redirects from url until one leads to an address starting with prefix."""
    for _ in range(limit):
        if url.startswith(prefix):
            return url
        resp = get(browser, url)
        expect(resp.is_redirect, f"stopped before {prefix}: {describe_response(resp)}")
        url = urljoin(url, resp.headers["Location"])
    raise AssertionError(f"too many redirects before {prefix}")


def to_provider(browser):
    """The IdP's button: the authorization request sent to the provider."""
    resp = get(browser, f"{IDP}/upstream/franceconnect/login?next=/")
    expect(resp.is_redirect, describe_response(resp))
    return resp.headers["Location"]


def at_provider(browser, authorize, action, data=None):
    """At the provider: its login page, then `action` (login or cancel); returns the IdP's
    answer at its callback."""
    resp = get(browser, authorize)
    expect(resp.is_redirect, f"the provider did not send to its login page: {describe_response(resp)}")
    login = urljoin(authorize, resp.headers["Location"])
    page = get(browser, login)
    expect(page.status_code == 200, describe_response(page))
    uid = urlsplit(login).path.rstrip("/").split("/")[-1]
    posted = browser.post(f"{FC}/interaction/{uid}/{action}", data=data or {}, allow_redirects=False, timeout=HTTP_TIMEOUT)
    expect(posted.is_redirect, describe_response(posted))
    callback = follow_until(browser, urljoin(FC, posted.headers["Location"]), f"{IDP}/upstream/franceconnect/callback")
    return callback, get(browser, callback)


def has_session(browser):
    """Whether the IdP has a session for this browser: prompt=none at the demo ENT's client
    answers with a code only then."""
    params = {
        "response_type": "code",
        "client_id": "ent-demo",
        "scope": "openid",
        "prompt": "none",
        "state": "probe",
        "redirect_uri": ENT_CALLBACK,
    }
    resp = get(browser, f"{IDP}/oidc/authorize?{urlencode(params)}")
    return resp.is_redirect and "code" in query(resp.headers["Location"])


def link(browser, answer, dates):
    """Through "Rattacher des élèves": the intro, the dates form, then the summary."""
    expect(answer.is_redirect, f"not sent to the linking: {describe_response(answer)}")
    intro_url = urljoin(IDP, answer.headers["Location"])
    expect(urlsplit(intro_url).path == "/rattacher-des-eleves", intro_url)
    link_id = query(intro_url)["id"]
    intro = get(browser, intro_url)
    expect("Rattacher des élèves" in intro.text, describe_response(intro))
    form = get(browser, f"{IDP}/rattacher-des-eleves/dates?id={link_id}")
    fields = re.findall(r'name="(naissance-\d+)"', form.text)
    expect(len(fields) == len(dates), f"{len(fields)} children to confirm, expected {len(dates)}")
    data = {"csrf": input_value(form.text, "csrf"), "id": link_id}
    data.update(dict(zip(fields, dates)))
    done = browser.post(f"{IDP}/rattacher-des-eleves/dates", data=data, allow_redirects=False, timeout=HTTP_TIMEOUT)
    expect(done.status_code == 200 and "Votre compte est prêt" in done.text, describe_response(done))
    return done.text


def main():
    browser = new_browser("oidc-provider upstream interop")

    def request_rules():
        authorize = to_provider(browser)
        expect(authorize.startswith(f"{FC}/api/v2/authorize?"), authorize)
        q = query(authorize)
        expect_equal(q.get("client_id"), FC_CLIENT_ID, "client_id")
        expect_equal(q.get("acr_values"), "eidas1", "acr_values")
        expect(len(q.get("state", "")) >= 32 and len(q.get("nonce", "")) >= 32, "state and nonce of 32 characters or more")
        expect({"openid", "given_name", "family_name", "birthdate", "email"} <= set(q.get("scope", "").split()), q.get("scope"))

    check("the IdP asks oidc-provider as FranceConnect's rules say (eidas1, 32-character state and nonce, pivot scopes)", request_rules)

    def claire_group():
        def first_time():
            callback, answer = at_provider(browser, to_provider(browser), "login", {"identity": "claire"})
            expect("iss" in query(callback), "oidc-provider names itself (RFC 9207)")
            summary = link(browser, answer, ["14/03/2012", "2015-09-02"])
            expect("claire.martin" in summary, "linked to Claire's own account")
            expect(has_session(browser), "no SSO session after the linking")

        check("Claire (birth name DUPONT at the provider, MARTIN at school): verified ID token and signed userinfo, matched, children confirmed, signed in", first_time, required=True)

        def logout():
            page = get(browser, f"{IDP}/logout")
            resp = browser.post(f"{IDP}/logout", data={"csrf": input_value(page.text, "csrf")}, allow_redirects=False, timeout=HTTP_TIMEOUT)
            expect(resp.is_redirect, describe_response(resp))
            # the IdP's logout page first (every service told), then the provider, last
            listing = get(browser, urljoin(IDP, resp.headers["Location"]))
            expect(listing.status_code == 200, describe_response(listing))
            _, nexts = logout_page_parts(listing.text)
            expect(nexts, f"no way on to the provider from the logout page: {describe_response(listing)}")
            resp = get(browser, urljoin(IDP, nexts[0]))
            expect(resp.is_redirect, describe_response(resp))
            end = resp.headers["Location"]
            expect(end.startswith(f"{FC}/api/v2/session/end?"), f"not the provider's end-session endpoint: {end}")
            expect("id_token_hint" in query(end) and "state" in query(end), end)
            confirm = get(browser, end)
            expect(confirm.status_code == 200, describe_response(confirm))
            action = re.search(r'<form[^>]*id="op.logoutForm"[^>]*action="([^"]+)"', confirm.text) or re.search(r'<form[^>]*action="([^"]+)"[^>]*id="op.logoutForm"', confirm.text)
            expect(action, f"no logout form: {describe_response(confirm)}")
            done = browser.post(
                urljoin(FC, action.group(1)),
                data={"xsrf": input_value(confirm.text, "xsrf"), "logout": "yes"},
                allow_redirects=False,
                timeout=HTTP_TIMEOUT,
            )
            expect(done.is_redirect, describe_response(done))
            back = follow_until(browser, urljoin(FC, done.headers["Location"]), f"{IDP}/upstream/franceconnect/logout-callback")
            resp = get(browser, back)
            expect(resp.is_redirect, describe_response(resp))
            final = get(browser, urljoin(IDP, resp.headers["Location"]))
            expect(final.status_code == 200 and "Vous êtes déconnecté" in final.text, describe_response(final))
            expect(not has_session(browser), "the IdP session survived")

        check("logout at the IdP: the services told first, then the provider's session ended (session/end with id_token_hint; oidc-provider's form confirmed)", logout)

        def straight():
            _, answer = at_provider(browser, to_provider(browser), "login", {"identity": "claire"})
            expect(answer.is_redirect and answer.headers["Location"] == "/", f"not straight through: {describe_response(answer)}")
            expect(has_session(browser), "no session")

        check("the next time: straight through, no linking (the provider's sub is remembered)", straight)

    group("a guardian with an account", claire_group)

    def paul_group():
        paul = new_browser("oidc-provider upstream interop (Paul)")

        def new_account():
            _, answer = at_provider(paul, to_provider(paul), "login", {"identity": "paul"})
            summary = link(paul, answer, ["2013-06-21"])
            expect("paul.durand" in summary and "conservez-le" in summary, "the new identifier is shown")

        check("Paul (no account yet): linked by his child's birth date, an account is created", new_account)

        def cancelled():
            other = new_browser("oidc-provider upstream interop (cancel)")
            _, answer = at_provider(other, to_provider(other), "cancel")
            expect(answer.status_code == 401 and "annulé" in answer.text, describe_response(answer))
            expect(not has_session(other), "a session after a cancelled sign-in")

        check("cancel at the provider: error=access_denied, explained, no session", cancelled)

    group("a guardian without an account, and a cancelled sign-in", paul_group)


if __name__ == "__main__":
    sys.exit(run_checks("oidc-provider upstream", main))
