"""Schemathesis hooks for scripts/schemathesis.sh (SCHEMATHESIS_HOOKS=schemathesis_hooks, with
scripts/ on PYTHONPATH; the script sets ST_BASE_URL, ST_ROLE and, for signed-in roles, ST_LOGIN and
ST_PASSWORD).

1. Authentication. For citizen, staff, manager and admin, a bearer token fetched by signing in,
   and again every minute: the fuzzer may sign the account out (POST /auth/logout with a refresh
   token it saw) or, as a citizen, delete it (DELETE /me). A citizen that can no longer sign in is
   registered anew under a fresh email, so the run keeps testing as a signed-in citizen.

2. Realistic query data, where the OpenAPI description cannot say what exists:
   - `cursor` is an opaque token the server issued with the previous page; a made-up one is
     refused (400 `invalid_query`, tested in tests/api), so the fuzzer does not invent them;
   - the statistics filters `area`, `category` and `department` name catalogue entries (an
     unknown one is a 400, tested in tests/api/stats.rs): a schema-valid string is replaced by
     a code that exists; a daily or weekly series starts at the first report rather than at a
     date drawn from decades (the number of buckets is bounded);
   - `from`/`to` are put in order and a `bbox` has its corners in order (min <= max): a period
     or box that ends before it starts is refused, and a pattern cannot say so; likewise a date
     is made a day that exists (no 30 February), and a statistics date one the service can have
     figures for (2000 to today).
"""

import datetime
import itertools
import json
import re
import os
import urllib.error
import urllib.request

import schemathesis

BASE = os.environ["ST_BASE_URL"]
ROLE = os.environ.get("ST_ROLE", "")
LOGIN = os.environ.get("ST_LOGIN", "")
PASSWORD = os.environ.get("ST_PASSWORD", "")
SIGNED_IN_ROLES = {"citizen", "staff", "manager", "admin"}
_fresh = itertools.count(1)
_current_login = LOGIN


def _post(path, body):
    req = urllib.request.Request(
        BASE + path,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as err:
        return err.code, None


class RoleToken:
    def get(self, case, ctx):
        global _current_login
        status, body = _post("/api/v1/auth/login", {"login": _current_login, "password": PASSWORD})
        if status == 200:
            return body["access_token"]
        if ROLE != "citizen":
            raise RuntimeError(f"cannot sign in as {ROLE} ({_current_login}): HTTP {status}")
        # The fuzzer deleted (anonymised) the citizen: carry on as a new one.
        _current_login = f"st-citizen-{os.getpid()}-{next(_fresh)}@example.vn"
        status, body = _post(
            "/api/v1/auth/register",
            {"email": _current_login, "password": PASSWORD, "full_name": "Schemathesis Citizen"},
        )
        if status != 201:
            raise RuntimeError(f"cannot register a fresh citizen: HTTP {status}")
        return body["access_token"]

    def set(self, case, data, ctx):
        case.headers = case.headers or {}
        case.headers["Authorization"] = f"Bearer {data}"


if ROLE in SIGNED_IN_ROLES:
    schemathesis.auth(refresh_interval=60)(RoleToken)


def _codes(path):
    with urllib.request.urlopen(BASE + path, timeout=30) as resp:
        return [item["code"] for item in json.loads(resp.read())]


def _get(path):
    with urllib.request.urlopen(BASE + path, timeout=30) as resp:
        return json.loads(resp.read())


_CATALOG = {
    "area": _codes("/api/v1/areas"),
    "category": _codes("/api/v1/categories"),
    "department": _codes("/api/v1/departments"),
}
# Places residents report from (each commune's centroid) and the categories they may use.
_PLACES = [a["centroid"] for a in _get("/api/v1/areas") if a.get("centroid")]
_PUBLIC_CATEGORIES = [c["code"] for c in _get("/api/v1/categories") if c.get("public")]
_pick = itertools.count()


_DATE = re.compile(r"^(\s*)([0-9]{4})-([0-9]{2})-([0-9]{2})(.*)$", re.S)


def _real_date(text, stats):
    """A day that exists (a pattern cannot rule out 30 February); for statistics, one the
    service can have figures for (2000 to today)."""
    m = _DATE.match(text)
    if not m:
        return text
    lead, year, month, day, rest = m.groups()
    year, month, day = int(year), int(month), int(day)
    if stats and not 2000 <= year <= datetime.date.today().year:
        year = datetime.date.today().year
    try:
        datetime.date(year, month, day)
    except ValueError:
        day = 28 if 1 <= month <= 12 else day
    today = datetime.date.today()
    if stats and 1 <= month <= 12 and datetime.date(year, month, day) > today:
        # A `from` after today would be after the default `to`, today.
        year, month, day = today.year, today.month, today.day
    return f"{lead}{year:04d}-{month:02d}-{day:02d}{rest}"


@schemathesis.hook
def map_query(ctx, query):
    if not query:
        return query
    query.pop("cursor", None)
    bbox = query.get("bbox")
    if isinstance(bbox, str) and bbox.count(",") == 3:
        try:
            w, s, e, n = (float(p) for p in bbox.split(","))
        except ValueError:
            pass
        else:
            # min <= max, which a pattern cannot say.
            query["bbox"] = f"{min(w, e)},{min(s, n)},{max(w, e)},{max(s, n)}"
    stats = ctx.operation.path.startswith("/api/v1/stats/")
    for name in ("from", "to", "since", "valid_on"):
        if isinstance(query.get(name), str):
            query[name] = _real_date(query[name], stats)
    start, end = query.get("from"), query.get("to")
    if isinstance(start, str) and isinstance(end, str) and start.strip() > end.strip():
        query["from"], query["to"] = end, start
    path = ctx.operation.path
    if path.startswith("/api/v1/stats/"):
        for name, codes in _CATALOG.items():
            if isinstance(query.get(name), str) and query[name] and codes:
                query[name] = codes[next(_pick) % len(codes)]
        if path.endswith("/timeseries") and str(query.get("interval", "")).strip() in ("day", "week"):
            query.pop("from", None)
    return query


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


@schemathesis.hook
def map_body(ctx, body):
    """A submission about a real category at a real place, so that reports get made and the
    stateful phase can follow them (to the report, its timeline, the staff's ticket). Only parts
    already of the right type are replaced: a case that breaks the schema keeps its fault."""
    if ctx.operation.path != "/api/v1/reports" or ctx.operation.method.lower() != "post":
        return body
    if not isinstance(body, dict):
        return body
    n = next(_pick)
    if isinstance(body.get("category"), str) and _PUBLIC_CATEGORIES:
        body["category"] = _PUBLIC_CATEGORIES[n % len(_PUBLIC_CATEGORIES)]
    location = body.get("location")
    if (
        isinstance(location, dict)
        and _is_number(location.get("lat"))
        and _is_number(location.get("lon"))
        and -90 <= location["lat"] <= 90
        and -180 <= location["lon"] <= 180
        and _PLACES
    ):
        place = _PLACES[n % len(_PLACES)]
        location["lat"], location["lon"] = place["lat"], place["lon"]
    if isinstance(body.get("media_ids"), list) and all(isinstance(m, str) for m in body["media_ids"]):
        body["media_ids"] = []
    if isinstance(body.get("consent"), bool):
        body["consent"] = True
    return body
