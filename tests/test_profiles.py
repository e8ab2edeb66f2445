"""Profiles: terraform output -json -> `anytune profile import` -> load_profile, show, list, bad input."""

from __future__ import annotations

import json
import stat
from collections import Counter
from pathlib import Path

import pytest
from typer.testing import CliRunner

from anytune import profiles
from anytune.cli_profile import app
from anytune.errors import ConfigError
from anytune.profiles import MASK, configured_providers, load_profile, settings

DATA = Path(__file__).parent / "data" / "terraform"
runner = CliRunner()

AWS_SETTINGS = {
    "bucket": "anytune-123456789012-us-east-1",
    "role_arn": "arn:aws:iam::123456789012:role/anytune-sagemaker-training",
    "region": "us-east-1",
    "kms_key_arn": "arn:aws:kms:us-east-1:123456789012:key/0f3c1e2a-7b4d-4c59-9a8e-1d2f3a4b5c6d",
    "prefix": "anytune/",
}


def invoke(*args: str, input: str | None = None):
    return runner.invoke(app, list(args), input=input)


def outputs(**values) -> str:
    """A `terraform output -json` document; a value given as ("secret", v) is marked sensitive."""
    doc = {}
    for name, value in values.items():
        sensitive = isinstance(value, tuple)
        doc[name] = {"sensitive": sensitive, "type": "string", "value": value[1] if sensitive else value}
    return json.dumps(doc, indent=2)


def test_aws_round_trip_gives_the_sagemaker_settings(tmp_path):
    result = invoke("import", "prod", str(DATA / "aws-output.json"))
    assert result.exit_code == 0, result.output
    assert "added sagemaker" in result.output and "launcher_policy_arn" in result.output

    assert load_profile("prod") == {"sagemaker": AWS_SETTINGS}
    assert configured_providers(load_profile("prod")) == ["sagemaker"]

    path = profiles.profile_path("prod")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


SAMPLES = {"sagemaker": "aws", "vertex": "gcp", "azureml": "azure"}


@pytest.mark.parametrize("provider", profiles.providers_in_table())
def test_installed_provider_accepts_the_settings_of_the_table(provider):
    """Each option the table writes must be an option of the provider (its Options forbid unknown
    keys), and the sample module outputs must validate. Runs for every provider plugin installed."""
    from anytune import registry
    from anytune.errors import PluginError

    try:
        cls = registry.get_registry().get_class(provider)
    except PluginError as exc:
        pytest.skip(f"provider {provider!r} is not installed here: {exc}")
    table_options = {s.option for s in settings() if s.provider == provider}
    assert table_options <= set(cls.Options.model_fields), table_options - set(cls.Options.model_fields)

    assert invoke("import", "p", str(DATA / f"{SAMPLES[provider]}-output.json")).exit_code == 0
    options = cls.parse_options(load_profile("p")[provider])
    if provider == "sagemaker":
        assert (options.bucket, options.role_arn, options.region, options.kms_key_arn, options.prefix) == (
            AWS_SETTINGS["bucket"], AWS_SETTINGS["role_arn"], "us-east-1", AWS_SETTINGS["kms_key_arn"], "anytune")


def test_stdin_and_every_module_sample_configure_their_provider():
    for sample, provider in [("aws", "sagemaker"), ("gcp", "vertex"), ("azure", "azureml")]:
        result = invoke("import", sample, input=(DATA / f"{sample}-output.json").read_text())
        assert result.exit_code == 0, result.output
        assert configured_providers(load_profile(sample)) == [provider]
    assert load_profile("gcp")["vertex"]["staging_bucket"] == "gs://anytune-my-ml-project-staging"
    assert load_profile("azure")["azureml"]["workspace"] == "anytune-mlw"


def test_second_import_adds_a_provider_and_reimport_replaces_it():
    assert invoke("import", "default", str(DATA / "aws-output.json")).exit_code == 0
    assert invoke("import", "default", str(DATA / "gcp-output.json")).exit_code == 0
    assert sorted(load_profile(None)) == ["sagemaker", "vertex"]

    again = invoke("import", "default", input=outputs(bucket="other-bucket", role_arn=AWS_SETTINGS["role_arn"],
                                                      region="eu-west-1"))
    assert again.exit_code == 0 and "replaced sagemaker" in again.output
    prof = load_profile(None)
    assert prof["sagemaker"] == {"bucket": "other-bucket", "role_arn": AWS_SETTINGS["role_arn"], "region": "eu-west-1"}
    assert prof["vertex"]["project"] == "my-ml-project"


def test_sensitive_values_are_stored_but_never_printed():
    secret = "s3cr3t-r0le"  # short: a long value could be cut off by the table and hide a leak
    result = invoke("import", "s", input=outputs(bucket="b-1", role_arn=("sensitive", secret), region="us-east-1"))
    assert result.exit_code == 0 and secret not in result.output
    assert load_profile("s")["sagemaker"]["role_arn"] == secret  # stored for the provider

    shown = invoke("show", "s")
    assert shown.exit_code == 0, shown.output
    assert secret not in shown.output and MASK in shown.output and "b-1" in shown.output
    assert profiles.read_profile("s").masked()["sagemaker"] == {"bucket": "b-1", "role_arn": MASK, "region": "us-east-1"}

    # A later import of another provider keeps the marking.
    assert invoke("import", "s", str(DATA / "gcp-output.json")).exit_code == 0
    assert secret not in invoke("show", "s").output


def test_hand_written_secret_looking_options_are_masked():
    profiles.write_profile("manual", {"openai": {"api_key": "sk-live-abcdef", "organization": "org-1"}})
    shown = invoke("show", "manual")
    assert shown.exit_code == 0 and "sk-live-abcdef" not in shown.output and "org-1" in shown.output


def test_null_optional_outputs_are_left_out():
    text = json.dumps({**json.loads((DATA / "gcp-output.json").read_text()),
                       "kms_key_name": {"sensitive": False, "type": "string", "value": None}})
    result = invoke("import", "g", input=text)
    assert result.exit_code == 0 and "kms_key_name" in result.output
    assert "kms_key_name" not in load_profile("g")["vertex"]


def test_load_profile_resolution(monkeypatch):
    assert load_profile(None) == {}  # no profile at all
    profiles.write_profile("default", {"sagemaker": {"bucket": "d"}})
    profiles.write_profile("team", {"sagemaker": {"bucket": "t"}})
    assert load_profile(None) == {"sagemaker": {"bucket": "d"}}
    monkeypatch.setenv("ANYTUNE_PROFILE", "team")
    assert load_profile(None) == {"sagemaker": {"bucket": "t"}}
    monkeypatch.setenv("ANYTUNE_PROFILE", "absent")
    with pytest.raises(ConfigError, match="profile 'absent' not found.*anytune profile import absent"):
        load_profile(None)
    with pytest.raises(ConfigError, match="profile 'nope' not found"):
        load_profile("nope")
    with pytest.raises(ConfigError, match="invalid profile name"):
        load_profile("../etc/passwd")


def test_broken_profile_file_is_reported_with_its_location():
    path = profiles.profile_path("bad")
    path.parent.mkdir(parents=True)
    path.write_text("providers:\n  sagemaker: [unclosed\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml:\d+:\d+: profile is not valid YAML"):
        load_profile("bad")
    path.write_text("providers: {sagemaker: just-a-string}\ncolour: blue\n")
    with pytest.raises(ConfigError) as exc:
        load_profile("bad")
    assert "providers.sagemaker" in str(exc.value) and "colour" in str(exc.value)


def test_list_shows_profiles_and_configured_providers():
    assert "no profiles" in invoke("list").output
    assert invoke("import", "aws", str(DATA / "aws-output.json")).exit_code == 0
    profiles.write_profile("partial", {"sagemaker": {"bucket": "only"}})
    result = invoke("list")
    assert result.exit_code == 0
    rows = {line.split("│")[1].strip(): line for line in result.output.splitlines() if line.count("│") >= 4}
    assert "sagemaker" in rows["aws"].split("│")[3]  # configured
    assert "sagemaker" not in rows["partial"].split("│")[3]  # bucket alone is not enough


BAD_INPUTS = {
    "not json": ("terraform output\nbucket = x", "<stdin>:1:1: not JSON"),
    "a list": ("[1, 2]", "expected a JSON object of outputs, got a list"),
    "one value": ('"anytune-bucket"', "`terraform output -json NAME` prints one value"),
    "no outputs": ("{}", "no outputs; run `terraform apply` first"),
    "show -json": ('{"format_version": "1.0", "values": {}}', "this is `terraform show -json` output"),
    "plain map": ('{"bucket": "b", "region": "r"}', "unknown shape"),
    "partial": (outputs(bucket="b", region="us-east-1"), "sagemaker: missing or empty outputs ['role_arn']"),
    "empty required": (outputs(bucket="b", region="us-east-1", role_arn=""), "missing or empty outputs ['role_arn']"),
    "no provider": (outputs(vpc_id="vpc-1"), "no anytune provider's outputs found"),
    "list value": (json.dumps({"bucket": {"sensitive": False, "type": ["list", "string"], "value": ["a"]},
                               "role_arn": {"sensitive": False, "type": "string", "value": "arn:x"},
                               "region": {"sensitive": False, "type": "string", "value": "us-east-1"}}),
                   "output 'bucket' is a list"),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_exits_2_with_a_clear_message(case):
    text, message = BAD_INPUTS[case]
    result = invoke("import", "x", input=text)
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit)  # a clean exit, not an escaped exception
    assert message in " ".join(result.output.split()), result.output
    assert "Traceback" not in result.output
    assert not profiles.profile_path("x").exists()


def test_bad_file_and_name_exit_2(tmp_path):
    missing = invoke("import", "x", str(tmp_path / "nope.json"))
    assert missing.exit_code == 2 and "no such file" in " ".join(missing.output.split())  # any terminal width
    assert invoke("import", "../up", str(DATA / "aws-output.json")).exit_code == 2
    assert invoke("show", "ghost").exit_code == 2
    assert invoke("show").exit_code == 2  # nothing named, no default


def test_settings_table_is_consistent():
    assert not [k for k, n in Counter((s.provider, s.option) for s in settings()).items() if n > 1]
    assert not [k for k, n in Counter((s.provider, s.output) for s in settings()).items() if n > 1]
    for provider in profiles.providers_in_table():
        assert profiles.required_options(provider), f"{provider} has no required setting"
