"""``check``: who we are, where, and whether the role, bucket and instance quota are there. Each probe
reports what it found; none raises. The optional Service Quotas look-up is tried once, without retries."""

from __future__ import annotations

from typing import Any

from anytune import errors
from anytune.cloud.retry import PROBE
from anytune.types import Readiness

from ._errors import translate
from ._s3 import require_bucket


def quota_name(instance_type: str, spot: bool) -> str:
    return f"{instance_type} for {'spot ' if spot else ''}training job usage"


def find_quota(quotas: Any, name: str, max_pages: int = 40) -> float | None:
    pages = quotas.get_paginator("list_service_quotas").paginate(ServiceCode="sagemaker",
                                                                 PaginationConfig={"PageSize": 100})
    for n, page in enumerate(pages):
        for q in page.get("Quotas", []):
            if q.get("QuotaName") == name:
                return float(q["Value"])
        if n + 1 >= max_pages:
            break
    return None


def readiness(aws: Any, options: Any, *, instance_type: str | None, spot: bool,
              problems: list[str] | None = None) -> Readiness:
    problems = list(problems or [])
    details: dict[str, str] = {}
    try:
        details["region"] = aws.region
        with translate("check"):
            me = aws.client("sts").get_caller_identity()
        details["identity"] = me["Arn"]
        details["account"] = me["Account"]
    except errors.AnytuneError as exc:
        return Readiness(ready=False, reason="; ".join([*problems, str(exc)]), details=details)

    if options.role_arn:
        try:
            with translate("check"):
                aws.client("iam").get_role(RoleName=options.role_arn.rsplit("/", 1)[-1])
            details["role"] = f"{options.role_arn} exists"
        except errors.NotFound:
            problems.append(f"execution role {options.role_arn} does not exist")
        except errors.AnytuneError as exc:  # e.g. no iam:GetRole permission: the launch will tell
            details["role"] = f"not verified ({exc})"
    if options.bucket:
        try:
            require_bucket(aws.client("s3"), options.bucket, "check")
            details["bucket"] = f"s3://{options.bucket} is reachable"
        except errors.AnytuneError as exc:
            problems.append(str(exc))

    if instance_type:
        name = quota_name(instance_type, spot)
        try:
            with translate("check"):
                value = find_quota(aws.client("service-quotas", PROBE), name)
            if value is None:
                details["quota"] = f"{name!r}: not listed"
            elif value < 1:
                problems.append(f"the account's quota {name!r} is {value:g}: request an increase in Service Quotas")
            else:
                details["quota"] = f"{name!r} = {value:g}"
        except errors.AnytuneError as exc:
            details["quota"] = f"not checked ({exc})"
    if problems:
        return Readiness(ready=False, reason="; ".join(problems), details=details)
    return Readiness(ready=True, reason=f"{details['identity']} in {details['region']}", details=details)
