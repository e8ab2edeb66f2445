"""A CustomJob's log lines from Cloud Logging (the Vertex SDK has no log streaming).

Vertex AI writes the container's output, and its own messages about the job, as entries of the resource
``ml_job`` labelled with the job's numeric id. This module sends Cloud Logging's ``entries:list``
(REST v2) through the provider's authorized session; no Cloud Logging client library is needed for one
call. The cursor is JSON: the timestamp of the last entry returned and the insert ids seen at that
timestamp, so ``logs -f`` asks only for what is newer and never repeats a line.
"""

from __future__ import annotations

import json
from typing import Any

from anytune import errors
from anytune.types import LogChunk

from ._errors import translate

PAGE_SIZE = 1000
MAX_PAGES = 20  # per call; the rest comes with the next cursor


def log_filter(numeric_job_id: str, after: str | None = None) -> str:
    parts = ['resource.type="ml_job"', f'resource.labels.job_id="{numeric_job_id}"']
    if after:
        parts.append(f'timestamp>="{after}"')
    return " AND ".join(parts)


def parse_cursor(cursor: str) -> tuple[str | None, set[str]]:
    if not cursor:
        return None, set()
    try:
        data = json.loads(cursor)
        after, seen = data["after"], data["seen"]
        if isinstance(after, str) and isinstance(seen, list) and all(isinstance(s, str) for s in seen):
            return after, set(seen)
    except (ValueError, KeyError, TypeError):
        pass
    raise errors.ConfigError(f"not a Vertex AI log cursor: {cursor[:80]!r}")


def line_of(entry: dict[str, Any]) -> str:
    if "textPayload" in entry:
        return str(entry["textPayload"]).rstrip("\n")
    payload = entry.get("jsonPayload")
    if isinstance(payload, dict):
        return str(payload.get("message") or json.dumps(payload, sort_keys=True)).rstrip("\n")
    return ""


def _list(google: Any, body: dict[str, Any]) -> dict[str, Any]:
    from google.api_core import exceptions as gx

    def call() -> dict[str, Any]:
        response = google.session.post(f"{google.logging_endpoint}/v2/entries:list", json=body,
                                       timeout=google.timeout())
        if response.status_code >= 400:
            raise gx.from_http_response(response)
        return response.json()

    with translate("logs"):
        return google.retry()(call)()


def read(google: Any, numeric_job_id: str, cursor: str = "") -> LogChunk:
    after, seen = parse_cursor(cursor)
    body: dict[str, Any] = {"resourceNames": [f"projects/{google.project}"],
                            "filter": log_filter(numeric_job_id, after), "orderBy": "timestamp asc",
                            "pageSize": PAGE_SIZE}
    lines: list[str] = []
    for _ in range(MAX_PAGES):
        page = _list(google, body)
        for entry in page.get("entries", []):
            stamp, insert_id = entry.get("timestamp", ""), entry.get("insertId", "")
            if stamp == after and insert_id in seen:
                continue
            if stamp != after:
                after, seen = stamp, set()
            seen.add(insert_id)
            lines.append(line_of(entry))
        token = page.get("nextPageToken")
        if not token:
            break
        body["pageToken"] = token
    if after is None:
        return LogChunk(lines=(), cursor=cursor)
    return LogChunk(lines=tuple(lines), cursor=json.dumps({"after": after, "seen": sorted(seen)}))
