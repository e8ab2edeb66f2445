"""Importing the plugin, constructing the provider and estimating import no Azure SDK (nor torch):
azure.ai.ml alone takes seconds to import."""

from __future__ import annotations

from anytune.testing.imports import HEAVY, run_blocking


def test_plugin_provider_and_estimate_import_no_sdk():
    proc = run_blocking("""
        import sys
        from anytune import registry
        from anytune.spec import JobSpec
        from anytune.types import DataStats, SplitStats
        import anytune_azureml.plugin, anytune_azureml.provider, anytune_azureml._sdk, anytune_azureml._errors
        import anytune_azureml._storage, anytune_azureml._job
        provider = registry.create("azureml", {"workspace": "ws-anytune"})
        spec = JobSpec(name="x", base_model="Qwen/Qwen2.5-0.5B-Instruct", data={"train": "t.jsonl"}, provider="azureml")
        stats = DataStats(splits={"train": SplitStats(examples=100, tokens=20000, max_tokens=300)})
        est = provider.estimate(spec, stats)
        loaded = [m for m in sys.modules if m.split(".")[0] == "azure"]
        print("ok", est.instance, loaded)
    """, blocked=HEAVY + ("azure",))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.startswith("ok Standard_") and proc.stdout.rstrip().endswith("[]")


def test_a_verb_without_the_sdk_names_the_extra():
    proc = run_blocking("""
        from anytune_azureml.provider import AzureMLProvider
        from anytune import errors
        from anytune.types import JobHandle
        provider = AzureMLProvider({"subscription_id": "00000000-1111-2222-3333-444444444444", "resource_group": "rg",
                                    "workspace": "ws-anytune"})
        try:
            provider.cancel(JobHandle(provider="azureml", job_id="j", remote_id="r"))
        except errors.ProviderUnavailable as exc:
            print("unavailable:", exc, "retryable:", exc.retryable)
    """, blocked=("azure",))
    assert proc.returncode == 0, proc.stderr
    assert "pip install 'anytune[azureml]'" in proc.stdout and "retryable: False" in proc.stdout
