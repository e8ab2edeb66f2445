"""Names and places: Microsoft Presidio's analyzer over a spaCy NER pipeline, after the pattern redactor.

Opt in with ``data.pii_engine: presidio`` (``pip install 'anytune[presidio]'``) and a spaCy pipeline:
``data.pii_model`` is an installed package (default ``en_core_web_lg``: ``python -m spacy download
en_core_web_lg``) or a folder saved by ``nlp.to_disk``. ``<PERSON>`` replaces person names and
``<LOCATION>`` places and addresses (Presidio's LOCATION: spaCy's GPE, LOC and FAC). Every text goes through
the model, so this engine is far slower than the patterns; how much it catches is the model's accuracy.
"""

from __future__ import annotations

from collections import Counter

from ..errors import ConfigError
from ..optional import require
from .pii import Redactor

DEFAULT_MODEL = "en_core_web_lg"
ENTITIES = ("PERSON", "LOCATION")
MIN_SCORE = 0.5


def analyzer(model: str | None):
    """Presidio's AnalyzerEngine over the spaCy pipeline ``model``; one clear error if either is missing."""
    require("presidio_analyzer")
    require("spacy")
    import logging

    import spacy.util
    from presidio_analyzer import AnalyzerEngine
    from presidio_analyzer.nlp_engine import NlpEngineProvider

    name = model or DEFAULT_MODEL
    if not (spacy.util.is_package(name) or spacy.util.is_package(name.replace("-", "_"))
            or (spacy.util.ensure_path(name).exists() and (spacy.util.ensure_path(name) / "config.cfg").is_file())):
        raise ConfigError(f"the spaCy pipeline {name!r} for PII names and places is not installed",
                          [f"python -m spacy download {name}, or set data.pii_model to a folder saved by "
                           "spaCy (nlp.to_disk), or use data.pii_engine: patterns"])
    logging.getLogger("presidio-analyzer").setLevel(logging.ERROR)  # it warns about every unused recognizer
    provider = NlpEngineProvider(nlp_configuration={
        "nlp_engine_name": "spacy", "models": [{"lang_code": "en", "model_name": name}]})
    return AnalyzerEngine(nlp_engine=provider.create_engine(), supported_languages=["en"])


class NerRedactor(Redactor):
    """The pattern redactor, then Presidio for names and places on what is left."""

    def __init__(self, patterns=None, model: str | None = None):
        super().__init__(patterns)
        self.engine = analyzer(model)

    def could_contain(self, text: str) -> bool:
        return bool(text.strip())

    def could_contain_line(self, line: bytes) -> bool:
        return True

    def redact(self, text: str, counts: Counter[str] | None = None) -> str:
        counts = self.counts if counts is None else counts
        out = super().redact(text, counts)
        found = [r for r in self.engine.analyze(out, language="en", entities=list(ENTITIES))
                 if r.score >= MIN_SCORE]
        if not found:
            return out
        end, pieces = len(out), []
        for r in sorted(found, key=lambda r: r.start, reverse=True):
            if r.end > end or "<" in out[r.start:r.end]:  # overlaps a later match or a placeholder
                continue
            pieces.append(out[r.end:end])
            pieces.append(f"<{r.entity_type}>")
            counts[r.entity_type] += 1
            end = r.start
        pieces.append(out[:end])
        return "".join(reversed(pieces))
