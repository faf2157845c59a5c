"""The admin API against its own OpenAPI document, checked by third-party validators:
openapi-spec-validator reads the document (OpenAPI 3.1), then openapi-core validates every
request and response of a session of the demo's académie tool (client_credentials, the
collège only) against it: search, statistics, a class's passwords as JSON and as PDF, disable
and enable, and the refusals (another school, no token, a token without the scope).

Usage: admin_openapi.py ISSUER OPENAPI_JSON
"""

from __future__ import annotations

import json
import sys

import requests
from openapi_core import OpenAPI
from openapi_core.contrib.requests import RequestsOpenAPIRequest, RequestsOpenAPIResponse
from openapi_spec_validator import validate

from interop_common import Tally, check, expect, expect_equal, group

ISSUER, DOCUMENT = sys.argv[1], sys.argv[2]
COLLEGE, LYCEE = "0141234A", "0142222C"
CLIENT = ("outil-academie", "outil-academie-secret")

with open(DOCUMENT, encoding="utf-8") as f:
    SPEC = json.load(f)


def the_document_is_valid():
    validate(SPEC)
    served = requests.get(f"{ISSUER}/api/admin/v1/openapi.json", timeout=20)
    expect_equal(served.status_code, 200, "status")
    expect_equal(served.json(), SPEC, "the served document is the file")


spec = dict(SPEC, servers=[{"url": ISSUER}])
OPENAPI = OpenAPI.from_dict(spec)
state = {}


def call(method, path, token=None, expected=200, **kwargs):
    """Sends a request, validates it and its response against the document."""
    headers = kwargs.pop("headers", {})
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = requests.Request(method, f"{ISSUER}{path}", headers=headers, **kwargs)
    prepared = request.prepare()
    response = requests.Session().send(prepared, timeout=20)
    expect_equal(response.status_code, expected, f"{method} {path} ({response.text[:300]})")
    OPENAPI.validate_response(RequestsOpenAPIRequest(prepared), RequestsOpenAPIResponse(response))
    return response


def token():
    r = requests.post(
        f"{ISSUER}/oidc/token",
        auth=CLIENT,
        data={"grant_type": "client_credentials", "scope": "admin"},
        timeout=20,
    )
    expect_equal(r.status_code, 200, f"token endpoint: {r.text}")
    state["token"] = r.json()["access_token"]


def schools():
    body = call("GET", "/api/admin/v1/schools", state["token"]).json()
    expect_equal([s["uai"] for s in body["schools"]], [COLLEGE], "schools")


def search():
    r = call(
        "GET",
        f"/api/admin/v1/schools/{COLLEGE}/accounts",
        state["token"],
        params={"profile": "eleve", "class": "4e A", "page": 2},
    )
    body = r.json()
    expect(body["total"] > 20 and body["page"] == 2, f"page 2 of 4e A: {body['page']}")
    lea = call(
        "GET",
        f"/api/admin/v1/schools/{COLLEGE}/accounts",
        state["token"],
        params={"last_name": "martin", "first_name": "léa"},
    ).json()["accounts"][0]
    expect_equal(lea["identifier"], "lea.martin", "Léa found")
    state["lea"] = lea["id"]


def statistics():
    body = call("GET", f"/api/admin/v1/schools/{COLLEGE}/classes", state["token"]).json()
    expect("4e A" in [c["class"] for c in body["classes"]], "4e A listed")


def passwords():
    body = call(
        "POST",
        f"/api/admin/v1/schools/{COLLEGE}/passwords",
        state["token"],
        json={"class": "4e A", "profile": "eleve"},
    ).json()
    expect(len(body["accounts"]) > 20, "the whole class")
    expect("Mot de passe provisoire" in body["message"], "the message to copy")
    pdf = call(
        "POST",
        f"/api/admin/v1/schools/{COLLEGE}/passwords",
        state["token"],
        json={"accounts": [state["lea"]]},
        headers={"Accept": "application/pdf"},
    )
    expect(pdf.content.startswith(b"%PDF-"), "a PDF")


def changes():
    for change, status in (("disable", "disabled"), ("enable", "not_activated")):
        body = call(
            "POST", f"/api/admin/v1/schools/{COLLEGE}/accounts/{state['lea']}/{change}", state["token"]
        ).json()
        expect_equal(body["account"]["status"], status, change)


def refusals():
    call("GET", f"/api/admin/v1/schools/{LYCEE}/accounts", state["token"], expected=403)
    call(
        "POST",
        f"/api/admin/v1/schools/{LYCEE}/passwords",
        state["token"],
        expected=403,
        json={"class": "2nde 3"},
    )
    call("GET", f"/api/admin/v1/schools/{COLLEGE}/accounts", None, expected=401)
    call(
        "POST",
        f"/api/admin/v1/schools/{COLLEGE}/passwords",
        state["token"],
        expected=400,
        json={"classe": "4e A"},
    )


group(
    "admin API: the OpenAPI document (openapi-spec-validator, openapi-core)",
    lambda: [
        check("the document is valid OpenAPI 3.1, and served as is", the_document_is_valid, required=True),
        check("client_credentials token with the scope admin", token, required=True),
        check("GET schools: the collège only", schools),
        check("GET accounts: a page of a class, a name without accent or case", search, required=True),
        check("GET classes: activation per class", statistics),
        check("POST passwords: a whole class as JSON, one account as PDF", passwords),
        check("POST disable, enable", changes),
        check("another school 403, no token 401, a bad body 400: as documented", refusals),
    ],
)
print(f"{Tally.passed} passed, {Tally.failed} failed")
sys.exit(1 if Tally.failed else 0)
