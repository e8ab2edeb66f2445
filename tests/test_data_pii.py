"""PII redaction: what is found, what is left alone, typed placeholders, counts, no PII in reports."""

from __future__ import annotations

import json
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from anytune.data import DataOptions, prepare, validate
from anytune.data.pii import Redactor, iban_ok, luhn_ok

FOUND = [
    ("write to jane.doe+tag@mail.example.co.uk today", "write to <EMAIL> today", "EMAIL"),
    ("call +44 20 7946 0958 now", "call <PHONE> now", "PHONE"),
    ("call (415) 555-0100.", "call <PHONE>.", "PHONE"),
    ("ring 06 12 34 56 78", "ring <PHONE>", "PHONE"),
    ("IBAN DE89 3704 0044 0532 0130 00 thanks", "IBAN <IBAN> thanks", "IBAN"),
    ("IBAN GB29NWBK60161331926819.", "IBAN <IBAN>.", "IBAN"),
    ("card 4111 1111 1111 1111 exp", "card <CREDIT_CARD> exp", "CREDIT_CARD"),
    ("card 5500-0000-0000-0004", "card <CREDIT_CARD>", "CREDIT_CARD"),
    ("from 192.168.1.20, then", "from <IP_ADDRESS>, then", "IP_ADDRESS"),
    ("host 2001:db8::8a2e:370:7334 up", "host <IP_ADDRESS> up", "IP_ADDRESS"),
    ("link fe80::1ff:fe23:4567:890a and 10.0.0.1", "link <IP_ADDRESS> and <IP_ADDRESS>", "IP_ADDRESS"),
]

LEFT_ALONE = [
    "order 4111 1111 1111 1112 (fails Luhn)",
    "in 2024-01-15 at 12:30:45 we met",
    "std::vector<int> and a::b::c",
    "version 1.2 and 10.5 percent, 3.14159",
    "IBAN-like DE00 1234 5678 9012 3456 78 (bad checksum)",
    "the year 1999 and 42 apples, @ sign alone, a@b",
    "room 12 34 56",
]


@pytest.mark.parametrize("text,expected,kind", FOUND)
def test_finds_each_kind(text, expected, kind):
    counts: Counter[str] = Counter()
    assert Redactor().redact(text, counts) == expected
    assert set(counts) == {kind}


@pytest.mark.parametrize("text", LEFT_ALONE)
def test_leaves_lookalikes_alone(text):
    counts: Counter[str] = Counter()
    assert Redactor().redact(text, counts) == text
    assert not counts


def test_checksums():
    assert luhn_ok("4111111111111111") and not luhn_ok("4111111111111112")
    assert iban_ok("DE89370400440532013000") and not iban_ok("DE89370400440532013001")


def test_user_patterns_get_their_own_placeholder():
    r = Redactor({"employee_id": r"EMP-\d{5}"})
    counts: Counter[str] = Counter()
    assert r.redact("ask EMP-12345 or EMP-99999", counts) == "ask <EMPLOYEE_ID> or <EMPLOYEE_ID>"
    assert counts == {"EMPLOYEE_ID": 2}


def test_bad_user_pattern_is_a_config_error():
    from anytune.errors import ConfigError

    with pytest.raises(ConfigError, match="pii_patterns.broken"):
        DataOptions(train="x.jsonl", pii_patterns={"broken": "(unclosed"})


# Text that cannot hold PII: no digits, no @, no colon.
clean_text = st.text(st.characters(blacklist_characters="0123456789@:", blacklist_categories=("Cs", "Nd")))


@given(clean_text)
def test_clean_text_passes_through_unchanged(text):
    r = Redactor()
    assert r.redact(text) is text
    assert not r.counts


@given(st.text(), st.text())
@settings(max_examples=200)
def test_an_inserted_email_is_always_removed_and_redaction_is_idempotent(before, after):
    email = "someone.x@example.org"
    text = f"{before} {email} {after}"
    r = Redactor()
    out = r.redact(text)
    assert email not in out
    assert r.counts["EMAIL"] >= 1
    assert Redactor().redact(out) == out  # placeholders are never re-redacted


@given(st.lists(st.text(min_size=1).filter(str.strip), min_size=1, max_size=5))
def test_redaction_never_grows_a_clean_prefix(texts):
    # whatever the text, redaction only replaces spans by placeholders: untouched text is kept verbatim
    r = Redactor()
    for t in texts:
        out = r.redact(t)
        if out != t:
            assert "<" in out and ">" in out


def _records(n):
    return [{"messages": [{"role": "user", "content": f"Hello number {i}, how are you?"},
                          {"role": "assistant", "content": f"Fine, thanks ({i})."}]} for i in range(n)]


def test_clean_data_round_trips_unchanged(tmp_path):
    recs = _records(50)
    src = tmp_path / "clean.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in recs))
    p = prepare(DataOptions(train=str(src)), tmp_path / "out")
    assert p.redaction == {}
    out = [json.loads(line) for f in p.files.values() for line in f.read_text().splitlines()]
    assert sorted(map(json.dumps, out)) == sorted(map(json.dumps, recs))


def test_redaction_counts_by_type_and_keeps_pii_out_of_outputs_and_reports(tmp_path):
    recs = _records(20)
    recs[3]["messages"][0]["content"] = "Mail me at alice@example.com or call +1 (415) 555-0100"
    recs[7]["messages"][1]["content"] = "Pay to DE89 3704 0044 0532 0130 00 with card 4111 1111 1111 1111"
    src = tmp_path / "pii.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in recs))
    p = prepare(DataOptions(train=str(src)), tmp_path / "out")
    assert p.redaction == {"EMAIL": 1, "PHONE": 1, "IBAN": 1, "CREDIT_CARD": 1}
    everything = "".join(f.read_text() for f in p.directory.iterdir())
    for secret in ("alice@example.com", "555-0100", "3704 0044", "4111 1111"):
        assert secret not in everything
    assert "<EMAIL>" in everything and "<CREDIT_CARD>" in everything
    report = json.dumps(validate(DataOptions(train=str(src))).to_dict())
    assert "alice" not in report and "4111" not in report
    off = validate(DataOptions(train=str(src), pii="off"))
    assert off.redaction == {} and off.ok


@pytest.mark.parametrize("text, kind", [
    ("my SSN is 078-05-1120.", "US_SSN"), ("ssn 219 09 9999 on file", "US_SSN"),
    ("NI number AB 12 34 56 C", "UK_NINO"), ("nino JG103759A", "UK_NINO"),
    ("SIN 130-692-544", "CA_SIN"), ("DNI 12345678Z", "ES_DNI"), ("NIE X1234567L", "ES_DNI"),
])
def test_national_identifiers_are_redacted(text, kind):
    r = Redactor()
    out = r.redact(text)
    assert f"<{kind}>" in out and r.counts == {kind: 1}, out


@pytest.mark.parametrize("text", [
    "area 666-12-3456", "area 900-12-3456", "group 123-00-4567", "serial 123-45-0000",  # SSA never issues these
    "prefix GB 12 34 56 A", "Luhn fails 130-692-545", "letter 12345678A",
    "part 123-45-6789x", "ZIP 12345-6789", "build 2024-11-3001",
])
def test_national_identifier_lookalikes_are_kept(text):
    r = Redactor()
    assert r.redact(text) == text and not r.counts, r.counts


def test_every_builtin_type_is_described_for_the_docs():
    from anytune.data.pii import BUILTIN, DESCRIPTIONS

    assert set(DESCRIPTIONS) == set(BUILTIN)


@pytest.fixture(scope="module")
def ner_model(tmp_path_factory):
    pytest.importorskip("presidio_analyzer")
    from anytune.testing.tiny_ner import build_tiny_ner

    return build_tiny_ner(tmp_path_factory.mktemp("ner") / "model")


def test_presidio_engine_redacts_names_and_places_on_top_of_the_patterns(ner_model, tmp_path):
    src = tmp_path / "d.jsonl"
    src.write_text("".join(json.dumps({"prompt": p, "completion": "Restart it."}) + "\n" for p in [
        "Hello, Olga Tanaka here, my printer in Berlin is broken.", "Thanks, Grace Smith. Mail grace@example.com",
        "Reset the router please."] * 10))
    out = tmp_path / "out"
    prepared = prepare(DataOptions(train=str(src), pii_engine="presidio", pii_model=str(ner_model),
                                   split=(1.0, 0.0, 0.0)), out)
    text = (out / "train.jsonl").read_text()
    assert "Olga" not in text and "Tanaka" not in text and "Grace Smith" not in text and "Berlin" not in text
    assert "<PERSON>" in text and "<LOCATION>" in text and "<EMAIL>" in text
    assert "Reset the router please." in text
    assert prepared.redaction["PERSON"] == 20 and prepared.redaction["EMAIL"] == 10


def test_presidio_engine_without_its_model_is_one_clear_error(tmp_path):
    pytest.importorskip("presidio_analyzer")
    from anytune.errors import ConfigError

    src = tmp_path / "d.jsonl"
    src.write_text(json.dumps({"prompt": "hi", "completion": "yo"}) + "\n")
    with pytest.raises(ConfigError, match="spaCy pipeline 'en_core_web_lg' for PII names and places is not installed"):
        validate(DataOptions(train=str(src), pii_engine="presidio"))
