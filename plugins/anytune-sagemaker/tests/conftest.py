"""Fixtures: moto's server on 127.0.0.1 (S3, STS, IAM, CloudWatch Logs, SageMaker training jobs), an
account in it (bucket + execution role), a tiny model with data, and ``play_container``, which does what
SageMaker and its training container would do for a job that moto only records."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
import time
import uuid
from pathlib import Path

import pytest

from anytune.spec import JobSpec

REGION = "us-east-1"
LOG_GROUP = "/aws/sagemaker/TrainingJobs"


@pytest.fixture(scope="session")
def moto_server():
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture(autouse=True)
def aws_env(tmp_path, monkeypatch, moto_server):
    """Fake credentials, no user AWS config, and AWS_ENDPOINT_URL at moto: boto3 (the provider's and the
    tests' own clients) sends every request there over HTTP."""
    monkeypatch.setenv("ANYTUNE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("ANYTUNE_CONFIG_DIR", str(tmp_path / "config"))
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_REGION", "AWS_DEFAULT_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


def client(service: str):
    import boto3

    return boto3.client(service, region_name=REGION)


@pytest.fixture
def account():
    """A fresh bucket and execution role in moto (names unique per test)."""
    tag = uuid.uuid4().hex[:8]
    bucket = f"anytune-test-{tag}"
    client("s3").create_bucket(Bucket=bucket)
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                    "Principal": {"Service": "sagemaker.amazonaws.com"}}]}
    role = client("iam").create_role(RoleName=f"anytune-sm-{tag}", AssumeRolePolicyDocument=json.dumps(trust))
    return {"bucket": bucket, "role_arn": role["Role"]["Arn"]}


@pytest.fixture
def options(account):
    return {"region": REGION, "bucket": account["bucket"], "role_arn": account["role_arn"], "prefix": "teams/ml",
            "max_attempts": 2}


@pytest.fixture
def provider(options):
    from anytune_sagemaker.provider import SageMakerProvider

    return SageMakerProvider(options)


@pytest.fixture
def spec(tiny_spec) -> JobSpec:
    return tiny_spec("sagemaker")


@pytest.fixture
def spec_with(tiny_spec):
    """``spec_with(spot=True, max_hours=4)``: the test spec with other compute settings."""
    return lambda **compute: tiny_spec("sagemaker", **compute)


@pytest.fixture
def prepared(spec, tmp_path):
    from anytune.data import prepare

    return prepare(spec, tmp_path / "prepared")


# --- playing SageMaker and its training container -------------------------------------------------


def _split_s3(uri: str) -> tuple[str, str]:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    return bucket, key


def _download_prefix(s3, uri: str, dest: Path) -> None:
    """S3Prefix channel semantics: every object under the prefix, placed relative to the prefix's folder."""
    bucket, prefix = _split_s3(uri)
    folder = prefix.rsplit("/", 1)[0] + "/" if "/" in prefix else ""
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            target = dest / obj["Key"][len(folder):]
            target.parent.mkdir(parents=True, exist_ok=True)
            s3.download_file(bucket, obj["Key"], str(target))


def _sync_up(s3, folder: Path, uri: str) -> None:
    bucket, prefix = _split_s3(uri.rstrip("/") + "/")
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        s3.upload_file(str(path), bucket, prefix + path.relative_to(folder).as_posix())


def play_container(job_name: str, root: Path, env: dict[str, str] | None = None, check: bool = True) -> list[str]:
    """What SageMaker does for a job: read its request back (DescribeTrainingJob), fetch the channels and
    the code bundle, sync the checkpoint prefix down, run the toolkit's command (``python anytune_entry.py
    --<hp> <value> ...``) with the SM_* environment (and ``env``), sync the checkpoints back up, pack
    /opt/ml/model into ``model.tar.gz`` where the job says, and write the container's output to CloudWatch
    Logs. Returns the output lines; with ``check`` the trainer must have succeeded (else no model is packed)."""
    sm, s3 = client("sagemaker"), client("s3")
    job = sm.describe_training_job(TrainingJobName=job_name)
    opt = root / "opt" / "ml"
    code, model_dir, out_dir = opt / "code", opt / "model", opt / "output" / "data"
    for d in (code, model_dir, out_dir):
        d.mkdir(parents=True)
    hps = {k: json.loads(v) for k, v in job["HyperParameters"].items()}
    bucket, key = _split_s3(hps["sagemaker_submit_directory"])
    s3.download_file(bucket, key, str(root / "sourcedir.tar.gz"))
    with tarfile.open(root / "sourcedir.tar.gz") as tar:
        tar.extractall(code, filter="data")
    user_hps = {k: v for k, v in hps.items() if not k.startswith("sagemaker_")}
    # moto keeps no Environment of a training job: the one anytune sends holds only the job id, also a tag.
    tags = {t["Key"]: t["Value"] for t in sm.list_tags(ResourceArn=job["TrainingJobArn"])["Tags"]}
    environment = job.get("Environment") or {"ANYTUNE_JOB_ID": tags["anytune:job-id"]}
    env = {**os.environ, **environment, **(env or {}), "SM_MODEL_DIR": str(model_dir),
           "SM_OUTPUT_DATA_DIR": str(out_dir), "SM_HPS": json.dumps(user_hps), "SM_NUM_GPUS": "0",
           "SM_HOSTS": '["algo-1"]', "SM_CURRENT_HOST": "algo-1", "CUDA_VISIBLE_DEVICES": "",
           "SM_CHANNELS": json.dumps([c["ChannelName"] for c in job["InputDataConfig"]])}
    for channel in job["InputDataConfig"]:
        name = channel["ChannelName"]
        where = opt / "input" / "data" / name
        _download_prefix(s3, channel["DataSource"]["S3DataSource"]["S3Uri"], where)
        env[f"SM_CHANNEL_{name.upper()}"] = str(where)
    probe = subprocess.run([sys.executable, "-c", "import anytune; print(anytune.__file__)"], cwd=code, env=env,
                           capture_output=True, text=True, check=True)
    assert probe.stdout.startswith(str(code)), f"the container would not run the bundled anytune: {probe.stdout}"
    args = [a for k, v in user_hps.items() for a in (f"--{k}", v if isinstance(v, str) else json.dumps(v))]
    # /opt/ml/checkpoints is not writable here; that is the one path the test moves.
    checkpoints = job.get("CheckpointConfig", {}).get("S3Uri")
    if checkpoints:
        # CheckpointConfig: the objects under the prefix become the local path's files (a prefix ending in "/")
        _download_prefix(s3, checkpoints.rstrip("/") + "/", opt / "checkpoints")
    command = [sys.executable, "anytune_entry.py", *args, "--checkpoints", str(opt / "checkpoints")]
    done = subprocess.run(command, cwd=code, env=env, capture_output=True, text=True, timeout=600)
    output = (done.stdout + done.stderr).splitlines()
    if checkpoints and (opt / "checkpoints").is_dir():
        _sync_up(s3, opt / "checkpoints", checkpoints)
    if done.returncode != 0:
        assert not check, "\n".join(output[-40:])
        seed_logs(job_name, {"algo-1-1700000000": output})
        return output

    bucket, key = _split_s3(job["ModelArtifacts"]["S3ModelArtifacts"])
    with tarfile.open(root / "model.tar.gz", "w:gz") as tar:
        for path in sorted(model_dir.rglob("*")):
            tar.add(path, arcname=path.relative_to(model_dir).as_posix(), recursive=False)
    s3.upload_file(str(root / "model.tar.gz"), bucket, key)
    seed_logs(job_name, {"algo-1-1700000000": output})
    return output


def seed_logs(job_name: str, streams: dict[str, list[str]]) -> None:
    logs = client("logs")
    try:
        logs.create_log_group(logGroupName=LOG_GROUP)
    except logs.exceptions.ResourceAlreadyExistsException:
        pass
    now = int(time.time() * 1000)
    for stream, lines in streams.items():
        name = f"{job_name}/{stream}"
        try:
            logs.create_log_stream(logGroupName=LOG_GROUP, logStreamName=name)
        except logs.exceptions.ResourceAlreadyExistsException:
            pass
        if lines:
            logs.put_log_events(logGroupName=LOG_GROUP, logStreamName=name,
                                logEvents=[{"timestamp": now + i, "message": line} for i, line in enumerate(lines)])


@pytest.fixture
def aws():
    """A boto3 client factory for the tests' own look-ups (sent to moto like the provider's)."""
    return client


@pytest.fixture
def container(tmp_path):
    """``container(job_name, env=None, check=True)`` plays SageMaker for the job; see :func:`play_container`."""
    counter = iter(range(1000))
    return lambda job_name, **kw: play_container(job_name, tmp_path / f"container-{next(counter)}", **kw)


@pytest.fixture
def cloudwatch():
    """``cloudwatch(job_name, {stream: [lines]})`` writes log events as a training container would."""
    return seed_logs


class _ScriptedAWS:
    """An HTTP server on 127.0.0.1 that answers AWS JSON-protocol requests (SageMaker, CloudWatch Logs)
    from a script: for errors moto cannot produce (throttling, quotas, expired tokens). botocore builds,
    signs, sends and parses every request and response as it would with AWS."""

    def __init__(self):
        import http.server
        import threading

        self.replies: list[tuple[int, dict | None]] = []  # (status, JSON body); the last one repeats
        self.requests: list[tuple[str, dict]] = []  # (X-Amz-Target, JSON body)
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                outer.requests.append((self.headers.get("X-Amz-Target", ""), json.loads(body or b"{}")))
                status, reply = outer.replies.pop(0) if len(outer.replies) > 1 else outer.replies[0]
                data = json.dumps(reply).encode() if reply is not None else b""
                self.send_response(status)
                self.send_header("Content-Type", "application/x-amz-json-1.1")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def error(self, code: str, message: str = "scripted", status: int = 400) -> tuple[int, dict]:
        return status, {"__type": code, "message": message}

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def scripted_server():
    server = _ScriptedAWS()
    yield server
    server.close()


@pytest.fixture
def scripted(scripted_server):
    scripted_server.requests.clear()
    return scripted_server


@pytest.fixture(scope="module")
def scripted_provider(scripted_server):
    """A provider sending every request to the scripted server, one try per request. Module-scoped: a
    boto3 session loads its service models once."""
    from anytune_sagemaker.provider import SageMakerProvider

    return SageMakerProvider({"region": "us-east-1", "endpoint_url": scripted_server.url, "max_attempts": 1})
