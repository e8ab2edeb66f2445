"""The contract every provider passes. Subclass it in a provider's tests and override the fixtures:

    class TestMyContract(ProviderContract):
        @pytest.fixture
        def provider(self, my_server):
            return MyProvider({"endpoint": my_server.url})

        @pytest.fixture
        def spec(self, tiny_spec): ...

        @pytest.fixture
        def prepared(self, spec, tmp_path): return anytune.data.prepare(spec, tmp_path / "data")

Fixtures that are not overridden fail loudly (fsspec style), so a half-wired suite cannot pass by accident.
``finish_job`` lets a test play the remote side (e.g. run the trainer as the container would) before
the job is polled; by default the job is expected to finish on its own.
"""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

import pytest

from ..artifacts import sha256_file
from ..provider import Capability, Provider
from ..types import CostEstimate, DataRef, JobHandle, JobState, JobStatus, LogChunk, ModelArtifact, Readiness


def _missing(name: str):
    pytest.fail(f"the provider contract needs the fixture {name!r}: override it in your test class")


class ProviderContract:
    """Shared tests for every provider. ``poll_timeout`` bounds how long a job may take to finish here."""

    poll_timeout = 300.0
    poll_interval = 0.2
    # Set False, with a reason, only where the local stand-in cannot cancel (cover it another way).
    cancel_in_contract = True
    cancel_in_contract_reason = ""

    @pytest.fixture
    def provider(self) -> Provider:
        _missing("provider")

    @pytest.fixture
    def spec(self):
        _missing("spec")

    @pytest.fixture
    def prepared(self, spec):
        _missing("prepared")

    @pytest.fixture
    def finish_job(self):
        """Called with (handle, provider) after launch; play the remote side here if the backend can't."""
        return lambda handle, provider: None

    @pytest.fixture
    def job_id(self) -> str:
        return "t" + uuid.uuid4().hex[:12]

    # --- shape ---------------------------------------------------------------------------------

    def test_declares_itself(self, provider):
        assert provider.name and provider.name.replace("-", "").replace("_", "").isalnum()
        assert all(isinstance(c, Capability) for c in provider.capabilities)
        for table in (provider.unsupported, provider.ignored):  # each with the reason a user reads
            assert all(isinstance(c, Capability) and isinstance(why, str) and len(why) > 10 for c, why in table.items())
        assert not set(provider.unsupported) & set(provider.ignored)
        assert provider.STATE_MAP, "map the provider's raw states to JobState through STATE_MAP"
        assert all(isinstance(v, JobState) for v in provider.STATE_MAP.values())
        assert JobState.SUCCEEDED in provider.STATE_MAP.values()
        assert JobState.FAILED in provider.STATE_MAP.values()

    def test_unknown_raw_state_is_unknown(self, provider):
        assert provider.map_state("surely-not-a-state") is JobState.UNKNOWN

    def test_bad_options_are_config_errors(self, provider):
        from ..errors import ConfigError

        with pytest.raises(ConfigError) as info:
            type(provider)({"no_such_option_anywhere": 1})
        assert "no_such_option_anywhere" in str(info.value)

    def test_check_does_not_raise(self, provider, spec):
        result = provider.check(spec)
        assert isinstance(result, Readiness)
        assert result.ready or result.reason, "a provider that is not ready must say why"

    def test_estimate(self, provider, spec, prepared):
        est = provider.estimate(spec, prepared.stats)
        assert isinstance(est, CostEstimate)
        assert est.provider == provider.name
        assert est.total.amount >= 0 and est.hours >= 0
        for line in est.lines:  # priced on their own: a source, a price, and the time estimated
            assert line.source and line.unit_price.amount >= 0 and line.quantity >= 0, line
            if line.unit == "hour" and est.hours:
                assert abs(float(line.quantity) - est.hours) <= 0.01 * est.hours + 1e-3, (line, est.hours)
        if est.spot_total is not None:
            assert est.spot_total.amount <= est.total.amount, "spot must not cost more than on-demand"

    def test_claims_hold(self, provider, spec, prepared):
        """What the provider claims it can do shows in what it does; what it cannot do it says, with a reason."""
        spot = spec.model_copy(update={"compute": spec.compute.model_copy(update={"spot": True})})
        if Capability.SPOT in provider.capabilities:
            assert provider.estimate(spot, prepared.stats).spot_total is not None, "claims SPOT but prices no spot"
            assert not provider.cannot(spot)
        elif Capability.SPOT in provider.unsupported:
            assert provider.cannot(spot) and provider.unsupported[Capability.SPOT] in provider.cannot(spot)[0]
        for method in ("full", "lora", "qlora"):
            asked = spec.model_copy(update={"method": method})
            assert bool(provider.cannot(asked)) == (Capability(method) in provider.unsupported)

    def test_dry_run_builds_the_request_and_sends_nothing(self, provider, spec, prepared, job_id):
        ready, _ = provider.with_placeholders()
        ref = DataRef(provider=provider.name, content_hash=prepared.content_hash,
                      uris={k: f"<{provider.name} storage>/{k}.jsonl" for k in prepared.files})
        request = ready.dry_run(spec, ref, job_id + "d", plan=ready.estimate(spec, prepared.stats))
        assert isinstance(request, dict) and request
        json.dumps(request, default=str)
        from ..errors import NotFound

        ghost = JobHandle(provider=provider.name, job_id=job_id + "d", remote_id=f"anytune-{job_id}d",
                          extra=self.ghost_extra())
        with pytest.raises(NotFound):  # nothing was launched
            provider.status(ghost)

    # --- lifecycle ------------------------------------------------------------------------------

    def test_upload_is_content_addressed(self, provider, spec, prepared):
        first = provider.upload(spec, prepared)
        assert isinstance(first, DataRef)
        assert first.content_hash == prepared.content_hash
        assert "train" in first.uris
        second = provider.upload(spec, prepared)
        assert second.bytes_sent == 0, "an unchanged dataset must not be sent twice"
        assert second.uris == first.uris

    def test_full_lifecycle(self, provider, spec, prepared, finish_job, job_id, tmp_path):
        data = provider.upload(spec, prepared)
        handle = provider.launch(spec, data, job_id)
        assert isinstance(handle, JobHandle) and handle.job_id == job_id and handle.provider == provider.name
        # A handle round-trips through JSON, and a retried launch finds the same job.
        assert JobHandle.from_json(handle.to_json()) == handle
        again = provider.launch(spec, data, job_id)
        assert again.remote_id == handle.remote_id, "a retried launch must not create a second job"
        # Findable from the job id alone (a submit that died before recording the handle is completed so).
        found = provider.find(spec, job_id)
        assert found is not None and found.remote_id == handle.remote_id, "find(job_id) must return the launched job"
        assert provider.find(spec, job_id + "-never-launched") is None
        from ..errors import JobNotReady

        early = tmp_path / "early"
        if not provider.status(handle).state.terminal:  # (a stand-in may end a job at once)
            with pytest.raises(JobNotReady):  # not done yet: nothing to retrieve, nothing written
                provider.retrieve(handle, early)
            assert not early.exists() or not any(early.iterdir())

        finish_job(handle, provider)
        status = self._wait(provider, JobHandle.from_json(handle.to_json()))
        assert status.state is JobState.SUCCEEDED, f"job ended {status.state.value}: {status.message}"

        chunk = provider.logs(handle)
        assert isinstance(chunk, LogChunk)
        if Capability.LOGS in provider.capabilities:
            assert chunk.lines, "a provider with the LOGS capability must return log lines"
            later = provider.logs(handle, chunk.cursor)
            assert not set(later.lines) - set(chunk.lines) or later.cursor != chunk.cursor

        dest = tmp_path / "retrieved"
        artifact = provider.retrieve(handle, dest)
        assert isinstance(artifact, ModelArtifact)
        if Capability.DOWNLOAD_WEIGHTS in provider.capabilities:
            assert artifact.path and artifact.files
            for f in artifact.files:
                assert sha256_file(Path(artifact.path) / f.path) == f.sha256
        else:
            assert artifact.remote_model_id
        if self.cancel_in_contract:  # cancelling a job that has ended is no error, and changes nothing
            provider.cancel(handle)
            assert provider.status(handle).state is JobState.SUCCEEDED

    def test_cancel(self, provider, spec, prepared, job_id):
        if not self.cancel_in_contract:
            pytest.skip(self.cancel_in_contract_reason)
        data = provider.upload(spec, prepared)
        handle = provider.launch(spec, data, job_id + "c")
        provider.cancel(handle)
        status = self._wait(provider, handle)
        assert status.state in (JobState.CANCELLED, JobState.STOPPING), status

    def test_unknown_job_is_not_found(self, provider):
        from ..errors import NotFound

        ghost = JobHandle(provider=provider.name, job_id="ghost", remote_id="anytune-ghost-does-not-exist",
                          extra=self.ghost_extra())
        with pytest.raises(NotFound):
            provider.status(ghost)

    def ghost_extra(self) -> dict[str, str]:
        """Extra handle fields a provider needs to even look a job up (override if any)."""
        return {}

    def _wait(self, provider, handle) -> JobStatus:
        deadline = time.monotonic() + self.poll_timeout
        while True:
            status = provider.status(handle)
            assert isinstance(status, JobStatus)
            json.loads(status.to_json())
            if status.state.terminal or time.monotonic() > deadline:
                return status
            time.sleep(self.poll_interval)
