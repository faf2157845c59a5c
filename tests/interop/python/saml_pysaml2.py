"""Interoperability test: the identity provider's SAML 2.0 side as seen by pysaml2.

The script plays two roles:
  - the service provider ``sp-pysaml2``, through pysaml2's ``Saml2Client`` (signature checks by
    the ``xmlsec1`` program): AuthnRequests signed (HTTP-Redirect binding, RSA-SHA256), Response
    and Assertion signatures required, unsolicited responses refused, transient NameID; its
    metadata publishes an encryption key (``encryption_keypairs``, the same RSA key pair), so
    the IdP encrypts every Assertion (AES-256-GCM, key wrapped with RSA-OAEP) and pysaml2
    decrypts it and checks the signature of the decrypted Assertion;
  - the user's browser, a plain ``requests.Session`` that never follows redirects, signs in on
    the provider's HTML login page and reads the auto-submitted HTTP-POST form.
Nothing listens on the SP's port: the form the provider renders for the assertion consumer
service is parsed and handed to pysaml2 as the POST it would have received.

Single logout: the SP metadata names an HTTP-Redirect SingleLogoutService (/pysaml2/slo) and
``logout_requests_signed`` is set. After Léa's SSO, ``do_logout`` builds a signed HTTP-Redirect
LogoutRequest (NameID and SessionIndex of her assertion); the browser follows the provider
(303 to /idp/profile/SAML2/logout?flow=..., then 303 to /pysaml2/slo with a signed
SAMLResponse), and the query is handed to pysaml2: ``verify_redirect_signature`` with the IdP's
metadata certificate, ``parse_logout_request_response`` (HTTP-Redirect), then
``handle_logout_response``. Then a new AuthnRequest in the same browser must reach the login
page, and an unsigned or replayed LogoutRequest must be refused (400).

AES-256-CBC: a second registration, ``sp-pysaml2-cbc`` (entity ID, ACS and SLO under
/pysaml2-cbc/ on P+5, the same key pair), whose encryption KeyDescriptor lists only
``EncryptionMethod`` aes256-cbc: one more SSO for Léa must come encrypted with AES-256-CBC and be
decrypted and accepted by pysaml2.

Single logout across two SPs: a second pysaml2 SP, ``sp-pysaml2-2`` (its own entity ID, ACS
and SLO on P+6, its own key pair in SP_DIR/sp2). In a fresh browser Léa signs in at SP1, then
SP2's AuthnRequest completes by SSO (no login prompt). SP1's ``do_logout`` now leads to
/deconnexion?id=..., whose iframe for SP2 (/idp/profile/SAML2/logout/send) redirects to SP2's
/pysaml2/slo with the IdP's signed LogoutRequest. pysaml2's SP does not check the
Redirect-binding signature of an incoming LogoutRequest by itself (``parse_logout_request``
does only for an IdP configured with want_authn_requests_signed), so it is checked with
``verify_redirect_signature`` and the IdP's metadata certificate; ``parse_logout_request`` must
read the NameID and SessionIndex of SP2's own assertion, and ``handle_logout_request`` (which
answers UnknownPrincipal for a NameID it does not hold) must end SP2's session and answer
Success, signed; at the IdP that answer must get ``data-logout="ok"`` (replayed: "refused").
"Continuer" (/deconnexion/suite) then brings SP1 its LogoutResponse: Success without
PartialLogout, accepted by ``parse_logout_request_response`` and ``handle_logout_response``.
Variant: SP2's frame is never loaded; SP1's LogoutResponse must carry the second-level status
PartialLogout, and pysaml2 still accepts it (``status_ok`` reads only the top-level status).

Two steps, because the provider loads the SP's registration when it starts:

  saml_pysaml2.py prepare SP_DIR PORT RP_DIR
      SP_DIR holds sp.key and sp.crt, SP_DIR/sp2 the second SP's (RSA 2048, made with openssl
      by run-pysaml2.sh); PORT is the provider's port P (the SP's addresses use P+5, the second
      SP's P+6). Writes the SP metadata (RP_DIR/sp-pysaml2.xml, made by
      saml2.metadata.entity_descriptor) and the registration (RP_DIR/sp-pysaml2.toml), the same
      for sp-pysaml2-cbc and sp-pysaml2-2, and SP_DIR/sp-state.json for the second step.

  saml_pysaml2.py run SP_DIR
      Runs the checks against the provider at http://127.0.0.1:P.

pysaml2 does not raise on every problem: for some (a Destination that is not one of the SP's
ACS URLs, an InResponseTo it does not expect...) it only logs and returns no response or no
assertion. Every acceptance check therefore asserts that an assertion came back, and the
warnings pysaml2 logged are shown when a check fails.

Output of ``run``: one line per check, ``ok - ...`` or ``not ok - ...`` (details on ``  # ``
lines); exit status 0 only if every check passed.
"""

from __future__ import annotations

import base64
import html
import json
import logging
import os
import re
import shutil
import sys
import tomllib
import xml.etree.ElementTree as ET
import zlib
from urllib.parse import parse_qs, quote_plus, urlencode, urljoin, urlsplit

import requests
from interop_common import (
    HTTP_TIMEOUT,
    CheckFailed,
    check,
    csp_directive,
    describe_response,
    expect,
    expect_equal,
    fail,
    get,
    group,
    input_value,
    is_html,
    logout_frame_answer,
    logout_page_parts,
    new_browser,
    note,
    query_pairs,
    run_main,
    saml_post_form,
    short_url,
    snippet,
    toml_string,
    with_profile,
)
from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT, md
from saml2.client import Saml2Client
from saml2.config import SPConfig
from saml2.metadata import entity_descriptor
from saml2.saml import NAMEID_FORMAT_TRANSIENT
from saml2.sigver import verify_redirect_signature
from saml2.xmldsig import DIGEST_SHA256, SIG_RSA_SHA256

SP_FILE_STEM = "sp-pysaml2"
# a second registration of the same SP software (own entity ID and paths on P+5) whose metadata
# lists only AES-256-CBC in its encryption KeyDescriptor
CBC_FILE_STEM = "sp-pysaml2-cbc"
# the second SP, for single logout across two SPs: its own entity ID, addresses (P+6) and key
# pair (SP_DIR/sp2)
SP2_FILE_STEM = "sp-pysaml2-2"
SP2_DIR = "sp2"
SP_NAMES = {SP_FILE_STEM: "pysaml2 SP 1", CBC_FILE_STEM: "pysaml2 SP (AES-256-CBC)", SP2_FILE_STEM: "pysaml2 SP 2"}
RELAY_STATE = "relay-pysaml2-123"
REGISTERED_ATTRIBUTES = [
    "sn",
    "givenName",
    "FrEduCtPersonAffiliation",
    "FrEduCtEleveUAI",
    "FrEduCtId",
    "FrEduVecteur",
]
DEFAULT_XMLSEC1 = "/usr/bin/xmlsec1"

NS = {
    "md": "urn:oasis:names:tc:SAML:2.0:metadata",
    "ds": "http://www.w3.org/2000/09/xmldsig#",
    "saml": "urn:oasis:names:tc:SAML:2.0:assertion",
    "samlp": "urn:oasis:names:tc:SAML:2.0:protocol",
    "xenc": "http://www.w3.org/2001/04/xmlenc#",
}
CM_BEARER = "urn:oasis:names:tc:SAML:2.0:cm:bearer"
# XML Encryption of the Assertion (saml-core §2.3.4): the data algorithm, and the AES key
# wrapped to the SP's certificate with RSA-OAEP (MGF1 and digest SHA-1)
XENC_ELEMENT = "http://www.w3.org/2001/04/xmlenc#Element"
AES256_GCM = "http://www.w3.org/2009/xmlenc11#aes256-gcm"
AES256_CBC = "http://www.w3.org/2001/04/xmlenc#aes256-cbc"
RSA_OAEP_MGF1P = "http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p"
DIGEST_SHA1 = "http://www.w3.org/2000/09/xmldsig#sha1"
ASSERTION_NODE = "urn:oasis:names:tc:SAML:2.0:assertion:Assertion"

LEA = {"identifier": "lea.martin", "password": "Cartable-2026", "profile": "eleve"}
CLAIRE = {"identifier": "claire.martin", "password": "Parent-2026!", "profile": "responsable"}


# ---------------------------------------------------------------------------------------------
# The service provider's configuration


def sp_addresses(port):
    sp_base = f"http://127.0.0.1:{port + 5}"
    sp2_base = f"http://127.0.0.1:{port + 6}"
    return {
        "port": port,
        "sp_port": port + 5,
        "idp_base": f"http://127.0.0.1:{port}",
        "idp_entity_id": f"http://127.0.0.1:{port}/idp",
        "sp_entity_id": f"{sp_base}/pysaml2/metadata/",
        "acs_url": f"{sp_base}/pysaml2/acs",
        "slo_url": f"{sp_base}/pysaml2/slo",
        "cbc_entity_id": f"{sp_base}/pysaml2-cbc/metadata/",
        "cbc_acs_url": f"{sp_base}/pysaml2-cbc/acs",
        "cbc_slo_url": f"{sp_base}/pysaml2-cbc/slo",
        "sp2": {
            "sp_port": port + 6,
            "sp_entity_id": f"{sp2_base}/pysaml2/metadata/",
            "acs_url": f"{sp2_base}/pysaml2/acs",
            "slo_url": f"{sp2_base}/pysaml2/slo",
        },
    }


def second_sp(state):
    """The addresses of the second SP (own key pair in SP_DIR/sp2), in the shape sp_config expects."""
    return {**state, **state["sp2"]}


def cbc_state(state):
    """The addresses of the AES-256-CBC registration, in the shape sp_config expects."""
    return {**state, "sp_entity_id": state["cbc_entity_id"], "acs_url": state["cbc_acs_url"], "slo_url": state["cbc_slo_url"]}


def xmlsec1_path():
    path = os.environ.get("XMLSEC1") or DEFAULT_XMLSEC1
    if not os.access(path, os.X_OK):
        path = shutil.which("xmlsec1") or path
    return path


def sp_config(state, sp_dir, idp_metadata_file=None, acs_url=None):
    """A pysaml2 SPConfig for the SP; without IdP metadata for the prepare step."""
    conf = {
        "entityid": state["sp_entity_id"],
        "xmlsec_binary": xmlsec1_path(),
        "key_file": os.path.join(sp_dir, "sp.key"),
        "cert_file": os.path.join(sp_dir, "sp.crt"),
        # the same key pair for encryption: the metadata gets a KeyDescriptor use="encryption"
        # (metadata_key_usage "both": cert_file for signing, encryption_keypairs for encryption),
        # the IdP encrypts the Assertion to it and pysaml2 decrypts with key_file here
        "encryption_keypairs": [{"key_file": os.path.join(sp_dir, "sp.key"), "cert_file": os.path.join(sp_dir, "sp.crt")}],
        "metadata_key_usage": "both",
        "allow_unknown_attributes": True,
        "service": {
            "sp": {
                "name": "pysaml2 interop SP",
                "endpoints": {
                    "assertion_consumer_service": [(acs_url or state["acs_url"], BINDING_HTTP_POST)],
                    "single_logout_service": [(state["slo_url"], BINDING_HTTP_REDIRECT)],
                },
                "authn_requests_signed": True,
                "logout_requests_signed": True,
                "want_response_signed": True,
                "want_assertions_signed": True,
                "allow_unsolicited": False,
                "name_id_format": [NAMEID_FORMAT_TRANSIENT],
                "signing_algorithm": SIG_RSA_SHA256,
                "digest_algorithm": DIGEST_SHA256,
            }
        },
    }
    if idp_metadata_file:
        conf["metadata"] = {"local": [idp_metadata_file]}
    config = SPConfig()
    config.load(conf)
    return config


# ---------------------------------------------------------------------------------------------
# Step 1: prepare (before the provider starts)


def sp_metadata(state, sp_dir, only_algorithm=None):
    """pysaml2's metadata for the SP; with only_algorithm, the encryption KeyDescriptor lists
    that one EncryptionMethod (pysaml2 writes none by itself)."""
    descriptor = entity_descriptor(sp_config(state, sp_dir))
    if only_algorithm:
        spsso = descriptor.spsso_descriptor
        for kd in (spsso if isinstance(spsso, list) else [spsso])[0].key_descriptor:
            if kd.use == "encryption":
                kd.encryption_method = [md.EncryptionMethod(algorithm=only_algorithm)]
    return str(descriptor)


def check_sp_metadata(metadata, state, sp_dir, only_algorithm=None):
    root = ET.fromstring(metadata.encode("utf-8"))
    problems = []
    if root.get("entityID") != state["sp_entity_id"]:
        problems.append(f"entityID {root.get('entityID')!r}")
    spsso = root.find("md:SPSSODescriptor", NS)
    if spsso is None:
        problems.append("no SPSSODescriptor")
    else:
        if spsso.get("AuthnRequestsSigned") != "true":
            problems.append(f"AuthnRequestsSigned={spsso.get('AuthnRequestsSigned')!r}")
        if spsso.get("WantAssertionsSigned") != "true":
            problems.append(f"WantAssertionsSigned={spsso.get('WantAssertionsSigned')!r}")
        uses = sorted(kd.get("use") or "" for kd in spsso.findall("md:KeyDescriptor", NS))
        if uses != ["encryption", "signing"]:
            problems.append(f"KeyDescriptor uses {uses} (expected a signing and an encryption key)")
        with open(os.path.join(sp_dir, "sp.crt"), encoding="ascii") as f:
            own_cert = "".join(line for line in f.read().splitlines() if "-----" not in line)
        for kd in spsso.findall("md:KeyDescriptor[@use='encryption']", NS):
            certs = ["".join((c.text or "").split()) for c in kd.findall("ds:KeyInfo/ds:X509Data/ds:X509Certificate", NS)]
            if certs != [own_cert]:
                problems.append("the encryption KeyDescriptor does not hold the SP's certificate")
            methods = [m.get("Algorithm") for m in kd.findall("md:EncryptionMethod", NS)]
            if methods != ([only_algorithm] if only_algorithm else []):
                problems.append(f"encryption KeyDescriptor EncryptionMethod {methods}")
        acs = [(a.get("Binding"), a.get("Location")) for a in spsso.findall("md:AssertionConsumerService", NS)]
        if acs != [(BINDING_HTTP_POST, state["acs_url"])]:
            problems.append(f"AssertionConsumerService {acs}")
        slo = [(s.get("Binding"), s.get("Location")) for s in spsso.findall("md:SingleLogoutService", NS)]
        if slo != [(BINDING_HTTP_REDIRECT, state["slo_url"])]:
            problems.append(f"SingleLogoutService {slo} (expected HTTP-Redirect at {state['slo_url']})")
    if problems:
        raise SystemExit(f"prepare: unexpected SP metadata from pysaml2 for {state['sp_entity_id']}: " + "; ".join(problems))


def prepare(sp_dir, port, rp_dir):
    state = sp_addresses(port)
    os.makedirs(rp_dir, exist_ok=True)
    for stem, the_state, key_dir, only_algorithm in (
        (SP_FILE_STEM, state, sp_dir, None),
        (CBC_FILE_STEM, cbc_state(state), sp_dir, AES256_CBC),
        (SP2_FILE_STEM, second_sp(state), os.path.join(sp_dir, SP2_DIR), None),
    ):
        metadata = sp_metadata(the_state, key_dir, only_algorithm)
        check_sp_metadata(metadata, the_state, key_dir, only_algorithm)
        register(rp_dir, stem, the_state, metadata, only_algorithm)
    with open(os.path.join(sp_dir, "sp-state.json"), "w", encoding="utf-8") as f:
        json.dump(state, f, indent=2)


def register(rp_dir, stem, state, metadata, only_algorithm):
    xml_name = f"{stem}.xml"
    with open(os.path.join(rp_dir, xml_name), "w", encoding="utf-8") as f:
        f.write(metadata)
    what = "encryption key listing only AES-256-CBC" if only_algorithm else "encryption key"
    registration = "\n".join(
        [
            f"# The pysaml2 interoperability SP, {what} (written by tests/interop/python/saml_pysaml2.py).",
            'protocol = "saml"',
            f"entity_id = {toml_string(state['sp_entity_id'])}",
            f"name = {toml_string(SP_NAMES[stem])}",
            f"metadata_file = {toml_string(xml_name)}",
            "attributes = [" + ", ".join(toml_string(a) for a in REGISTERED_ATTRIBUTES) + "]",
            'name_id_format = "transient"',
            "",
        ]
    )
    parsed = tomllib.loads(registration)  # the file must be what it says
    assert parsed["entity_id"] == state["sp_entity_id"] and parsed["attributes"] == REGISTERED_ATTRIBUTES
    with open(os.path.join(rp_dir, f"{stem}.toml"), "w", encoding="utf-8") as f:
        f.write(registration)
    print(f"prepare: SP {state['sp_entity_id']} registered in {rp_dir} ({xml_name}, {stem}.toml; {what})")


# ---------------------------------------------------------------------------------------------
# Reporting


class LogCapture(logging.Handler):
    """Keeps what pysaml2 logs at WARNING and above (it logs some refusals instead of raising)."""

    def __init__(self):
        super().__init__(level=logging.WARNING)
        self.records = []

    def emit(self, record):
        try:
            self.records.append(f"{record.levelname} {record.name}: {record.getMessage()}")
        except Exception:  # noqa: BLE001
            self.records.append(f"{record.levelname} {record.name}: {record.msg}")

    def take(self):
        records, self.records = self.records, []
        return records


SAML2_LOG = LogCapture()


def install_log_capture():
    logger = logging.getLogger("saml2")
    logger.setLevel(logging.WARNING)
    logger.addHandler(SAML2_LOG)
    logger.propagate = False  # nothing on stderr: the messages go into the checks' details


# ---------------------------------------------------------------------------------------------
# The browser


# ---------------------------------------------------------------------------------------------
# Step 2: run


def main_run(sp_dir):
    with open(os.path.join(sp_dir, "sp-state.json"), encoding="utf-8") as f:
        state = json.load(f)
    idp_base = state["idp_base"]
    idp_entity_id = state["idp_entity_id"]
    idp_netloc = urlsplit(idp_base).netloc
    metadata_url = f"{idp_base}/idp/metadata"
    redirect_sso = f"{idp_base}/idp/profile/SAML2/Redirect/SSO"
    post_sso = f"{idp_base}/idp/profile/SAML2/POST/SSO"
    redirect_slo = f"{idp_base}/idp/profile/SAML2/Redirect/SLO"
    post_slo = f"{idp_base}/idp/profile/SAML2/POST/SLO"
    metadata_file = os.path.join(sp_dir, "idp-metadata.xml")
    install_log_capture()
    note(f"xmlsec1: {xmlsec1_path()}")

    # --- the IdP's metadata, loaded by pysaml2 ---------------------------------------------------

    def fetch_metadata():
        resp = requests.get(metadata_url, timeout=HTTP_TIMEOUT)
        expect_equal(resp.status_code, 200, f"status ({describe_response(resp)})")
        ctype = resp.headers.get("Content-Type", "")
        expect("xml" in ctype.lower(), f"Content-Type {ctype!r} is not XML")
        try:
            root = ET.fromstring(resp.content)
        except ET.ParseError as err:
            fail(f"not well-formed XML: {err}; body: {snippet(resp.text)}")
        expect_equal(root.tag, f"{{{NS['md']}}}EntityDescriptor", "root element")
        expect_equal(root.get("entityID"), idp_entity_id, "entityID")
        with open(metadata_file, "wb") as f:
            f.write(resp.content)
        return root

    def load_client():
        config = sp_config(state, sp_dir, metadata_file)
        client = Saml2Client(config)
        expect(idp_entity_id in client.metadata.identity_providers(), f"IdPs in pysaml2's metadata store: {client.metadata.identity_providers()}")
        sso = {}
        for binding in (BINDING_HTTP_REDIRECT, BINDING_HTTP_POST):
            sso[binding] = [s.get("location") for s in client.metadata.single_sign_on_service(idp_entity_id, binding)]
        problems = []
        if sso[BINDING_HTTP_REDIRECT] != [redirect_sso]:
            problems.append(f"HTTP-Redirect SSO {sso[BINDING_HTTP_REDIRECT]}, expected [{redirect_sso!r}]")
        if sso[BINDING_HTTP_POST] != [post_sso]:
            problems.append(f"HTTP-POST SSO {sso[BINDING_HTTP_POST]}, expected [{post_sso!r}]")
        certs = client.metadata.certs(idp_entity_id, "idpsso", use="signing")
        if not certs:
            problems.append("no signing certificate")
        if problems:
            fail("; ".join(problems))
        idpsso = client.metadata[idp_entity_id]["idpsso_descriptor"][0]
        formats = [f.get("text") for f in idpsso.get("name_id_format", [])]
        note(f"WantAuthnRequestsSigned={idpsso.get('want_authn_requests_signed')!r}; NameIDFormat {formats}")
        return client

    def idp_slo_services(client):
        try:
            services = client.metadata.single_logout_service(idp_entity_id, None, "idpsso")
        except Exception as err:  # noqa: BLE001 - pysaml2 raises UnsupportedBinding when there is none
            fail(f"pysaml2 finds no SingleLogoutService: {type(err).__name__}: {err}")
        found = {binding: [s.get("location") for s in srvs] for binding, srvs in (services or {}).items()}
        problems = []
        if found.get(BINDING_HTTP_REDIRECT) != [redirect_slo]:
            problems.append(f"HTTP-Redirect SLO {found.get(BINDING_HTTP_REDIRECT)}, expected [{redirect_slo!r}]")
        if found.get(BINDING_HTTP_POST) != [post_slo]:
            problems.append(f"HTTP-POST SLO {found.get(BINDING_HTTP_POST)}, expected [{post_slo!r}]")
        if problems:
            fail("; ".join(problems) + f" (all: {found})")

    def metadata_group():
        check(f"GET {metadata_url} returns an XML EntityDescriptor for {idp_entity_id}", fetch_metadata, required=True)
        loaded = check(
            "pysaml2 loads the IdP metadata (metadata: local): SSO for HTTP-Redirect and HTTP-POST, a signing certificate",
            load_client,
            required=True,
        )
        check(
            "pysaml2 finds the IdP's SingleLogoutService for HTTP-Redirect (.../Redirect/SLO) and HTTP-POST (.../POST/SLO)",
            lambda: idp_slo_services(loaded),
        )
        return loaded

    client = group("IdP metadata", metadata_group)
    if not client:
        return

    # --- helpers around pysaml2 ------------------------------------------------------------------

    def new_login(relay_state=RELAY_STATE, sign=True, the_client=None):
        request_id, info = (the_client or client).prepare_for_authenticate(
            entityid=idp_entity_id,
            relay_state=relay_state,
            binding=BINDING_HTTP_REDIRECT,
            sign=sign,
            sigalg=SIG_RSA_SHA256,
            digest_alg=DIGEST_SHA256,
        )
        location = dict(info["headers"]).get("Location")
        expect(location, f"no Location in pysaml2's http info: {info}")
        return location, request_id

    def follow_idp(browser, url):
        """GETs url, following the provider's redirects to its own pages other than /login.

        Returns (last response, [the redirects followed]).
        """
        hops = []
        for _ in range(8):
            resp = get(browser, url)
            if not resp.is_redirect:
                return resp, hops
            target = urljoin(resp.url, resp.headers["Location"])
            parts = urlsplit(target)
            if parts.netloc != idp_netloc or parts.path == "/login":
                return resp, hops
            hops.append(resp)
            url = target
        fail(f"more than 8 redirects: {[describe_response(h) for h in hops]}")

    def describe_hops(hops):
        return " ; ".join(
            f"{h.request.method} {short_url(h.request.url)} -> {h.status_code} Location: {h.headers.get('Location')}" for h in hops
        )

    def sign_in(browser, sso_url, user):
        """From the SSO URL to the POST page, signing in on the login page. Returns the trace."""
        trace = {}
        resp, hops = follow_idp(browser, sso_url)
        trace["sso"], trace["sso_hops"] = resp, hops
        expect(resp.is_redirect, f"the SSO endpoint did not redirect to the login page: {describe_hops(hops)} ; {describe_response(resp)}")
        location = urljoin(resp.url, resp.headers["Location"])
        parts = urlsplit(location)
        expect(
            parts.netloc == idp_netloc and parts.path == "/login",
            f"the SSO endpoint redirected elsewhere than {idp_base}/login: {describe_response(resp)}",
        )
        query = parse_qs(parts.query)
        expect("next" in query, f"no next parameter: {describe_response(resp)}")
        trace["sso_location"] = location
        login_url = location
        if query.get("profil") != [user["profile"]]:
            trace["profil_not_kept"] = True
            login_url = f"{idp_base}/login?" + urlencode({"profil": user["profile"], "next": query["next"][0]})
        page = get(browser, login_url)
        expect(page.status_code == 200 and is_html(page), f"login page: {describe_response(page)}")
        fields = {name: input_value(page.text, name) for name in ("csrf", "typeUser", "next")}
        missing = [name for name, value in fields.items() if value is None]
        expect(not missing, f"login page without hidden input(s) {missing}: {describe_response(page)}")
        trace["typeUser"] = fields["typeUser"]
        posted = browser.post(
            f"{idp_base}/login",
            data={**fields, "identifier": user["identifier"], "password": user["password"]},
            allow_redirects=False,
            timeout=HTTP_TIMEOUT,
        )
        trace["login_post"] = posted
        expect(posted.is_redirect, f"sign-in did not redirect: {describe_response(posted)}")
        after = urljoin(posted.url, posted.headers["Location"])
        expect_equal(after, urljoin(f"{idp_base}/", fields["next"]), f"sign-in redirect ({describe_response(posted)})")
        final, hops = follow_idp(browser, after)
        trace["post_page"], trace["post_hops"] = final, hops
        return trace

    def report_trace(trace, user):
        def statuses():
            for resp in trace["sso_hops"] + [trace["sso"]]:
                expect_equal(resp.status_code, 303, f"status ({describe_response(resp)})")

        check(f"the SSO endpoint answers 303 towards /login?...next=... (SSO URL with profil={user['profile']})", statuses)
        if trace["sso_hops"]:
            note(f"{len(trace['sso_hops'])} redirect(s) within the provider before /login: {describe_hops(trace['sso_hops'])}")
        if trace["post_hops"]:
            note(f"after sign-in, {len(trace['post_hops'])} redirect(s) before the POST page: {describe_hops(trace['post_hops'])}")
        if trace.get("profil_not_kept"):
            note(f"deviation: the login redirect does not carry profil={user['profile']}: {trace['sso_location']}")
        note(f"typeUser on the login page: {trace['typeUser']!r}")

    def expect_post_page(resp, acs_url=None):
        expect(resp.status_code == 200 and is_html(resp), f"not the POST page: {describe_response(resp)}")
        form = saml_post_form(resp.text)
        expect(form is not None, f"no SAMLResponse form: {describe_response(resp)}")
        expect_equal(form["action"], acs_url or state["acs_url"], "form action")
        expect_equal((form["method"] or "").lower(), "post", "form method")
        expect(form["SAMLResponse"], "empty SAMLResponse")
        return form

    def conv_info(acs_url=None, entity_id=None):
        acs = acs_url or state["acs_url"]
        return {
            "remote_addr": "127.0.0.1",
            "request_uri": acs,
            "entity_id": entity_id or state["sp_entity_id"],
            "endpoints": {"assertion_consumer_service": [(acs, BINDING_HTTP_POST)]},
        }

    def decoded_xml(saml_response):
        return base64.b64decode(saml_response).decode("utf-8")

    def consume(saml_response, request_id, return_to=RELAY_STATE, the_client=None, acs_url=None, entity_id=None):
        """pysaml2 parses and verifies the Response; fails unless an assertion comes back, and
        unless pysaml2 checked the signature of the Assertion it decrypted (its check_signature
        is watched: the Response's own signature is checked elsewhere, by _check_signature)."""
        SAML2_LOG.take()
        the_client = the_client or client
        checked = []
        original = the_client.sec.check_signature

        def watched(item, *args, **kwargs):
            node_name = kwargs.get("node_name", args[0] if args else None)
            result = original(item, *args, **kwargs)
            checked.append((node_name, bool(result)))
            return result

        the_client.sec.check_signature = watched
        try:
            response = the_client.parse_authn_request_response(
                saml_response,
                BINDING_HTTP_POST,
                outstanding={request_id: return_to},
                conv_info=conv_info(acs_url, entity_id),
            )
        except Exception as err:  # noqa: BLE001
            logged = SAML2_LOG.take()
            fail(
                f"pysaml2 raised {type(err).__name__}: {err}\npysaml2 logged: {logged}\n"
                f"Response: {snippet(decoded_xml(saml_response), 4000)}"
            )
        finally:
            the_client.sec.check_signature = original
        logged = SAML2_LOG.take()
        if response is None or getattr(response, "assertion", None) is None:
            fail(
                f"pysaml2 returned {'no response' if response is None else 'a response without assertion'}"
                f"\npysaml2 logged: {logged}\nResponse: {snippet(decoded_xml(saml_response), 4000)}"
            )
        if logged:
            note(f"pysaml2 logged: {logged}")
        expect(
            (ASSERTION_NODE, True) in checked,
            f"pysaml2 did not check the decrypted Assertion's signature (check_signature calls: {checked})",
        )
        return response

    def attributes_by_friendly_name(response):
        """{FriendlyName (or Name): [values]} from the verified assertion's AttributeStatements."""
        attrs = {}
        for statement in response.assertion.attribute_statement:
            for attribute in statement.attribute:
                key = attribute.friendly_name or attribute.name
                attrs.setdefault(key, []).extend((v.text or "") for v in attribute.attribute_value)
        return attrs

    def describe_attribute_names(response):
        return [
            (a.friendly_name, a.name, a.name_format)
            for statement in response.assertion.attribute_statement
            for a in statement.attribute
        ]

    def response_profile_checks(saml_response, response, request_id, acs_url=None, sp_entity_id=None):
        """Web Browser SSO profile (saml-profiles §4.1.4.2): the Response on the XML as sent, the
        Assertion on what pysaml2 decrypted and verified (response.assertion)."""
        acs_url = acs_url or state["acs_url"]
        sp_entity_id = sp_entity_id or state["sp_entity_id"]
        doc = ET.fromstring(base64.b64decode(saml_response))
        problems = []
        if doc.get("Destination") != acs_url:
            problems.append(f"Response Destination {doc.get('Destination')!r}")
        if doc.get("InResponseTo") != request_id:
            problems.append(f"Response InResponseTo {doc.get('InResponseTo')!r}, expected {request_id!r}")
        if response.in_response_to != request_id:
            problems.append(f"pysaml2's in_response_to {response.in_response_to!r}")
        expect_equal(len(response.assertions), 1, "assertions decrypted by pysaml2")
        assertion = response.assertion
        signatures = [("Response", doc.find("ds:Signature", NS))]
        for where, sig in signatures:
            if sig is None:
                problems.append(f"{where} not signed")
                continue
            method = sig.find("ds:SignedInfo/ds:SignatureMethod", NS)
            digest = sig.find("ds:SignedInfo/ds:Reference/ds:DigestMethod", NS)
            if method is None or method.get("Algorithm") != SIG_RSA_SHA256:
                problems.append(f"{where} SignatureMethod {None if method is None else method.get('Algorithm')}")
            if digest is None or digest.get("Algorithm") != DIGEST_SHA256:
                problems.append(f"{where} DigestMethod {None if digest is None else digest.get('Algorithm')}")
        if assertion.signature is None:
            problems.append("the decrypted Assertion is not signed")
        else:
            info = assertion.signature.signed_info
            method = info.signature_method.algorithm if info.signature_method else None
            digests = [r.digest_method.algorithm for r in info.reference if r.digest_method]
            refs = [r.uri for r in info.reference]
            if method != SIG_RSA_SHA256:
                problems.append(f"Assertion SignatureMethod {method}")
            if digests != [DIGEST_SHA256]:
                problems.append(f"Assertion DigestMethod {digests}")
            if refs != [f"#{assertion.id}"]:
                problems.append(f"Assertion signature references {refs}, expected ['#{assertion.id}']")
        issuer = ((assertion.issuer.text if assertion.issuer else "") or "").strip()
        if issuer != idp_entity_id:
            problems.append(f"Assertion Issuer {issuer!r}")
        bearer = [sc for sc in assertion.subject.subject_confirmation if sc.method == CM_BEARER] if assertion.subject else []
        if not bearer:
            problems.append("no bearer SubjectConfirmation")
        else:
            data = bearer[0].subject_confirmation_data
            if data is None:
                problems.append("bearer SubjectConfirmation without SubjectConfirmationData")
            else:
                if data.recipient != acs_url:
                    problems.append(f"SubjectConfirmationData Recipient {data.recipient!r}")
                if data.in_response_to != request_id:
                    problems.append(f"SubjectConfirmationData InResponseTo {data.in_response_to!r}")
                if not data.not_on_or_after:
                    problems.append("SubjectConfirmationData without NotOnOrAfter")
        audiences = [
            (a.text or "").strip()
            for restriction in (assertion.conditions.audience_restriction if assertion.conditions else [])
            for a in restriction.audience
        ]
        if sp_entity_id not in audiences:
            problems.append(f"Audience {audiences}, expected {sp_entity_id!r}")
        if not assertion.authn_statement or not assertion.authn_statement[0].session_index:
            problems.append("no AuthnStatement with a SessionIndex")
        if problems:
            fail("; ".join(problems))

    def encrypted_response_checks(saml_response, clear_values, data_algorithm=AES256_GCM):
        """The Response as it travels (before pysaml2 decrypts it): signed over the encrypted
        assertion, one EncryptedAssertion (xenc:EncryptedData Type Element, the data algorithm,
        the AES key in an xenc:EncryptedKey with RSA-OAEP in its ds:KeyInfo), and no Assertion
        nor attribute value in clear."""
        raw = base64.b64decode(saml_response)
        text = raw.decode("utf-8")
        doc = ET.fromstring(raw)
        problems = []
        encrypted = doc.findall("saml:EncryptedAssertion", NS)
        if len(encrypted) != 1:
            fail(f"{len(encrypted)} EncryptedAssertion elements directly in the Response\nResponse: {snippet(text, 3000)}")
        clear = doc.findall(".//saml:Assertion", NS)
        if clear:
            problems.append(f"{len(clear)} Assertion element(s) in clear")
        for value in clear_values:
            if value in text:
                problems.append(f"{value!r} appears in clear in the Response")
        signature = doc.find("ds:Signature", NS)
        if signature is None:
            problems.append("the Response is not signed")
        else:
            refs = [r.get("URI") for r in signature.findall("ds:SignedInfo/ds:Reference", NS)]
            if refs != ["#" + (doc.get("ID") or "")]:
                problems.append(f"the Response signature references {refs}, expected ['#{doc.get('ID')}']")
        data = encrypted[0].find("xenc:EncryptedData", NS)
        if data is None:
            fail(f"no xenc:EncryptedData in the EncryptedAssertion\nResponse: {snippet(text, 3000)}")
        if data.get("Type") != XENC_ELEMENT:
            problems.append(f"EncryptedData Type {data.get('Type')!r}, expected {XENC_ELEMENT!r}")
        method = data.find("xenc:EncryptionMethod", NS)
        algorithm = None if method is None else method.get("Algorithm")
        if algorithm != data_algorithm:
            problems.append(f"EncryptedData EncryptionMethod {algorithm!r}, expected {data_algorithm!r}")
        cipher = base64.b64decode("".join((data.findtext("xenc:CipherData/xenc:CipherValue", default="", namespaces=NS)).split()))
        if data_algorithm == AES256_GCM and len(cipher) < 12 + 16 + 1:
            problems.append(f"GCM CipherValue of {len(cipher)} bytes (IV 12 || ciphertext || tag 16 expected)")
        if data_algorithm == AES256_CBC and (len(cipher) < 32 or len(cipher) % 16):
            problems.append(f"CBC CipherValue of {len(cipher)} bytes (IV 16 || whole blocks expected)")
        keys = data.findall("ds:KeyInfo/xenc:EncryptedKey", NS)
        if not keys:
            problems.append(f"no xenc:EncryptedKey in the EncryptedData's ds:KeyInfo (siblings: {len(encrypted[0].findall('xenc:EncryptedKey', NS))})")
        else:
            key_method = keys[0].find("xenc:EncryptionMethod", NS)
            key_algorithm = None if key_method is None else key_method.get("Algorithm")
            if key_algorithm != RSA_OAEP_MGF1P:
                problems.append(f"EncryptedKey EncryptionMethod {key_algorithm!r}, expected {RSA_OAEP_MGF1P!r}")
            digest = None if key_method is None else key_method.find("ds:DigestMethod", NS)
            if digest is not None and digest.get("Algorithm") != DIGEST_SHA1:
                problems.append(f"EncryptedKey DigestMethod {digest.get('Algorithm')!r}, expected SHA-1")
            wrapped = base64.b64decode("".join((keys[0].findtext("xenc:CipherData/xenc:CipherValue", default="", namespaces=NS)).split()))
            if len(wrapped) != 256:
                problems.append(f"wrapped key of {len(wrapped)} bytes (RSA 2048: 256 expected)")
        if problems:
            fail("; ".join(problems) + f"\nResponse: {snippet(text, 3000)}")
        note(f"EncryptedData {algorithm} ({len(cipher)} bytes), key wrapped with {RSA_OAEP_MGF1P}")

    def check_subject(response, request_id):
        def name_id():
            nid = response.name_id
            expect(nid is not None and (nid.text or "").strip(), f"no NameID: {nid}")
            expect_equal(nid.format, NAMEID_FORMAT_TRANSIENT, "NameID Format")

        check("NameID present with format transient", name_id)

        def session_index():
            info = response.session_info()
            expect(info.get("session_index"), f"session index {info.get('session_index')!r}")

        check("session index present (AuthnStatement SessionIndex)", session_index)
        check(
            "InResponseTo matches the AuthnRequest ID (Response and pysaml2's session_id)",
            lambda: (
                expect_equal(response.in_response_to, request_id, "in_response_to"),
                expect_equal(response.session_id(), request_id, "session_id()"),
            ),
        )

    def single(attrs, name):
        values = attrs.get(name)
        expect(values is not None, f"no {name} attribute (received: {sorted(attrs)})")
        expect(len(values) == 1, f"{name}: expected one value, got {values!r}")
        return values[0]

    def check_ava(response, sn, given_name):
        """sn and givenName through pysaml2's attribute maps (urn:oid:2.5.4.4, urn:oid:2.5.4.42)."""
        ava = response.ava or {}
        expect_equal(ava.get("sn"), [sn], f"ava['sn'] (ava keys: {sorted(ava)})")
        expect_equal(ava.get("givenName"), [given_name], f"ava['givenName'] (ava keys: {sorted(ava)})")

    def check_registered_only(attrs):
        extra = sorted(set(attrs) - set(REGISTERED_ATTRIBUTES))
        expect(not extra, f"attributes outside the SP's registration: {extra}")

    def check_fr_edu_ct_id(attrs):
        value = single(attrs, "FrEduCtId")
        expect(re.fullmatch(r"[0-9a-fA-F]{96}", value), f"FrEduCtId {value!r} is not 96 hex characters")

    def expect_refused(browser, url, also_absent=()):
        resp, hops = follow_idp(browser, url)
        if hops:
            note(f"followed {len(hops)} redirect(s) within the provider first: {describe_hops(hops)}")
        problems = []
        if resp.status_code != 400:
            problems.append(f"status {resp.status_code}, expected 400")
        if not is_html(resp):
            problems.append(f"Content-Type {resp.headers.get('Content-Type')!r}, expected an HTML page")
        if saml_post_form(resp.text or "") is not None or state["acs_url"] in (resp.text or ""):
            problems.append("the page holds a SAMLResponse form or the ACS URL")
        for text in also_absent:
            if text in (resp.text or ""):
                problems.append(f"the page holds {text}")
        if resp.headers.get("Location"):
            problems.append("it redirects")
        if problems:
            fail("; ".join(problems) + f"\n{describe_response(resp)}")
        text = re.sub(r"<(script|style)\b.*?</\1>", " ", resp.text, flags=re.S | re.I)
        note(f"{resp.status_code}: {snippet(html.unescape(re.sub(r'<[^>]+>', ' ', text)), 200)}")

    # --- Léa, pupil ------------------------------------------------------------------------------

    outcome = {}

    def lea_group():
        browser = new_browser("idp-interop-pysaml2-browser")
        url, request_id = new_login()

        def request_url():
            expect_equal(url.split("?")[0], redirect_sso, "SSO URL")
            pairs = dict(query_pairs(url))
            expect_equal(sorted(pairs), ["RelayState", "SAMLRequest", "SigAlg", "Signature"], "query parameters")
            expect_equal(pairs["SigAlg"], SIG_RSA_SHA256, "SigAlg")
            expect_equal(pairs["RelayState"], RELAY_STATE, "RelayState")

        check("pysaml2 builds a signed HTTP-Redirect AuthnRequest (SAMLRequest, RelayState, SigAlg RSA-SHA256, Signature)", request_url)
        sso_url = with_profile(url, LEA["profile"])
        trace = check("Léa (eleve) signs in: SSO -> /login -> POST /login -> next", lambda: sign_in(browser, sso_url, LEA), required=True)
        report_trace(trace, LEA)
        form = check("next renders the HTTP-POST form to the ACS with SAMLResponse", lambda: expect_post_page(trace["post_page"]), required=True)
        check("RelayState comes back unchanged", lambda: expect_equal(form["RelayState"], RELAY_STATE, "RelayState"))
        check(
            "the Response as sent holds one EncryptedAssertion (EncryptedData Type Element, AES-256-GCM; key in ds:KeyInfo/xenc:EncryptedKey, RSA-OAEP), is signed, and has no Assertion nor MARTIN/Léa in clear",
            lambda: encrypted_response_checks(form["SAMLResponse"], ("MARTIN", "Léa", "0141234A")),
        )
        response = check(
            "pysaml2 (encryption_keypairs; signed Response and Assertion required, no unsolicited, conv_info) decrypts the assertion, checks its signature and accepts the Response",
            lambda: consume(form["SAMLResponse"], request_id),
            required=True,
        )
        check("pysaml2 gives back the outstanding request's return_to (came_from)", lambda: expect_equal(response.came_from, RELAY_STATE, "came_from"))
        check(
            "the Response and its decrypted Assertion follow the Web SSO profile (Destination, InResponseTo, RSA-SHA256 signatures, bearer Recipient, Audience, SessionIndex)",
            lambda: response_profile_checks(form["SAMLResponse"], response, request_id),
        )
        check_subject(response, request_id)
        attrs = attributes_by_friendly_name(response)
        note(f"ava: {response.ava}")
        note(f"attributes by FriendlyName: {attrs}")
        note(f"attribute names (FriendlyName, Name, NameFormat): {describe_attribute_names(response)}")
        check("Léa: ava (pysaml2's attribute maps) has sn = MARTIN, givenName = Léa", lambda: check_ava(response, "MARTIN", "Léa"))
        for name, expected in (
            ("sn", "MARTIN"),
            ("givenName", "Léa"),
            ("FrEduCtPersonAffiliation", "eleve2d"),
            ("FrEduCtEleveUAI", "0141234A"),
        ):
            check(f"Léa: {name} = {expected}", lambda name=name, expected=expected: expect_equal(single(attrs, name), expected, name))
        check("Léa: FrEduCtId is 96 hex characters", lambda: check_fr_edu_ct_id(attrs))

        def vecteur():
            value = single(attrs, "FrEduVecteur")
            expect(value.startswith("4|MARTIN|Léa|") and value.endswith("|0141234A"), f"FrEduVecteur {value!r}")
            expect_equal(value.count("|"), 4, f"fields of {value!r}")

        check("Léa: one FrEduVecteur 4|MARTIN|Léa|<id>|0141234A", vecteur)
        check("Léa: only registered attributes", lambda: check_registered_only(attrs))
        outcome["lea"] = attrs

        def tampered():
            # the attribute values travel encrypted: a character of the EncryptedData's
            # CipherValue (under the Response signature) is changed instead
            xml = decoded_xml(form["SAMLResponse"])
            matches = list(re.finditer(r"<(?:\w+:)?CipherValue>([^<]+)<", xml))
            # in document order: the wrapped key (in KeyInfo) first, then the encrypted assertion
            expect(len(matches) == 2, f"{len(matches)} CipherValue elements, expected 2 (wrapped key, encrypted assertion)")
            value = matches[-1].group(1)
            i = len(value) // 2
            changed = value[:i] + ("A" if value[i] != "A" else "B") + value[i + 1:]
            altered_xml = xml[: matches[-1].start(1)] + changed + xml[matches[-1].end(1):]
            altered = base64.b64encode(altered_xml.encode("utf-8")).decode("ascii")
            SAML2_LOG.take()
            try:
                result = client.parse_authn_request_response(
                    altered, BINDING_HTTP_POST, outstanding={request_id: RELAY_STATE}, conv_info=conv_info()
                )
            except Exception as err:  # noqa: BLE001 - a refusal is what is expected
                logged = SAML2_LOG.take()
                kind = type(err).__name__
                expect(
                    "signature" in kind.lower() or "signed" in kind.lower() or "signature" in str(err).lower(),
                    f"refused, but not for its signature: {kind}: {err}; pysaml2 logged: {logged}",
                )
                note(f"pysaml2 raised {kind}: {snippet(str(err), 200)}")
                return
            logged = SAML2_LOG.take()
            expect(
                result is None or getattr(result, "assertion", None) is None,
                f"pysaml2 accepted the altered Response; ava: {getattr(result, 'ava', None)}",
            )
            note(f"pysaml2 returned no assertion; logged: {logged}")

        check("a SAMLResponse altered after signing (a character of the encrypted assertion's CipherValue changed) is rejected by pysaml2 (signature)", tampered)

        def other_acs():
            other = Saml2Client(sp_config(state, sp_dir, metadata_file, acs_url=f"http://127.0.0.1:{state['sp_port']}/pysaml2/other-acs"))
            SAML2_LOG.take()
            try:
                result = other.parse_authn_request_response(
                    form["SAMLResponse"],
                    BINDING_HTTP_POST,
                    outstanding={request_id: RELAY_STATE},
                    conv_info=conv_info(f"http://127.0.0.1:{state['sp_port']}/pysaml2/other-acs"),
                )
            except Exception as err:  # noqa: BLE001
                note(f"pysaml2 raised {type(err).__name__}: {snippet(str(err), 200)}")
                return
            logged = SAML2_LOG.take()
            expect(
                result is None or getattr(result, "assertion", None) is None,
                "pysaml2 accepted a Response whose Destination is not its ACS",
            )
            note(f"pysaml2 returned no assertion; logged: {logged}")

        check("(control) the same Response is not accepted by a pysaml2 SP whose ACS URL differs (Destination/Recipient checked)", other_acs)

        def sso_again():
            url2, request_id2 = new_login(relay_state="relay-sso")
            resp, hops = follow_idp(browser, with_profile(url2, LEA["profile"]))
            if hops:
                note(f"SSO: {len(hops)} redirect(s) within the provider before the POST page: {describe_hops(hops)}")
            expect(not resp.is_redirect, f"redirected to the login page: {describe_response(resp)}")
            form2 = expect_post_page(resp)
            expect_equal(form2["RelayState"], "relay-sso", "RelayState")
            encrypted_response_checks(form2["SAMLResponse"], ("MARTIN", "Léa", "0141234A"))
            response2 = consume(form2["SAMLResponse"], request_id2, return_to="relay-sso")
            expect_equal(attributes_by_friendly_name(response2).get("FrEduCtId"), attrs.get("FrEduCtId"), "FrEduCtId")

        check("SSO: a second AuthnRequest in the same browser reaches the POST page without the login page, encrypted (AES-256-GCM), decrypted and accepted by pysaml2", sso_again)

        check(
            "the first signed AuthnRequest URL replayed in the same browser is refused (400 HTML, no ACS form)",
            lambda: expect_refused(browser, sso_url),
        )

        def unsigned():
            url3, _ = new_login(sign=False)
            keys = [k for k, _ in query_pairs(url3)]
            expect("Signature" not in keys and "SigAlg" not in keys, f"pysaml2 signed it anyway: {keys}")
            expect_refused(browser, with_profile(url3, LEA["profile"]))

        check("an unsigned AuthnRequest (pysaml2, sign=False) is refused (400 HTML, no ACS form)", unsigned)

        # --- single logout, SP-initiated over HTTP-Redirect (last: it ends Léa's session) ---------
        single_logout(browser, response)

    def inflate(value):
        return zlib.decompress(base64.b64decode(value), -15).decode("utf-8")

    def single_logout(browser, sso_response):
        slo = {}
        name_id = sso_response.name_id
        session_index = sso_response.session_info().get("session_index")

        def logout_request():
            SAML2_LOG.take()
            responses = client.do_logout(
                name_id,
                [idp_entity_id],
                reason="",
                expire=None,
                sign=True,
                expected_binding=BINDING_HTTP_REDIRECT,
                sign_alg=SIG_RSA_SHA256,
                digest_alg=DIGEST_SHA256,
            )
            logged = SAML2_LOG.take()
            expect(isinstance(responses, dict) and idp_entity_id in responses, f"do_logout returned {responses!r}; pysaml2 logged: {logged}")
            binding, info = responses[idp_entity_id]
            expect_equal(binding, BINDING_HTTP_REDIRECT, "binding chosen by do_logout")
            location = dict(info["headers"]).get("Location")
            expect(location, f"no Location in pysaml2's http info: {info}")
            expect_equal(location.split("?")[0], redirect_slo, "SLO URL")
            pairs = dict(query_pairs(location))
            expect_equal(sorted(pairs), ["RelayState", "SAMLRequest", "SigAlg", "Signature"], "query parameters")
            expect_equal(pairs["SigAlg"], SIG_RSA_SHA256, "SigAlg")
            doc = ET.fromstring(inflate(pairs["SAMLRequest"]))
            problems = []
            if doc.tag != f"{{{NS['samlp']}}}LogoutRequest":
                problems.append(f"root element {doc.tag}")
            if doc.get("Destination") != redirect_slo:
                problems.append(f"Destination {doc.get('Destination')!r}")
            if (doc.findtext("saml:Issuer", default="", namespaces=NS) or "").strip() != state["sp_entity_id"]:
                problems.append(f"Issuer {doc.findtext('saml:Issuer', namespaces=NS)!r}")
            nid = doc.find("saml:NameID", NS)
            if nid is None or (nid.text or "").strip() != (name_id.text or "").strip():
                problems.append(f"NameID {None if nid is None else nid.text!r}, expected {name_id.text!r}")
            elif nid.get("Format") != NAMEID_FORMAT_TRANSIENT:
                problems.append(f"NameID Format {nid.get('Format')!r}")
            indexes = [(e.text or "").strip() for e in doc.findall("samlp:SessionIndex", NS)]
            if indexes != [session_index]:
                problems.append(f"SessionIndex {indexes}, expected [{session_index!r}]")
            request_id = doc.get("ID")
            pending = client.state.get(request_id) if request_id else None
            if not pending or pending.get("operation") != "SLO":
                problems.append(f"pysaml2 keeps no pending SLO for the request ID {request_id!r}")
            if problems:
                fail("; ".join(problems) + f"\nLogoutRequest: {snippet(ET.tostring(doc, encoding='unicode'), 2000)}")
            slo.update(url=location, id=request_id, relay_state=pairs["RelayState"])

        check(
            "pysaml2 (do_logout, logout_requests_signed) builds a signed HTTP-Redirect LogoutRequest (Destination .../Redirect/SLO, Issuer, NameID, SessionIndex; SigAlg RSA-SHA256)",
            logout_request,
            required=True,
        )

        def unsigned_logout():
            _, request = client.create_logout_request(
                redirect_slo, idp_entity_id, name_id=name_id, session_indexes=[session_index], sign=False
            )
            info = client.apply_binding(BINDING_HTTP_REDIRECT, str(request), redirect_slo, "relay-unsigned", sign=False)
            location = dict(info["headers"])["Location"]
            keys = [k for k, _ in query_pairs(location)]
            expect("Signature" not in keys and "SigAlg" not in keys, f"pysaml2 signed it anyway: {keys}")
            expect_refused(browser, location, also_absent=(state["slo_url"],))

        check("an unsigned LogoutRequest (pysaml2, sign=False) is refused (400 HTML, no LogoutResponse)", unsigned_logout)

        def idp_logout():
            slo["cookies"] = browser.cookies.copy()  # the session cookie before the logout
            resp, hops = follow_idp(browser, slo["url"])
            expect(hops, f"the SLO endpoint did not redirect within the provider: {describe_response(resp)}")
            first = hops[0]
            expect_equal(first.status_code, 303, f"status of the SLO endpoint ({describe_response(first)})")
            step = urlsplit(urljoin(first.url, first.headers["Location"]))
            expect(
                step.netloc == idp_netloc and step.path == "/idp/profile/SAML2/logout" and parse_qs(step.query).get("flow"),
                f"the SLO endpoint redirected elsewhere than /idp/profile/SAML2/logout?flow=...: {describe_response(first)}",
            )
            if len(hops) > 1:
                note(f"{len(hops)} redirect(s) within the provider: {describe_hops(hops)}")
            expect(resp.is_redirect, f"no redirect to the SP's SingleLogoutService: {describe_response(resp)}")
            expect_equal(resp.status_code, 303, f"status ({describe_response(resp)})")
            location = urljoin(resp.url, resp.headers["Location"])
            expect_equal(location.split("?")[0], state["slo_url"], "LogoutResponse redirect target")
            pairs = dict(query_pairs(location))
            expect_equal(sorted(pairs), ["RelayState", "SAMLResponse", "SigAlg", "Signature"], "query parameters")
            note(f"Set-Cookie on the redirect to the SP: {snippet(resp.headers.get('Set-Cookie') or '(none)', 300)}")
            slo.update(location=location, query=urlsplit(location).query, pairs=pairs)

        check(
            "the signed LogoutRequest: 303 to /idp/profile/SAML2/logout?flow=..., then 303 to the SP's /pysaml2/slo with SAMLResponse, RelayState, SigAlg, Signature",
            idp_logout,
            required=True,
        )

        def redirect_signature():
            pairs = slo["pairs"]
            certs = client.metadata.certs(idp_entity_id, "idpsso", "signing")
            expect(certs, "no signing certificate for the IdP in pysaml2's metadata store")
            if any(verify_redirect_signature(dict(pairs), client.sec.sec_backend, cert) for _, cert in certs):
                return
            # pysaml2 rebuilds the signed string from the decoded values: say whether it differs
            # from the query as received (which is what saml-bindings §3.4.4.1 signs)
            rebuilt = "&".join(urlencode({k: pairs[k]}) for k in ("SAMLResponse", "RelayState", "SigAlg") if k in pairs)
            received = "&".join(p for k in ("SAMLResponse=", "RelayState=", "SigAlg=") for p in slo["query"].split("&") if p.startswith(k))
            fail(
                "pysaml2's verify_redirect_signature refuses the Signature with the IdP's signing certificate(s)"
                + ("" if rebuilt == received else f"\nthe query as received differs from pysaml2's re-encoding:\n received: {received}\n rebuilt:  {rebuilt}")
            )

        check(
            "the LogoutResponse's Redirect-binding signature (RSA-SHA256 over SAMLResponse, RelayState, SigAlg) verifies with pysaml2's verify_redirect_signature and the IdP's metadata certificate",
            redirect_signature,
        )

        def process_logout_response():
            SAML2_LOG.take()
            try:
                result = client.parse_logout_request_response(slo["pairs"]["SAMLResponse"], BINDING_HTTP_REDIRECT)
            except Exception as err:  # noqa: BLE001
                fail(
                    f"pysaml2 raised {type(err).__name__}: {err}\npysaml2 logged: {SAML2_LOG.take()}\n"
                    f"LogoutResponse: {snippet(inflate(slo['pairs']['SAMLResponse']), 3000)}"
                )
            logged = SAML2_LOG.take()
            expect(result is not None, f"pysaml2 returned no response; logged: {logged}")
            # pysaml2 only logs some refusals (a Destination not among its SLO endpoints...)
            expect(not logged, f"pysaml2 logged: {logged}")
            expect(result.verify(), f"pysaml2's verify() refuses it; logged: {SAML2_LOG.take()}")
            expect_equal(result.in_response_to, slo["id"], "in_response_to")
            expect_equal(result.issuer(), idp_entity_id, "issuer")
            expect(result.status_ok(), "status_ok() is False")
            outcome = client.handle_logout_response(result, sign_alg=SIG_RSA_SHA256, digest_alg=DIGEST_SHA256)
            expect(isinstance(outcome, tuple) and outcome[:2] == (0, "200 Ok"), f"handle_logout_response: {outcome!r}")
            expect(not client.is_logged_in(name_id), "pysaml2 still holds Léa's session")
            return result

        check(
            "pysaml2 (parse_logout_request_response, HTTP-Redirect; handle_logout_response) accepts the LogoutResponse for its pending LogoutRequest and ends the local session",
            process_logout_response,
            required=True,
        )

        def logout_response_checks():
            doc = ET.fromstring(inflate(slo["pairs"]["SAMLResponse"]))
            problems = []
            if doc.tag != f"{{{NS['samlp']}}}LogoutResponse":
                problems.append(f"root element {doc.tag}")
            if doc.get("InResponseTo") != slo["id"]:
                problems.append(f"InResponseTo {doc.get('InResponseTo')!r}, expected {slo['id']!r}")
            if doc.get("Destination") != state["slo_url"]:
                problems.append(f"Destination {doc.get('Destination')!r}, expected {state['slo_url']!r}")
            if doc.get("Version") != "2.0":
                problems.append(f"Version {doc.get('Version')!r}")
            issuer = (doc.findtext("saml:Issuer", default="", namespaces=NS) or "").strip()
            if issuer != idp_entity_id:
                problems.append(f"Issuer {issuer!r}")
            status = doc.find("samlp:Status/samlp:StatusCode", NS)
            if status is None or status.get("Value") != "urn:oasis:names:tc:SAML:2.0:status:Success":
                problems.append(f"StatusCode {None if status is None else status.get('Value')!r}")
            if slo["pairs"].get("RelayState") != slo["relay_state"]:
                problems.append(f"RelayState {slo['pairs'].get('RelayState')!r}, expected pysaml2's {slo['relay_state']!r}")
            if slo["pairs"].get("SigAlg") != SIG_RSA_SHA256:
                problems.append(f"SigAlg {slo['pairs'].get('SigAlg')!r}")
            if problems:
                fail("; ".join(problems) + f"\nLogoutResponse: {snippet(ET.tostring(doc, encoding='unicode'), 2000)}")
            if doc.find("ds:Signature", NS) is not None:
                note("the LogoutResponse also carries an enveloped signature (the Redirect binding signs the query)")

        check(
            "the LogoutResponse: status Success, InResponseTo = the LogoutRequest ID, Destination = the SP's /pysaml2/slo, Issuer = the IdP; RelayState unchanged, SigAlg RSA-SHA256",
            logout_response_checks,
        )


        def altered_signature_pairs():
            sig = slo["pairs"]["Signature"]
            i = len(sig) // 2
            bad = sig[:i] + ("B" if sig[i] != "B" else "C") + sig[i + 1:]
            query = "&".join(f"Signature={quote_plus(bad)}" if p.startswith("Signature=") else p for p in slo["query"].split("&"))
            return {**slo["pairs"], "Signature": bad}, query

        def altered_logout_response():
            pairs, _ = altered_signature_pairs()
            certs = client.metadata.certs(idp_entity_id, "idpsso", "signing")
            expect(certs, "no signing certificate for the IdP in pysaml2's metadata store")
            for _, cert in certs:
                try:
                    verified = verify_redirect_signature(dict(pairs), client.sec.sec_backend, cert)
                except Exception as err:  # noqa: BLE001 - a refusal
                    note(f"pysaml2 raised {type(err).__name__}: {err}")
                    continue
                expect(not verified, "pysaml2's verify_redirect_signature accepts an altered Signature")

        check("(control) the same LogoutResponse with its Signature altered fails pysaml2's verify_redirect_signature", altered_logout_response)

        def session_gone(browser=browser):
            url, _ = new_login(relay_state="relay-after-slo")
            resp, hops = follow_idp(browser, with_profile(url, LEA["profile"]))
            if hops:
                note(f"{len(hops)} redirect(s) within the provider: {describe_hops(hops)}")
            expect(resp.is_redirect, f"not redirected to the login page (is the SSO session still there?): {describe_response(resp)}")
            parts = urlsplit(urljoin(resp.url, resp.headers["Location"]))
            expect(
                parts.netloc == idp_netloc and parts.path == "/login",
                f"redirected elsewhere than {idp_base}/login: {describe_response(resp)}",
            )

        check("after SLO, a new AuthnRequest in the same browser leads to the login page (the SSO session is gone)", session_gone)

        def old_cookie():
            other = new_browser("idp-interop-pysaml2-browser")
            other.cookies.update(slo["cookies"])
            expect(len(other.cookies), "no cookie was set by the provider before the logout")
            session_gone(other)

        check(
            "the session cookie from before the SLO, sent again in another browser, leads to the login page too (ended on the IdP, not only cleared)",
            old_cookie,
        )

        check(
            "the same signed LogoutRequest URL replayed is refused (400 HTML, no LogoutResponse)",
            lambda: expect_refused(browser, slo["url"], also_absent=(state["slo_url"],)),
        )

    group("Léa (eleve): signed AuthnRequest, sign-in, POST binding, pysaml2; tampering, SSO and refused requests", lea_group)

    # --- Claire, guardian ------------------------------------------------------------------------

    def claire_group():
        browser = new_browser("idp-interop-pysaml2-browser")
        url, request_id = new_login()
        trace = check(
            "Claire (responsable) signs in in a fresh browser",
            lambda: sign_in(browser, with_profile(url, CLAIRE["profile"]), CLAIRE),
            required=True,
        )
        report_trace(trace, CLAIRE)
        form = check("next renders the HTTP-POST form to the ACS", lambda: expect_post_page(trace["post_page"]), required=True)
        check("RelayState comes back unchanged", lambda: expect_equal(form["RelayState"], RELAY_STATE, "RelayState"))
        check(
            "the Response as sent holds one EncryptedAssertion (AES-256-GCM, RSA-OAEP), is signed, and has no Assertion nor MARTIN/Claire in clear",
            lambda: encrypted_response_checks(form["SAMLResponse"], ("MARTIN", "Claire", "0140001B")),
        )
        response = check(
            "pysaml2 decrypts the assertion, checks its signature and accepts the Response",
            lambda: consume(form["SAMLResponse"], request_id),
            required=True,
        )
        check("the Response and its decrypted Assertion follow the Web SSO profile", lambda: response_profile_checks(form["SAMLResponse"], response, request_id))
        check_subject(response, request_id)
        attrs = attributes_by_friendly_name(response)
        note(f"ava: {response.ava}")
        note(f"attributes by FriendlyName: {attrs}")
        check("Claire: ava (pysaml2's attribute maps) has sn = MARTIN, givenName = Claire", lambda: check_ava(response, "MARTIN", "Claire"))
        check("Claire: sn = MARTIN", lambda: expect_equal(single(attrs, "sn"), "MARTIN", "sn"))
        check("Claire: givenName = Claire", lambda: expect_equal(single(attrs, "givenName"), "Claire", "givenName"))
        check(
            "Claire: FrEduCtPersonAffiliation = resp1d, resp2d",
            lambda: expect_equal(sorted(attrs.get("FrEduCtPersonAffiliation") or []), ["resp1d", "resp2d"], "FrEduCtPersonAffiliation"),
        )

        def vecteurs():
            values = attrs.get("FrEduVecteur") or []
            expect_equal(len(values), 2, f"number of FrEduVecteur values in {values!r}")
            first = [v for v in values if v.startswith("1|MARTIN|Claire|")]
            second = [v for v in values if v.startswith("2|MARTIN|Claire|")]
            expect(len(first) == 1, f"no value starting 1|MARTIN|Claire| in {values!r}")
            expect(len(second) == 1, f"no value starting 2|MARTIN|Claire| in {values!r}")

        check("Claire: two FrEduVecteur values, 1|MARTIN|Claire|… and 2|MARTIN|Claire|…", vecteurs)
        check("Claire: no FrEduCtEleveUAI", lambda: expect("FrEduCtEleveUAI" not in attrs, f"FrEduCtEleveUAI {attrs.get('FrEduCtEleveUAI')!r}"))
        check("Claire: FrEduCtId is 96 hex characters", lambda: check_fr_edu_ct_id(attrs))
        check("Claire: only registered attributes", lambda: check_registered_only(attrs))
        outcome["claire"] = attrs

    group("Claire (responsable): fresh browser, multi-valued attributes", claire_group)

    # --- an SP whose encryption key lists only AES-256-CBC ------------------------------------------

    def cbc_group():
        cbc = cbc_state(state)
        cbc_client = check(
            f"pysaml2 SP {cbc['sp_entity_id']} (registered with an encryption KeyDescriptor listing only AES-256-CBC) loads the IdP metadata",
            lambda: Saml2Client(sp_config(cbc, sp_dir, metadata_file)),
            required=True,
        )
        browser = new_browser("idp-interop-pysaml2-browser")
        url, request_id = new_login(relay_state="relay-cbc", the_client=cbc_client)
        trace = check(
            "Léa (eleve) signs in for the CBC SP in a fresh browser",
            lambda: sign_in(browser, with_profile(url, LEA["profile"]), LEA),
            required=True,
        )
        form = check(
            "next renders the HTTP-POST form to the CBC SP's ACS",
            lambda: expect_post_page(trace["post_page"], acs_url=cbc["acs_url"]),
            required=True,
        )
        check(
            "the Response as sent holds one EncryptedAssertion with AES-256-CBC (the only algorithm the SP lists), key wrapped with RSA-OAEP, no Assertion nor MARTIN/Léa in clear",
            lambda: encrypted_response_checks(form["SAMLResponse"], ("MARTIN", "Léa", "0141234A"), data_algorithm=AES256_CBC),
        )
        response = check(
            "pysaml2 (CBC SP) decrypts the AES-256-CBC assertion, checks its signature and accepts the Response",
            lambda: consume(form["SAMLResponse"], request_id, return_to="relay-cbc", the_client=cbc_client, acs_url=cbc["acs_url"]),
            required=True,
        )
        check(
            "the Response and its decrypted Assertion follow the Web SSO profile (for the CBC SP's ACS and entity ID)",
            lambda: response_profile_checks(form["SAMLResponse"], response, request_id, acs_url=cbc["acs_url"], sp_entity_id=cbc["sp_entity_id"]),
        )
        attrs = attributes_by_friendly_name(response)
        check("CBC SP: sn = MARTIN, givenName = Léa, FrEduCtEleveUAI = 0141234A", lambda: (
            expect_equal(single(attrs, "sn"), "MARTIN", "sn"),
            expect_equal(single(attrs, "givenName"), "Léa", "givenName"),
            expect_equal(single(attrs, "FrEduCtEleveUAI"), "0141234A", "FrEduCtEleveUAI"),
        ))

    group("AES-256-CBC: a second SP registration whose metadata lists only aes256-cbc", cbc_group)

    if outcome.get("lea") and outcome.get("claire"):
        check(
            "Léa and Claire have different FrEduCtId values",
            lambda: expect(outcome["lea"].get("FrEduCtId") != outcome["claire"].get("FrEduCtId"), "same FrEduCtId"),
        )

    # --- single logout across two SPs of one SSO session ----------------------------------------
    #
    # Léa signs in at SP1, then at SP2 (its own key pair) by SSO in the same browser. SP1's
    # do_logout leads to /deconnexion, whose frame for SP2 carries the IdP's signed LogoutRequest
    # to SP2's /pysaml2/slo; pysaml2 as SP2 checks the Redirect-binding signature
    # (verify_redirect_signature with the IdP's metadata certificate: its parse_logout_request
    # checks it only for an IdP configured with want_authn_requests_signed), reads the request
    # (parse_logout_request) and answers it (handle_logout_request, which ends the local session
    # only when the NameID is the one it holds, else answers UnknownPrincipal); the signed
    # LogoutResponse it makes goes to the IdP; "Continuer" then brings SP1 its LogoutResponse.

    sp2 = second_sp(state)
    sp2_dir = os.path.join(sp_dir, SP2_DIR)
    sp2_origin = "{0.scheme}://{0.netloc}".format(urlsplit(sp2["slo_url"]))
    status_success = "urn:oasis:names:tc:SAML:2.0:status:Success"
    status_partial_logout = "urn:oasis:names:tc:SAML:2.0:status:PartialLogout"

    def sign_in_both(browser, run):
        run["client1"] = Saml2Client(sp_config(state, sp_dir, metadata_file))
        run["client2"] = Saml2Client(sp_config(sp2, sp2_dir, metadata_file))
        url, request_id = new_login(relay_state="relay-sp1", the_client=run["client1"])

        def at_sp1():
            trace = sign_in(browser, with_profile(url, LEA["profile"]), LEA)
            form = expect_post_page(trace["post_page"])
            return consume(form["SAMLResponse"], request_id, return_to="relay-sp1", the_client=run["client1"])

        run["response1"] = check("Léa (eleve) signs in at SP1; pysaml2 SP1 accepts the Response", at_sp1, required=True)

        def at_sp2():
            url2, request_id2 = new_login(relay_state="relay-sp2", the_client=run["client2"])
            resp, hops = follow_idp(browser, url2)
            expect(not resp.is_redirect, f"not the POST page (a login prompt?): {describe_hops(hops)} ; {describe_response(resp)}")
            form = expect_post_page(resp, acs_url=sp2["acs_url"])
            expect_equal(form["RelayState"], "relay-sp2", "RelayState")
            # encrypted to SP2's own key: only SP2's configuration decrypts it
            return consume(
                form["SAMLResponse"], request_id2, return_to="relay-sp2", the_client=run["client2"], acs_url=sp2["acs_url"], entity_id=sp2["sp_entity_id"]
            )

        run["response2"] = check(
            "SSO at SP2 in the same browser: the POST page to SP2's ACS without a login prompt; pysaml2 SP2 (its own key) decrypts and accepts the Response",
            at_sp2,
            required=True,
        )
        for n in ("1", "2"):
            response = run["response" + n]
            run["name_id" + n] = response.name_id
            run["session_index" + n] = response.session_info().get("session_index")
        note(
            f"SP1: NameID {run['name_id1'].text!r} SessionIndex {run['session_index1']!r}; "
            f"SP2: NameID {run['name_id2'].text!r} SessionIndex {run['session_index2']!r}"
        )

    def start_logout(browser, run):
        def logout_request():
            SAML2_LOG.take()
            responses = run["client1"].do_logout(
                run["name_id1"],
                [idp_entity_id],
                reason="",
                expire=None,
                sign=True,
                expected_binding=BINDING_HTTP_REDIRECT,
                sign_alg=SIG_RSA_SHA256,
                digest_alg=DIGEST_SHA256,
            )
            expect(isinstance(responses, dict) and idp_entity_id in responses, f"do_logout returned {responses!r}; pysaml2 logged: {SAML2_LOG.take()}")
            location = dict(responses[idp_entity_id][1]["headers"]).get("Location")
            expect(location and location.split("?")[0] == redirect_slo, f"do_logout's Location {location!r}")
            pairs = dict(query_pairs(location))
            run.update(logout_id=ET.fromstring(inflate(pairs["SAMLRequest"])).get("ID"), relay_state=pairs.get("RelayState"))
            resp, hops = follow_idp(browser, location)
            expect(
                len(hops) == 2,
                f"expected 2 redirects within the provider (the SLO endpoint, then .../logout?flow=...), got {len(hops)}: "
                f"{describe_hops(hops)} ; last: {describe_response(resp)}",
            )
            for hop in hops:
                expect_equal(hop.status_code, 303, f"status ({describe_response(hop)})")
            first = urlsplit(urljoin(hops[0].url, hops[0].headers["Location"]))
            expect(
                first.path == "/idp/profile/SAML2/logout" and parse_qs(first.query).get("flow"),
                f"the SLO endpoint redirected elsewhere than /idp/profile/SAML2/logout?flow=...: {describe_response(hops[0])}",
            )
            second = urlsplit(urljoin(hops[1].url, hops[1].headers["Location"]))
            plan_id = parse_qs(second.query).get("id")
            expect(
                second.netloc == idp_netloc and second.path == "/deconnexion" and plan_id,
                f"with SP2 signed in too, expected a 303 to /deconnexion?id=..., got: {describe_response(hops[1])}",
            )
            expect(resp.status_code == 200 and is_html(resp), f"the logout page: {describe_response(resp)}")
            run.update(page=resp, plan_id=plan_id[0])

        check(
            "SP1's signed LogoutRequest (pysaml2 do_logout): 303 to /idp/profile/SAML2/logout?flow=..., then 303 to /deconnexion?id=... (another SP to tell), a 200 HTML page",
            logout_request,
            required=True,
        )

        def page():
            lines, nexts = logout_page_parts(run["page"].text)
            by_name = {line["name"]: line for line in lines}
            names = [SP_NAMES[SP_FILE_STEM], SP_NAMES[SP2_FILE_STEM]]
            problems = []
            if sorted(by_name) != sorted(names):
                problems.append(f"services listed {sorted(by_name)}, expected {names}")
            line1, line2 = by_name.get(names[0]), by_name.get(names[1])
            if line1 and line1["frames"]:
                problems.append(f"a frame for SP1, the initiator: {line1['frames']}")
            frame_src = ""
            if line2:
                frames = [f for f in line2["frames"] if "logout-frame" in (f.get("class") or "").split()]
                if len(frames) != 1:
                    problems.append(f"SP2's line holds {len(line2['frames'])} frame(s) {line2['frames']}, expected one iframe.logout-frame")
                else:
                    frame_src = frames[0].get("src") or ""
                    parts = urlsplit(urljoin(f"{idp_base}/", frame_src))
                    query = parse_qs(parts.query)
                    if parts.netloc != idp_netloc or parts.path != "/idp/profile/SAML2/logout/send" or query.get("id") != [run["plan_id"]] or not query.get("n"):
                        problems.append(f"SP2's frame src {frame_src!r}, expected /idp/profile/SAML2/logout/send?id={run['plan_id']}&n=...")
            if [urljoin(f"{idp_base}/", n or "") for n in nexts] != [f"{idp_base}/deconnexion/suite?id={run['plan_id']}"]:
                problems.append(f"Continuer links {nexts}, expected one a#logout-next to /deconnexion/suite?id={run['plan_id']}")
            if problems:
                fail("; ".join(problems) + f"\nlogout page: {snippet(run['page'].text, 3000)}")
            note(f"lines: {[(line['name'], line['status']) for line in lines]}; frame {frame_src}")
            run.update(frame=urljoin(f"{idp_base}/", frame_src), next=urljoin(f"{idp_base}/", nexts[0]))

        check(
            "the logout page lists SP1 and SP2, one iframe.logout-frame for SP2 only (/idp/profile/SAML2/logout/send?id=...&n=...), and a#logout-next to /deconnexion/suite?id=...",
            page,
            required=True,
        )
        check(
            "the logout page's Content-Security-Policy lets its frame go on to SP2's origin (frame-src)",
            lambda: expect(sp2_origin in csp_directive(run["page"], "frame-src"), f"frame-src {csp_directive(run['page'], 'frame-src')} lacks {sp2_origin}"),
        )

    def sp2_is_told(browser, run):
        def frame():
            resp = get(browser, run["frame"])
            expect_equal(resp.status_code, 303, f"status ({describe_response(resp)})")
            location = urljoin(resp.url, resp.headers["Location"])
            expect_equal(location.split("?")[0], sp2["slo_url"], "redirect target (SP2's HTTP-Redirect SingleLogoutService)")
            pairs = dict(query_pairs(location))
            expect_equal(sorted(pairs), ["SAMLRequest", "SigAlg", "Signature"], "query parameters")
            expect_equal(pairs["SigAlg"], SIG_RSA_SHA256, "SigAlg")
            run.update(sp2_pairs=pairs, sp2_query=urlsplit(location).query)

        check("the frame URL: 303 to SP2's /pysaml2/slo (HTTP-Redirect) with SAMLRequest, SigAlg RSA-SHA256, Signature", frame, required=True)

        def signature():
            client2 = run["client2"]
            certs = client2.metadata.certs(idp_entity_id, "idpsso", "signing")
            expect(certs, "no signing certificate for the IdP in pysaml2's metadata store")
            expect(
                any(verify_redirect_signature(dict(run["sp2_pairs"]), client2.sec.sec_backend, cert) for _, cert in certs),
                "pysaml2's verify_redirect_signature refuses the LogoutRequest's Signature with the IdP's signing certificate(s)",
            )
            sig = run["sp2_pairs"]["Signature"]
            i = len(sig) // 2
            altered = {**run["sp2_pairs"], "Signature": sig[:i] + ("B" if sig[i] != "B" else "C") + sig[i + 1:]}
            for _, cert in certs:
                try:
                    verified = verify_redirect_signature(altered, client2.sec.sec_backend, cert)
                except Exception:  # noqa: BLE001 - a refusal
                    verified = False
                expect(not verified, "(control) pysaml2's verify_redirect_signature accepts an altered Signature too")

        check(
            "the IdP's LogoutRequest signature (Redirect binding, RSA-SHA256) verifies with pysaml2's verify_redirect_signature and the IdP's metadata certificate (and an altered one does not)",
            signature,
            required=True,
        )

        def parsed():
            pairs = run["sp2_pairs"]
            SAML2_LOG.take()
            try:
                request = run["client2"].parse_logout_request(
                    pairs["SAMLRequest"], BINDING_HTTP_REDIRECT, sigalg=pairs["SigAlg"], signature=pairs["Signature"]
                )
            except Exception as err:  # noqa: BLE001
                fail(f"pysaml2 raised {type(err).__name__}: {err}\npysaml2 logged: {SAML2_LOG.take()}\nLogoutRequest: {snippet(inflate(pairs['SAMLRequest']), 2000)}")
            logged = SAML2_LOG.take()
            expect(request is not None and request.message is not None, f"pysaml2 returned no request; logged: {logged}")
            message = request.message
            problems = []
            if request.sender() != idp_entity_id:
                problems.append(f"Issuer {request.sender()!r}")
            if message.destination != sp2["slo_url"]:
                problems.append(f"Destination {message.destination!r}, expected {sp2['slo_url']!r}")
            if message.name_id != run["name_id2"]:
                problems.append(f"NameID {message.name_id}, expected SP2's {run['name_id2']}")
            indexes = [(si.text or "").strip() for si in message.session_index]
            if indexes != [run["session_index2"]]:
                problems.append(f"SessionIndex {indexes}, expected SP2's [{run['session_index2']!r}]")
            if not message.not_on_or_after:
                problems.append("no NotOnOrAfter")
            if problems:
                fail("; ".join(problems) + f"\nLogoutRequest: {snippet(inflate(pairs['SAMLRequest']), 2000)}")
            note(f"pysaml2 SP2 read NameID {message.name_id.text!r} (Format {message.name_id.format}) SessionIndex {indexes}; NotOnOrAfter {message.not_on_or_after}")
            run["idp_request_id"] = message.id

        check(
            "pysaml2 SP2 (parse_logout_request, HTTP-Redirect) reads the IdP's LogoutRequest: Issuer the IdP, Destination SP2's /pysaml2/slo, NameID (value and Format) and SessionIndex of SP2's assertion, NotOnOrAfter",
            parsed,
            required=True,
        )

        def answered():
            pairs = run["sp2_pairs"]
            client2 = run["client2"]
            expect(client2.is_logged_in(run["name_id2"]), "pysaml2 SP2 holds no session for Léa before the logout")
            SAML2_LOG.take()
            info = client2.handle_logout_request(
                pairs["SAMLRequest"],
                run["name_id2"],
                BINDING_HTTP_REDIRECT,
                sign=True,
                sign_alg=SIG_RSA_SHA256,
                digest_alg=DIGEST_SHA256,
                sigalg=pairs["SigAlg"],
                signature=pairs["Signature"],
            )
            logged = SAML2_LOG.take()
            location = dict(info.get("headers") or []).get("Location")
            expect(location, f"handle_logout_request gave no Location: {info}; pysaml2 logged: {logged}")
            expect_equal(location.split("?")[0], redirect_slo, "LogoutResponse redirect target (the IdP's HTTP-Redirect SLO)")
            answer_pairs = dict(query_pairs(location))
            expect_equal(sorted(k for k in answer_pairs if k != "RelayState"), ["SAMLResponse", "SigAlg", "Signature"], "query parameters")
            doc = ET.fromstring(inflate(answer_pairs["SAMLResponse"]))
            status = doc.find("samlp:Status/samlp:StatusCode", NS)
            expect(
                status is not None and status.get("Value") == status_success,
                f"pysaml2 SP2 answers {ET.tostring(doc.find('samlp:Status', NS), encoding='unicode') if doc.find('samlp:Status', NS) is not None else 'no Status'} "
                f"(UnknownPrincipal: the NameID is not the one it holds)",
            )
            expect_equal(doc.get("InResponseTo"), run["idp_request_id"], "InResponseTo")
            expect(not client2.is_logged_in(run["name_id2"]), "pysaml2 SP2 still holds Léa's session")
            run["answer_url"] = location

        check(
            "pysaml2 SP2 (handle_logout_request, signed answer) ends its session and answers Success to the IdP's .../Redirect/SLO (SAMLResponse, SigAlg, Signature)",
            answered,
            required=True,
        )

        def at_idp(expected):
            value, text = logout_frame_answer(get(browser, run["answer_url"]))
            expect_equal(value, expected, f'data-logout (page says: "{text}")')
            note(f'data-logout="{value}": {text}')

        check('SP2\'s signed LogoutResponse (from pysaml2) at the IdP: 200 HTML, body data-logout="ok"', lambda: at_idp("ok"), required=True)
        check('the same LogoutResponse replayed gets data-logout="refused" (single use)', lambda: at_idp("refused"))

    def sp1_is_answered(browser, run, partial):
        def follow():
            resp = get(browser, run["next"])
            expect_equal(resp.status_code, 303, f"status ({describe_response(resp)})")
            location = urljoin(resp.url, resp.headers["Location"])
            expect_equal(location.split("?")[0], state["slo_url"], "redirect target (SP1's /pysaml2/slo)")
            pairs = dict(query_pairs(location))
            expect_equal(sorted(pairs), ["RelayState", "SAMLResponse", "SigAlg", "Signature"], "query parameters")
            expect_equal(pairs["RelayState"], run["relay_state"], "RelayState (pysaml2's)")
            run["sp1_pairs"] = pairs

        check("Continuer (/deconnexion/suite?id=...): 303 to SP1's /pysaml2/slo with SAMLResponse, RelayState, SigAlg, Signature", follow, required=True)

        def accepted():
            client1 = run["client1"]
            pairs = run["sp1_pairs"]
            certs = client1.metadata.certs(idp_entity_id, "idpsso", "signing")
            expect(
                any(verify_redirect_signature(dict(pairs), client1.sec.sec_backend, cert) for _, cert in certs),
                "pysaml2's verify_redirect_signature refuses the LogoutResponse's Signature",
            )
            SAML2_LOG.take()
            try:
                result = client1.parse_logout_request_response(pairs["SAMLResponse"], BINDING_HTTP_REDIRECT)
                logged = SAML2_LOG.take()
                expect(result is not None, f"pysaml2 returned no response; logged: {logged}")
                expect(not logged, f"pysaml2 logged: {logged}")
                expect_equal(result.in_response_to, run["logout_id"], "in_response_to")
                expect(result.status_ok(), "status_ok() is False")
                outcome = client1.handle_logout_response(result, sign_alg=SIG_RSA_SHA256, digest_alg=DIGEST_SHA256)
            except CheckFailed:
                raise
            except Exception as err:  # noqa: BLE001 - what pysaml2 says of it is the finding
                fail(f"pysaml2 raised {type(err).__name__}: {err}\npysaml2 logged: {SAML2_LOG.take()}\nLogoutResponse: {snippet(inflate(pairs['SAMLResponse']), 2000)}")
            expect(isinstance(outcome, tuple) and outcome[:2] == (0, "200 Ok"), f"handle_logout_response: {outcome!r}")
            expect(not client1.is_logged_in(run["name_id1"]), "pysaml2 SP1 still holds Léa's session")

        kind = "with the second-level PartialLogout" if partial else "(Success)"
        check(
            f"pysaml2 SP1 (verify_redirect_signature, parse_logout_request_response, status_ok, handle_logout_response) accepts the LogoutResponse {kind} and ends its session",
            accepted,
            required=True,
        )

        def status():
            doc = ET.fromstring(inflate(run["sp1_pairs"]["SAMLResponse"]))
            top = doc.find("samlp:Status/samlp:StatusCode", NS)
            nested = [] if top is None else [c.get("Value") for c in top.findall("samlp:StatusCode", NS)]
            expected = [status_partial_logout] if partial else []
            expect(
                top is not None and top.get("Value") == status_success and nested == expected,
                f"StatusCode {None if top is None else top.get('Value')!r} with second-level {nested}, expected Success with {expected}"
                f"\nLogoutResponse: {snippet(ET.tostring(doc, encoding='unicode'), 2000)}",
            )
            if partial:
                note("pysaml2's status_ok() looks only at the top-level StatusCode: the partial logout is invisible to its caller")

        if partial:
            check("SP1's LogoutResponse: top-level Success with the second-level StatusCode PartialLogout (SP2 did not confirm)", status)
        else:
            check("SP1's LogoutResponse: status Success, no second-level StatusCode (no PartialLogout: SP2 confirmed)", status)

        def sp2_session_gone():
            url, _ = new_login(relay_state="relay-sp2-after", the_client=run["client2"])
            resp, hops = follow_idp(browser, with_profile(url, LEA["profile"]))
            expect(resp.is_redirect, f"not redirected to the login page (is the SSO session still there?): {describe_response(resp)}")
            parts = urlsplit(urljoin(resp.url, resp.headers["Location"]))
            expect(parts.netloc == idp_netloc and parts.path == "/login", f"redirected elsewhere than {idp_base}/login: {describe_response(resp)}")

        check("after the logout, a new AuthnRequest from SP2 in the same browser leads to the login page (the SSO session is gone)", sp2_session_gone)

    def confirmed_group():
        browser = new_browser("idp-interop-pysaml2-browser")
        run = {}
        sign_in_both(browser, run)
        check(
            "SP1 and SP2 were given different transient NameIDs (so the LogoutRequest to SP2 must carry SP2's own)",
            lambda: expect(run["name_id1"].text != run["name_id2"].text, f"the same NameID {run['name_id1'].text!r} for both SPs"),
        )
        start_logout(browser, run)
        sp2_is_told(browser, run)
        sp1_is_answered(browser, run, partial=False)

    group("Single logout across two pysaml2 SPs: SP1 asks, SP2 is told from the logout page's frame and confirms", confirmed_group)

    def silent_group():
        browser = new_browser("idp-interop-pysaml2-browser")
        run = {}
        sign_in_both(browser, run)
        start_logout(browser, run)
        note("the frame for SP2 is never loaded: SP2 gets no LogoutRequest and never answers")
        sp1_is_answered(browser, run, partial=True)

    group("Single logout across two pysaml2 SPs: SP2 never answers (PartialLogout)", silent_group)



def main(argv):
    return run_main("pysaml2", argv, __doc__, prepare, main_run)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
