"""``check`` reports what it found (workspace, storage, compute) and why it is not ready, without raising."""

from __future__ import annotations

import pytest
from anytune_azureml.provider import AzureMLProvider

from anytune.errors import ConfigError

AMLCOMPUTE = {"computeType": "AmlCompute", "computeLocation": "eastus", "provisioningState": "Succeeded",
              "properties": {"vmSize": "Standard_NC24ads_A100_v4", "vmPriority": "Dedicated",
                             "scaleSettings": {"minNodeCount": 0, "maxNodeCount": 2}}}


def test_ready_with_what_it_found(provider, spec, azurite, arm):
    result = provider.check(spec)
    assert result.ready, result.reason
    assert result.details["workspace"] == "ws-anytune in eastus"
    assert result.details["storage"] == f"{azurite.endpoint}/{arm.containers['workspaceblobstore']}"
    assert result.details["compute"] == "serverless Standard_NC4as_T4_v3"
    assert result.details["endpoint"] == arm.url


def test_missing_settings_are_named(make_provider, spec):
    result = make_provider(resource_group=None, workspace=None).check(spec)
    assert not result.ready
    assert "provider_options.azureml.resource_group" in result.reason and "azureml.workspace" in result.reason


def test_no_access_is_reported_not_raised(provider, spec, arm):
    arm.fail("GET", r"/workspaces/ws-anytune$", 403, "AuthorizationFailed", "The client does not have "
             "authorization to perform action 'Microsoft.MachineLearningServices/workspaces/read'")
    result = provider.check(spec)
    assert not result.ready and "AuthorizationFailed" in result.reason


def test_clusters_and_their_tier(make_provider, spec_with, arm):
    arm.computes["gpu-a100"] = AMLCOMPUTE
    arm.computes["gpu-lowpri"] = {**AMLCOMPUTE, "properties": {**AMLCOMPUTE["properties"], "vmPriority": "LowPriority"}}
    dedicated = make_provider(compute="gpu-a100").check(spec_with())
    assert dedicated.ready, dedicated.reason
    assert dedicated.details["cluster"] == "gpu-a100: Standard_NC24ads_A100_v4, dedicated"

    wrong = make_provider(compute="gpu-a100", low_priority_compute="gpu-a100").check(spec_with(spot=True))
    assert not wrong.ready and "cluster gpu-a100 is dedicated" in wrong.reason

    spot = make_provider(compute="gpu-a100", low_priority_compute="gpu-lowpri").check(spec_with(spot=True))
    assert spot.ready, spot.reason
    assert spot.details["cluster"] == "gpu-lowpri: Standard_NC24ads_A100_v4, low_priority"

    missing = make_provider(compute="gpu-h100").check(spec_with())
    assert not missing.ready and "NotFound" in missing.reason


def test_without_any_credential_it_says_what_to_do(options, spec, monkeypatch):
    """The real DefaultAzureCredential, narrowed to its environment credential (nothing set) so it fails at
    once instead of probing for a managed identity."""
    from anytune_azureml.provider import AzureMLProvider

    monkeypatch.setenv("AZURE_TOKEN_CREDENTIALS", "EnvironmentCredential")
    result = AzureMLProvider(options).check(spec)
    assert not result.ready and "az login" in result.reason


def test_resource_group_names_follow_azure_rules():
    for good in ("rg-ml_1", "Équipe.(prod)", "r" * 90):
        assert AzureMLProvider({"resource_group": good}).options.resource_group == good
    for bad in ("r" * 91, "has space", "slash/rg", ""):
        with pytest.raises(ConfigError, match="resource_group"):
            AzureMLProvider({"resource_group": bad})
