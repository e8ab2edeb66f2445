"""Remote job names derived deterministically from the anytune job id.

The same job id always gives the same name, so a retried launch can look the job up instead of creating
(and paying for) a second one. Names are lowercase ``[a-z0-9-]``, start and end with an alphanumeric,
and fit ``max_len``. When the id had to be changed to fit (other characters, too long), a short hash of
the original id is appended so two different ids never share a name.
"""

from __future__ import annotations

import hashlib
import re

_NOT_ALLOWED = re.compile(r"[^a-z0-9]+")


def job_name(job_id: str, *, prefix: str = "anytune", max_len: int = 63) -> str:
    if not job_id:
        raise ValueError("job id is empty")
    clean = _NOT_ALLOWED.sub("-", job_id.lower()).strip("-")
    head = f"{prefix}-{clean}" if clean else prefix
    if clean == job_id and len(head) <= max_len:
        return head
    digest = hashlib.sha256(job_id.encode()).hexdigest()[:8]
    return f"{head[: max_len - len(digest) - 1].rstrip('-')}-{digest}"


def attempt_name(job_id: str, attempt: int = 1, *, max_len: int = 63) -> str:
    """The remote name of one attempt of a job: the first is ``job_name(job_id)``, a resumed one (``anytune
    resume``) ``<name>-r<attempt>``. Cannot meet another job's first name: anytune's ids end in a hex
    random part, and ``r`` is not hex."""
    if attempt < 1:
        raise ValueError(f"attempt must be 1 or more, got {attempt}")
    if attempt == 1:
        return job_name(job_id, max_len=max_len)
    suffix = f"-r{attempt}"
    return job_name(job_id, max_len=max_len - len(suffix)) + suffix
