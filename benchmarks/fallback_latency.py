"""How long a permanent cloud error takes to reach the fallback: a job for SageMaker, then local, where
every request to AWS is answered 403 (anytune.testing.faults.FaultProxy, kind "denied", in front of
moto's server). Baseline, in the same run: the same job planned for local alone. The difference is what
the failing cloud cost the user before anytune moved on.

    python benchmarks/fallback_latency.py [--runs 5]

Target (issue 16): a permanent error reaches fallback in under 10 s (no retries of a 403).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()

    import logging

    import boto3
    from moto.server import ThreadedMotoServer

    from anytune import jobs
    from anytune.spec import JobSpec
    from anytune.testing.faults import FaultProxy
    from anytune.testing.tiny_model import build_tiny_model, write_tiny_data

    tmp = Path(tempfile.mkdtemp(prefix="anytune-fallback-"))
    os.environ.update({"ANYTUNE_HOME": str(tmp / "home"), "ANYTUNE_CONFIG_DIR": str(tmp / "config"),
                       "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_DEFAULT_REGION": "us-east-1", "AWS_CONFIG_FILE": str(tmp / "none"),
                       "AWS_SHARED_CREDENTIALS_FILE": str(tmp / "none"), "AWS_EC2_METADATA_DISABLED": "true"})
    logging.getLogger("werkzeug").setLevel(logging.CRITICAL)  # moto's request log and its 501 tracebacks
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    moto = f"http://{host}:{port}"
    boto3.client("s3", endpoint_url=moto).create_bucket(Bucket="bench")
    trust = '{"Version": "2012-10-17", "Statement": []}'
    role = boto3.client("iam", endpoint_url=moto).create_role(RoleName="bench", AssumeRolePolicyDocument=trust)
    model = build_tiny_model(tmp / "model")
    data = write_tiny_data(tmp / "data")

    def spec(provider) -> JobSpec:
        return JobSpec(name="fallback", base_model=str(model), method="lora", provider=provider,
                       data={k: str(v) for k, v in data.items()},
                       provider_options={"sagemaker": {"region": "us-east-1", "bucket": "bench", "endpoint_url": proxy.url,
                                                       "role_arn": role["Role"]["Arn"]}})

    local, fallback = [], []
    with FaultProxy(moto, rate=1.0, kinds=("denied",)) as proxy:
        jobs.plan(spec("local"))  # warm: imports, data prepared and cached
        jobs.plan(spec(["sagemaker", "local"]))
        for _ in range(args.runs):
            t = time.perf_counter()
            jobs.plan(spec("local"))
            local.append(time.perf_counter() - t)
            before = proxy.requests
            t = time.perf_counter()
            plan = jobs.plan(spec(["sagemaker", "local"]))
            fallback.append(time.perf_counter() - t)
            requests = proxy.requests - before
            assert plan.viable[0].name == "local", plan.record()
    skipped = next(c for c in plan.record() if c["provider"] == "sagemaker")["skipped"]
    extra = statistics.median(fallback) - statistics.median(local)
    print(f"at the check (plan): local alone (baseline) median {statistics.median(local):6.3f} s over {args.runs} runs")
    print(f"  sagemaker denied -> local:    median {statistics.median(fallback):6.3f} s "
          f"({requests} request to AWS, answered 403)")
    print(f"  time the failing cloud cost:  {extra:6.3f} s   (target < 10 s: {'met' if extra < 10 else 'MISSED'})")
    print(f"  why sagemaker was skipped:    {skipped}")

    # The check passes (its reads are answered) but the upload is refused: the fallback happens in submit.
    with FaultProxy(moto, rate=1.0, kinds=("denied",), only=r"^PUT /bench/") as proxy:
        t = time.perf_counter()
        sub = jobs.submit(spec("local"))
        baseline = time.perf_counter() - t
        jobs.cancel(sub.record.id)
        t = time.perf_counter()
        sub = jobs.submit(spec(["sagemaker", "local"]))
        moved = time.perf_counter() - t
        jobs.cancel(sub.record.id)
    server.stop()
    assert sub.record.provider == "local", sub.record
    why = next(c for c in sub.plan.record() if c["provider"] == "sagemaker")["skipped"]
    print(f"at the upload (submit): local alone (baseline) {baseline:6.3f} s")
    print(f"  sagemaker upload denied -> local: {moved:6.3f} s ({proxy.faulted} of {proxy.requests} requests "
          f"answered 403)")
    print(f"  time the failing cloud cost:  {moved - baseline:6.3f} s   "
          f"(target < 10 s: {'met' if moved - baseline < 10 else 'MISSED'})")
    print(f"  why sagemaker was skipped:    {why}")


if __name__ == "__main__":
    main()
