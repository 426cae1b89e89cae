"""Schemathesis hooks for openapi.yaml (loaded through SCHEMATHESIS_HOOKS).

Every check stays on. These hooks only excuse the two rejections that the
contract documents but JSON Schema cannot express, and only when the
rejection is exactly the documented one:

- a path longer than `x-max-bytes` in UTF-8 (JSON Schema's `maxLength`
  counts characters) answered 400 `path_too_long`;
- a path outside the stage's allow-list (`ALLOWED_PATHS`, the same value
  the stage was given) answered 400 `path_not_allowed`.

And they add one check, `who_may_count`, for the rule JSON Schema cannot
state either: a POST whose `Origin` the stage does not allow
(`ALLOWED_ORIGINS`, the same value the stage was given; unset or empty:
none is allowed, `*`: all are) must be answered 403 `origin_not_allowed`
(it counted nothing), and a 403 `origin_not_allowed` only to such a POST.
Schemathesis's own checks accept a 403 for schema-valid data, so without
it a stage that counted every origin would pass. The run fails when no
POST carried a refused `Origin` at all: a rule never exercised proves
nothing.

Both are judged on the path's canonical form (Unicode NFC), which the
contract says is what the server checks and counts.

Against a real stage, `ST_PATH_PREFIX` (e.g. `/__contract/st-<run>`) puts
every generated page path below that prefix, so the run counts only test
pages there.
"""

import json
import os
import pathlib
import unicodedata

import schemathesis
import yaml

CONTRACT = pathlib.Path(
    os.environ.get("CONTRACT_FILE", pathlib.Path(__file__).resolve().parents[2] / "openapi.yaml")
)
MAX_BYTES = yaml.safe_load(CONTRACT.read_text())["components"]["parameters"]["Path"]["schema"][
    "x-max-bytes"
]
PREFIX = os.environ.get("ST_PATH_PREFIX", "").rstrip("/")


def allow_list():
    """The stage's allow-list: None for every path, else (exact, prefixes)."""
    text = os.environ.get("ALLOWED_PATHS", "").strip()
    if text in ("", "*"):
        return None
    exact, below = set(), []
    for entry in (e.strip() for e in text.split(",")):
        if entry.endswith("/*"):
            below.append(entry[:-1])  # keeps the trailing "/"
        elif entry:
            exact.add(entry)
    return exact, below


ALLOW = allow_list()


def allowed(path):
    if ALLOW is None:
        return True
    exact, below = ALLOW
    return path in exact or any(len(path) > len(p) and path.startswith(p) for p in below)


def origins():
    """The stage's allowed origins: None for any, else the set."""
    text = os.environ.get("ALLOWED_ORIGINS", "").strip()
    if text == "*":
        return None
    return {o.strip().rstrip("/") for o in text.split(",") if o.strip()}


ORIGINS = origins()


def origin_allowed(origin):
    return ORIGINS is None or origin in ORIGINS


def sent_origin(response):
    """The Origin header the request carried, if any, as sent."""
    value = response.request.headers.get("Origin")
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    return value.strip() if isinstance(value, str) else None


def error_code(response):
    try:
        return json.loads(response.content)["error"]
    except (ValueError, KeyError, TypeError):
        return None


@schemathesis.hook
def filter_failure(context, failure, case, response):
    """Keep every failure but a schema-valid path refused for a documented reason."""
    if failure.code != "ST202" or response.status_code != 400:
        return True
    path = (case.query or {}).get("path")
    if not isinstance(path, str):
        return True
    canonical = unicodedata.normalize("NFC", path)
    code = error_code(response)
    if code == "path_too_long" and len(canonical.encode("utf-8")) > MAX_BYTES:
        return False
    if code == "path_not_allowed" and not allowed(canonical):
        return False
    return True


def from_the_gateway(response):
    """API Gateway's own answer (its 429 throttle, its 500 when Lambda
    refused the invocation): the function never ran, so nothing counted."""
    if response.status_code != 429 and response.status_code < 500:
        return False
    return error_code(response) is None


@schemathesis.check
class who_may_count:
    """A POST from a page on an origin the stage does not allow is refused
    (403 origin_not_allowed), and only such a POST is refused so."""

    def __init__(self):
        self.refused = set()

    def after_response(self, ctx, response, case):
        if case.method.upper() != "POST" or case.operation.path != "/visits":
            return
        origin = sent_origin(response)
        code = error_code(response)
        if origin is not None and not origin_allowed(origin):
            if response.status_code == 403 and code == "origin_not_allowed":
                self.refused.add(origin)
            elif not from_the_gateway(response):
                raise AssertionError(
                    f"POST from Origin {origin!r}, which the stage does not allow: "
                    f"answered {response.status_code} {code}, not 403 origin_not_allowed"
                )
        elif response.status_code == 403 and code == "origin_not_allowed":
            raise AssertionError(f"403 origin_not_allowed for Origin {origin!r}, which the stage allows")

    def after_run(self, ctx):
        if ORIGINS is not None and not self.refused:
            raise AssertionError("no POST carried an Origin the stage refuses: the rule was never exercised")


@schemathesis.hook
def map_query(context, query):
    """Against a real stage: page paths go below ST_PATH_PREFIX."""
    if not PREFIX or not isinstance(query, dict):
        return query
    path = query.get("path")
    if isinstance(path, str) and path.startswith("/") and not path.startswith(PREFIX + "/"):
        query = dict(query)
        query["path"] = PREFIX + path
    return query
