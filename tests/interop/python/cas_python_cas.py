"""CAS 3.0 interoperability with python-cas (PyPI), the CAS client library of django-cas-ng
and Flask-CAS: the library builds the login and logout URLs, validates service tickets at
/cas/p3/serviceValidate and reads the attributes, gets proxy tickets from a proxy-granting
ticket, and checks the IdP's single-logout message. The browser is a requests.Session that
signs in on the IdP's pages.

  cas_python_cas.py prepare WORK_DIR PORT RP_DIR   registrations for the services below
  cas_python_cas.py run WORK_DIR                   the checks, one line each

The services all live on one local server of this script (P+5): /app/ (the service that
signs people in and may proxy, with its pgtUrl /pgt), /target/ (a service reached through a
proxy ticket), /other/ (registered but never given the tickets of /app/).
"""

from __future__ import annotations

import json
import os
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

import cas
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
    note,
    run_main,
    toml_string,
)

LEA = {"profile": "eleve", "identifier": "lea.martin", "password": "Cartable-2026"}
CLAIRE = {"profile": "responsable", "identifier": "claire.martin", "password": "Parent-2026!"}
ATTRIBUTES = ["sn", "givenName", "FrEduCtPersonAffiliation", "FrEduCtEleveUAI", "FrEduVecteur", "FrEduCtId"]


def prepare(work, port, rp_dir):
    base = f"http://127.0.0.1:{port + 5}"
    services = {
        "interop-app": (f"{base}/app/", [f"{base}/pgt"]),
        "interop-target": (f"{base}/target/", []),
        "interop-other": (f"{base}/other/", []),
    }
    for ident, (url, callbacks) in services.items():
        text = "\n".join(
            [
                'protocol = "cas"',
                f"id = {toml_string(ident)}",
                f"name = {toml_string('Service CAS ' + ident)}",
                f"services = [{toml_string(url)}]",
                "attributes = [" + ", ".join(toml_string(a) for a in ATTRIBUTES) + "]",
                "single_logout = true",
                "proxy_callbacks = [" + ", ".join(toml_string(c) for c in callbacks) + "]",
                "",
            ]
        )
        with open(os.path.join(rp_dir, f"{ident}.toml"), "w", encoding="utf-8") as f:
            f.write(text)
    with open(os.path.join(work, "cas.json"), "w", encoding="utf-8") as f:
        json.dump({"idp": f"http://127.0.0.1:{port}", "base": base}, f)


class ServiceSide:
    """The services' server: records proxy callbacks (pgtIou -> pgtId) and single-logout
    POSTs, as a CAS client application would receive them."""

    def __init__(self, base):
        self.pgts = {}
        self.logouts = []
        self.lock = threading.Lock()
        side = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def do_GET(self):
                parts = urlsplit(self.path)
                if parts.path == "/pgt":
                    q = parse_qs(parts.query)
                    # the CAS server calls once with pgtId and pgtIou; answer 200 to accept
                    if "pgtIou" in q and "pgtId" in q:
                        with side.lock:
                            side.pgts[q["pgtIou"][0]] = q["pgtId"][0]
                    self.send_response(200)
                else:
                    self.send_response(200)
                self.end_headers()

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                form = parse_qs(self.rfile.read(length).decode("utf-8"))
                with side.lock:
                    side.logouts.append((urlsplit(self.path).path, form.get("logoutRequest", [""])[0]))
                self.send_response(200)
                self.end_headers()

        port = int(urlsplit(base).port)
        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


class ProxyValidatingClient(cas.CASClientV3):
    """python-cas's CAS 3 client pointed at /p3/proxyValidate, for a service that accepts
    proxy tickets (the library validates and parses as usual)."""

    url_suffix = "p3/proxyValidate"


def main_run(work):
    with open(os.path.join(work, "cas.json"), encoding="utf-8") as f:
        conf = json.load(f)
    idp, base = conf["idp"], conf["base"]
    server_url = f"{idp}/cas/"
    app_url, target_url, other_url = f"{base}/app/", f"{base}/target/", f"{base}/other/"
    side = ServiceSide(base)

    def client(service_url, **kwargs):
        return cas.CASClient(version=3, service_url=service_url, server_url=server_url, **kwargs)

    def sign_in_page(browser, login_url, user):
        """Follows the login URL to the IdP's sign-in page, signs in, returns the URL the IdP
        sends the browser to at the end."""
        resp = get(browser, login_url)
        expect(resp.is_redirect, f"no redirect to the sign-in page: {describe_response(resp)}")
        location = urljoin(login_url, resp.headers["Location"])
        expect(urlsplit(location).path == "/login", f"not the sign-in page: {location}")
        query = parse_qs(urlsplit(location).query)
        page = get(browser, f"{idp}/login?" + urlencode({"profil": user["profile"], "next": query["next"][0]}))
        fields = {name: input_value(page.text, name) for name in ("csrf", "typeUser", "next")}
        expect(None not in fields.values(), f"sign-in form incomplete: {describe_response(page)}")
        posted = browser.post(
            f"{idp}/login",
            data={**fields, "identifier": user["identifier"], "password": user["password"]},
            allow_redirects=False,
            timeout=HTTP_TIMEOUT,
        )
        expect(posted.is_redirect, f"sign-in failed: {describe_response(posted)}")
        resume = get(browser, urljoin(f"{idp}/", posted.headers["Location"]))
        expect(resume.is_redirect, f"no redirect after sign-in: {describe_response(resume)}")
        return urljoin(idp, resume.headers["Location"])

    def ticket_of(url, service_url):
        expect(url.startswith(service_url + "?ticket=ST-"), f"not back at {service_url} with a ticket: {url}")
        return parse_qs(urlsplit(url).query)["ticket"][0]

    def sso_ticket(browser, the_client):
        resp = get(browser, the_client.get_login_url())
        expect(resp.is_redirect, f"no redirect: {describe_response(resp)}")
        return ticket_of(urljoin(idp, resp.headers["Location"]), the_client.service_url)

    state = {}

    def pupil():
        browser = new_browser("python-cas interop")
        app = client(app_url)
        state["browser"] = browser

        def first():
            back = sign_in_page(browser, app.get_login_url(), LEA)
            ticket = ticket_of(back, app_url)
            user, attributes, pgtiou = app.verify_ticket(ticket)
            expect(user and len(user) == 96, f"cas:user is not the 96-hex opaque id: {user!r}")
            expect_equal(attributes.get("sn"), "MARTIN", "sn")
            expect_equal(attributes.get("givenName"), "Léa", "givenName")
            expect_equal(attributes.get("FrEduCtPersonAffiliation"), "eleve2d", "FrEduCtPersonAffiliation")
            expect_equal(attributes.get("FrEduCtEleveUAI"), "0141234A", "FrEduCtEleveUAI")
            expect_equal(attributes.get("FrEduVecteur"), "4|MARTIN|Léa|JM-E0001|0141234A", "FrEduVecteur")
            expect(pgtiou is None, "no PGT without a pgtUrl")
            state["user"] = user
            state["ticket"] = ticket
            note(f"cas:user {user[:16]}…, attributes {sorted(attributes)}")

        check("Léa signs in through the login URL python-cas builds; verify_ticket (p3/serviceValidate) returns her opaque id and attributes", first, required=True)

        def replay():
            user, _, _ = app.verify_ticket(state["ticket"])
            expect(user is None, f"a replayed ticket was accepted for {user!r}")

        check("the same ticket validated again: python-cas gets no user (single use)", replay)

        def sso():
            ticket = sso_ticket(browser, app)
            user, _, _ = app.verify_ticket(ticket)
            expect_equal(user, state["user"], "the same user by single sign-on")

        check("second login in the same browser: a ticket at once, no sign-in page (SSO)", sso)

        def wrong_service():
            ticket = sso_ticket(browser, app)
            user, _, _ = client(other_url).verify_ticket(ticket)
            expect(user is None, "a ticket issued for /app/ was accepted for /other/")
            user, _, _ = app.verify_ticket(ticket)
            expect(user is None, "the ticket survived a validation for another service")

        check("a ticket is bound to its service and used up by a validation for another", wrong_service)

        def other_id():
            ticket = sso_ticket(browser, client(other_url))
            user, _, _ = client(other_url).verify_ticket(ticket)
            expect(user and user != state["user"], "another registration gets another opaque id")

        check("another registered service gets another cas:user for the same person", other_id)

        def renew():
            renewing = client(app_url, renew=True)
            resp = get(browser, renewing.get_login_url())
            location = urljoin(idp, resp.headers.get("Location", ""))
            expect(urlsplit(location).path == "/login", f"renew=true did not ask to sign in again: {describe_response(resp)}")

        check("renew=true (python-cas renew=True) asks to sign in even with a session", renew)

        def unregistered():
            resp = get(browser, client("https://evil.example/").get_login_url())
            expect(resp.status_code == 400 and "n'est pas une url de confiance" in resp.text.replace("&#39;", "'"), describe_response(resp))

        check("an unregistered service gets the page « … n'est pas une url de confiance », no redirect", unregistered)

        def gateway():
            fresh = new_browser("python-cas interop (no session)")
            gw = client(app_url, extra_login_params={"gateway": "true"})
            resp = get(fresh, gw.get_login_url())
            expect(resp.is_redirect, describe_response(resp))
            expect_equal(urljoin(idp, resp.headers["Location"]), app_url, "gateway without a session: back without a ticket")

        check("gateway=true without a session: back to the service without a ticket", gateway)

    group("service tickets", pupil)

    def proxies():
        browser = state["browser"]
        proxying = client(app_url, proxy_callback=f"{base}/pgt")

        def pgt():
            ticket = sso_ticket(browser, proxying)
            user, _, pgtiou = proxying.verify_ticket(ticket)
            expect(user == state["user"], "validation with pgtUrl")
            expect(pgtiou and pgtiou.startswith("PGTIOU-"), f"no proxyGrantingTicket IOU: {pgtiou!r}")
            with side.lock:
                pgt_id = side.pgts.get(pgtiou)
            expect(pgt_id and pgt_id.startswith("PGT-"), "the pgtUrl did not receive the PGT for that IOU before the answer")
            state["pgt"] = pgt_id

        check("validation with a registered pgtUrl: the callback gets pgtId+pgtIou, python-cas reads the IOU", pgt, required=True)

        def proxy_ticket():
            target = client(target_url)
            pt = target.get_proxy_ticket(state["pgt"])
            expect(pt and pt.startswith("PT-"), f"not a proxy ticket: {pt!r}")
            refused, _, _ = target.verify_ticket(pt)
            expect(refused is None, "p3/serviceValidate accepted a proxy ticket")
            pt = target.get_proxy_ticket(state["pgt"])
            validator = ProxyValidatingClient(service_url=target_url, server_url=server_url)
            raw = validator.get_verification_response(pt).decode("utf-8")
            user, attributes, _ = validator.verify_response(raw)
            expect(user and user != state["user"], "the target's own opaque id")
            expect_equal(attributes.get("sn"), "MARTIN", "sn at the target")
            expect(f"<cas:proxy>{base}/pgt</cas:proxy>" in raw, f"the proxy is not named: {raw}")
            again, _, _ = validator.verify_ticket(pt)
            expect(again is None, "a proxy ticket was accepted twice")

        check("get_proxy_ticket for another service; serviceValidate refuses it, p3/proxyValidate accepts it once and names the proxy", proxy_ticket)

        def unregistered_callback():
            sneaky = client(app_url, proxy_callback="http://127.0.0.1:9/steal")
            ticket = sso_ticket(browser, sneaky)
            raw = sneaky.get_verification_response(ticket).decode("utf-8")
            expect('code="INVALID_PROXY_CALLBACK"' in raw, f"an unregistered pgtUrl was not refused: {raw}")

        check("an unregistered pgtUrl: INVALID_PROXY_CALLBACK", unregistered_callback)

        def unknown_target():
            try:
                client("https://evil.example/").get_proxy_ticket(state["pgt"])
            except cas.CASError:
                return
            raise AssertionError("a proxy ticket was issued for an unregistered service")

        check("a proxy ticket for an unregistered service: refused (python-cas raises CASError)", unknown_target)

    group("proxy tickets", proxies)

    def logout():
        browser = state["browser"]
        app = client(app_url)
        ticket = sso_ticket(browser, app)
        user, _, _ = app.verify_ticket(ticket)
        expect(user, "a last validated ticket")
        with side.lock:
            side.logouts.clear()

        def leave():
            resp = get(browser, app.get_logout_url(redirect_url=app_url))
            expect(resp.is_redirect, describe_response(resp))
            landing = urljoin(idp, resp.headers["Location"])
            if urlsplit(landing).path == "/deconnexion":
                page = get(browser, landing)
                lines, _ = logout_page_parts(page.text)
                note(f"logout page: {[line['name'] for line in lines]}")
            else:
                expect_equal(landing, app_url, "back to the service")

        check("logout through python-cas's get_logout_url(service)", leave, required=True)

        def slo():
            import time

            # one LogoutRequest per ticket the session's services validated, each sent in the
            # background: wait for the one naming the last ticket
            deadline = time.monotonic() + 10
            matched = False
            while time.monotonic() < deadline and not matched:
                with side.lock:
                    posts = list(side.logouts)
                requests_for_app = [message for path, message in posts if path == "/app/"]
                matched = any(cas.CASClientV3.verify_logout_request(m, ticket) for m in requests_for_app)
                if not matched:
                    time.sleep(0.1)
            expect(requests_for_app, f"no LogoutRequest POSTed to /app/ (got {posts!r})")
            expect(
                matched,
                f"python-cas does not match a LogoutRequest to the last ticket: {requests_for_app!r}",
            )

        check("CAS single logout: the service gets a LogoutRequest that python-cas's verify_logout_request matches to its ticket", slo)

        def after():
            resp = get(browser, app.get_login_url())
            location = urljoin(idp, resp.headers.get("Location", ""))
            expect(urlsplit(location).path == "/login", "the session survived the logout")
            try:
                client(target_url).get_proxy_ticket(state["pgt"])
            except cas.CASError:
                return
            raise AssertionError("the PGT outlived the SSO session")

        check("after logout: the next login asks to sign in, and the PGT is refused", after)

    group("logout", logout)

    def guardian():
        browser = new_browser("python-cas interop (guardian)")
        app = client(app_url)

        def claire():
            back = sign_in_page(browser, app.get_login_url(), CLAIRE)
            user, attributes, _ = app.verify_ticket(ticket_of(back, app_url))
            expect(user, "Claire's ticket validated")
            vectors = attributes.get("FrEduVecteur")
            expect(isinstance(vectors, list) and len(vectors) == 2, f"one FrEduVecteur per child: {vectors!r}")
            expect(all(v.split("|")[0] in ("1", "2") and v.split("|")[1:3] == ["MARTIN", "Claire"] for v in vectors), repr(vectors))
            affiliations = attributes.get("FrEduCtPersonAffiliation")
            affiliations = affiliations if isinstance(affiliations, list) else [affiliations]
            expect_equal(sorted(affiliations), ["resp1d", "resp2d"], "FrEduCtPersonAffiliation")

        check("Claire (guardian of two) signs in: one FrEduVecteur per child, as a list in python-cas", claire)

    group("guardian", guardian)
    side.server.shutdown()


if __name__ == "__main__":
    sys.exit(run_main("python-cas", sys.argv, __doc__, prepare, main_run))
