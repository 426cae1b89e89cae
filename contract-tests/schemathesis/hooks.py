"""Schemathesis hooks for openapi.yaml (loaded through SCHEMATHESIS_HOOKS).

Every check stays on. These hooks only excuse the three rejections that
the contract documents but JSON Schema cannot express, and only when the
rejection is exactly the documented one:

- a path longer than `x-max-bytes` in UTF-8 (JSON Schema's `maxLength`
  counts characters) answered 400 `path_too_long`;
- a path outside the stage's allow-list (`ALLOWED_PATHS`, the same value
  the stage was given) answered 400 `path_not_allowed`;
- a POST whose `Origin` the stage does not allow (`ALLOWED_ORIGINS`, the
  same value the stage was given; unset or empty: none is allowed, `*`:
  all are) answered 403 `origin_not_allowed`.

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


def sent_origin(case):
    """The Origin header the case sent, if any (header names ignore case)."""
    for name, value in (case.headers or {}).items():
        if name.lower() == "origin":
            return value if isinstance(value, str) else str(value)
    return None


def error_code(response):
    try:
        return json.loads(response.content)["error"]
    except (ValueError, KeyError, TypeError):
        return None


@schemathesis.hook
def filter_failure(context, failure, case, response):
    """Keep every failure but a schema-valid request refused for a documented reason."""
    if failure.code != "ST202":
        return True
    if response.status_code == 403:
        origin = sent_origin(case)
        refused = error_code(response) == "origin_not_allowed"
        return not (refused and origin is not None and not origin_allowed(origin.strip()))
    if response.status_code != 400:
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
