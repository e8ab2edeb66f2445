"""Importing the plugin and the provider, registering it, and estimating imports no AWS SDK (nor torch):
run in a fresh interpreter where those modules cannot be imported at all."""

from __future__ import annotations

from anytune.testing.imports import run_blocking


def test_plugin_provider_and_estimate_import_no_sdk():
    done = run_blocking("""
        import anytune_sagemaker.plugin, anytune_sagemaker.provider
        from anytune import registry
        from anytune.errors import ProviderUnavailable
        from anytune.spec import JobSpec
        from anytune.types import DataStats, JobHandle, SplitStats

        reg = registry.load()
        assert "sagemaker" in reg.names(), reg.problems
        provider = reg.get_class("sagemaker")({"region": "us-east-1"})
        spec = JobSpec(name="x", base_model="meta-llama/Llama-3.1-8B", data={"train": "t.jsonl"})
        stats = DataStats(splits={"train": SplitStats(examples=2000, tokens=1_000_000, max_tokens=900)})
        est = provider.estimate(spec, stats)
        assert est.fits and est.instance.startswith("ml.") and est.total.amount > 0, est
        try:
            provider.status(JobHandle(provider="sagemaker", job_id="j", remote_id="anytune-j"))
        except ProviderUnavailable as exc:
            assert "pip install 'anytune[sagemaker]'" in str(exc), exc
        else:
            raise AssertionError("status() needs boto3")
        print("ok", est.instance)
    """)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("ok ml.")
