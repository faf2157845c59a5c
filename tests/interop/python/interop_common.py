"""What the SAML interoperability scripts share: a small check runner (one line per check,
"ok - …" / "not ok - …"), and a browser made of requests.Session that never follows redirects
by itself, with helpers to read the IdP's pages."""

from __future__ import annotations

import html
import re
import sys
import time
import traceback
from urllib.parse import quote_plus, unquote_plus, urlsplit

import requests

HTTP_TIMEOUT = 20


class Tally:
    passed = 0
    failed = 0


class CheckFailed(Exception):
    pass


class GroupAborted(Exception):
    pass


def fail(message):
    raise CheckFailed(message)


def expect(condition, message):
    if not condition:
        fail(message)


def expect_equal(actual, expected, what):
    if actual != expected:
        fail(f"{what}: expected {expected!r}, got {actual!r}")


def describe_error(err):
    if isinstance(err, CheckFailed):
        return str(err)
    text = f"{type(err).__name__}: {err}"
    # OAuth libraries carry the protocol's error code and description as attributes
    error = getattr(err, "error", None)
    description = getattr(err, "description", None)
    if error and error not in text:
        text += f"; error={error}"
    if description and str(description) not in text:
        text += f"; description={description!r}"
    return text


def check(name, fn, required=False):
    """Runs one check and prints its line; a failed required check aborts its group."""
    try:
        value = fn()
    except Exception as err:  # noqa: BLE001 - every failure is reported
        Tally.failed += 1
        print(f"not ok - {name}")
        for line in describe_error(err).splitlines() or [""]:
            print(f"  # {line}")
        if required:
            raise GroupAborted(name) from err
        return None
    Tally.passed += 1
    print(f"ok - {name}")
    return value


def group(title, fn):
    print(f"# {title}")
    try:
        return fn()
    except GroupAborted as aborted:
        print(f'  # remaining checks of "{title}" skipped: "{aborted}" failed')
    except Exception as err:  # noqa: BLE001
        Tally.failed += 1
        print(f"not ok - {title}: unexpected error")
        print(f"  # {describe_error(err)}")
        for line in traceback.format_exc().splitlines():
            print(f"  # {line}")
    return None


def note(text):
    print(f"  # {text}")


def toml_string(value):
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def snippet(text, limit=400):
    flat = " ".join((text or "").split())
    return flat if len(flat) <= limit else flat[:limit] + "…"


def describe_response(resp):
    location = resp.headers.get("Location")
    text = f"{resp.request.method} {resp.request.url} -> {resp.status_code}"
    ctype = resp.headers.get("Content-Type")
    if ctype:
        text += f" ({ctype})"
    if location:
        text += f" Location: {location}"
    if resp.text:
        text += f" body: {snippet(resp.text)}"
    return text


def new_browser(agent):
    browser = requests.Session()
    browser.headers["User-Agent"] = agent
    browser.headers["Accept"] = "text/html,*/*"
    return browser


def get(browser, url):
    return browser.get(url, allow_redirects=False, timeout=HTTP_TIMEOUT)


def tag_attributes(tag):
    return {k.lower(): html.unescape(v) for k, v in re.findall(r'([\w:-]+)\s*=\s*"([^"]*)"', tag)}


def input_value(page, name):
    """The value of the <input> named name in page (attributes in any order), or None."""
    for tag in re.findall(r"<input\b[^>]*>", page, flags=re.IGNORECASE):
        attrs = tag_attributes(tag)
        if attrs.get("name") == name:
            return attrs.get("value", "")
    return None


def saml_post_form(page):
    """The HTTP-POST binding form in a page: {action, method, SAMLResponse, RelayState} or None."""
    if input_value(page, "SAMLResponse") is None:
        return None
    forms = [tag_attributes(tag) for tag in re.findall(r"<form\b[^>]*>", page, flags=re.IGNORECASE)]
    form = next((f for f in forms if f.get("method", "").lower() == "post"), forms[0] if forms else {})
    return {
        "action": form.get("action"),
        "method": form.get("method"),
        "SAMLResponse": input_value(page, "SAMLResponse"),
        "RelayState": input_value(page, "RelayState"),
    }


def logout_page_parts(page):
    """The logout page (/deconnexion): its lines [{name, status, frames}] (frames: the
    attributes of each <iframe> of the line) and the hrefs of its a#logout-next links."""
    lines = []
    for item in re.findall(r"<li\b[^>]*>(.*?)</li>", page, flags=re.S | re.I):
        name = re.search(r"<strong\b[^>]*>(.*?)</strong>", item, flags=re.S | re.I)
        status = re.search(r'<span\b[^>]*class="logout-status"[^>]*>(.*?)</span>', item, flags=re.S | re.I)
        lines.append(
            {
                "name": html.unescape(name.group(1)).strip() if name else None,
                "status": html.unescape(status.group(1)).strip() if status else None,
                "frames": [tag_attributes(tag) for tag in re.findall(r"<iframe\b[^>]*>", item, flags=re.I)],
            }
        )
    links = [tag_attributes(tag) for tag in re.findall(r"<a\b[^>]*>", page, flags=re.I)]
    return lines, [a.get("href") for a in links if a.get("id") == "logout-next"]


def logout_frame_answer(resp):
    """The page the IdP shows in a logout frame once the SP answered: (data-logout of its
    body, its text). Fails unless it is a 200 HTML page with a body."""
    expect(resp.status_code == 200 and is_html(resp), f"not a 200 HTML page: {describe_response(resp)}")
    body = re.search(r"<body\b[^>]*>", resp.text, flags=re.I)
    expect(body, f"no <body>: {describe_response(resp)}")
    text = snippet(html.unescape(re.sub(r"<[^>]+>", " ", resp.text[body.end():])), 200)
    return tag_attributes(body.group(0)).get("data-logout"), text


def csp_directive(resp, name):
    """The sources of one directive of the response's Content-Security-Policy ([] if absent)."""
    policy = resp.headers.get("Content-Security-Policy") or ""
    directives = {d.split()[0].lower(): d.split()[1:] for d in policy.split(";") if d.split()}
    return directives.get(name, [])


def with_profile(url, profile):
    return f"{url}&profil={quote_plus(profile)}" if profile else url


def is_html(resp):
    return "text/html" in resp.headers.get("Content-Type", "").lower()


def query_pairs(url):
    return [
        (unquote_plus(k), unquote_plus(v))
        for k, _, v in (p.partition("=") for p in urlsplit(url).query.split("&") if p)
    ]


def short_url(url):  # the long encoded values are elided in notes
    return re.sub(r"((?:SAMLRequest|Signature)=)[^&]*", r"\1…", url)


def run_checks(label, fn):
    """Runs every check of a script, prints the tally; the exit status (0 only if all passed)."""
    started = time.monotonic()
    try:
        fn()
    except Exception as err:  # noqa: BLE001
        Tally.failed += 1
        print("not ok - unexpected error")
        print(f"  # {describe_error(err)}")
        for line in traceback.format_exc().splitlines():
            print(f"  # {line}")
    elapsed = time.monotonic() - started
    print(f"# {label}: {Tally.passed} checks ok, {Tally.failed} not ok ({elapsed:.1f} s)")
    return 0 if Tally.failed == 0 and Tally.passed > 0 else 1


def run_main(label, argv, doc, prepare, main_run):
    """`prepare SP_DIR PORT RP_DIR` or `run SP_DIR`; prints the tally; the exit status."""
    if len(argv) == 5 and argv[1] == "prepare":
        prepare(argv[2], int(argv[3]), argv[4])
        return 0
    if len(argv) == 3 and argv[1] == "run":
        return run_checks(label, lambda: main_run(argv[2]))
    print(doc, file=sys.stderr)
    return 2
