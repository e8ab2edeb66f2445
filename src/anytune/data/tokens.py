"""Token counts with the target model's tokenizer — without torch or transformers.

- Open models: the ``tokenizers`` library reads ``tokenizer.json`` from the local model folder (or from the
  Hugging Face cache when it is already there; nothing is downloaded). Each record is rendered exactly as
  the trainer renders it (:func:`anytune.data.template.render`), with the model's chat template from
  ``tokenizer_config.json``/``chat_template.jinja`` evaluated by jinja2 in a sandbox, as transformers does.
- OpenAI models (gpt-4o*, gpt-4.1*, o-series, gpt-3.5/4): the ``bpe-openai`` package, which ships the
  o200k_base and cl100k_base encodings inside its wheel, so it works offline (tiktoken downloads them at run
  time). Chat examples are counted with OpenAI's published per-message overhead.
- Anything else (a hub id not on disk): an approximate count (UTF-8 bytes / 4), labelled approximate.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .formats import Problem
from .template import preference_prompt

APPROX_BYTES_PER_TOKEN = 4
OPENAI_O200K = ("gpt-4o", "chatgpt-4o", "gpt-4.1", "gpt-4.5", "gpt-5", "o1", "o3", "o4")
OPENAI_CL100K = ("gpt-4", "gpt-3.5", "gpt-35", "babbage-002", "davinci-002")


@dataclass(frozen=True)
class TokenizerRef:
    """A picklable description of how to count tokens; workers build the counter from it."""

    kind: str  # "hf" | "openai" | "approx"
    name: str  # shown to people, stored in DataStats.tokenizer
    identity: str  # goes into the content hash
    path: str | None = None  # the model folder holding tokenizer.json (hf)
    encoding: str | None = None  # o200k_base / cl100k_base (openai)

    @property
    def approximate(self) -> bool:
        return self.kind == "approx"


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _hf_cache_snapshot(model_id: str) -> Path | None:
    """The cached snapshot of a hub model that holds tokenizer.json, if any (offline lookup only)."""
    if "/" not in model_id or model_id.count("/") > 1:
        return None
    hub = os.environ.get("HF_HUB_CACHE") or os.path.join(
        os.environ.get("HF_HOME") or os.path.join(Path.home(), ".cache", "huggingface"), "hub")
    repo = Path(hub) / ("models--" + model_id.replace("/", "--"))
    ref = repo / "refs" / "main"
    snapshots = [repo / "snapshots" / ref.read_text().strip()] if ref.is_file() else \
        sorted((repo / "snapshots").glob("*")) if (repo / "snapshots").is_dir() else []
    for snap in snapshots:
        if (snap / "tokenizer.json").is_file():
            return snap
    return None


def openai_encoding(model: str) -> str | None:
    name = model.lower().removeprefix("openai/")
    if name.startswith("ft:"):  # ft:gpt-4o-mini-2024-07-18:org::id
        name = name[3:]
    if name.startswith(OPENAI_O200K):
        return "o200k_base"
    if name.startswith(OPENAI_CL100K):
        return "cl100k_base"
    return None


def resolve(base_model: str | None) -> TokenizerRef:
    """How to count tokens for ``base_model`` (a local folder, a cached hub id, or an OpenAI model name)."""
    if base_model:
        folder = Path(base_model).expanduser()
        if not (folder / "tokenizer.json").is_file():
            folder = _hf_cache_snapshot(base_model) or folder
        if (folder / "tokenizer.json").is_file():
            template = _chat_template(folder)
            ident = hashlib.sha256(f"{_sha(folder / 'tokenizer.json')}|{template or ''}|"
                                   f"{json.dumps(_special_tokens(folder), sort_keys=True)}".encode()).hexdigest()
            return TokenizerRef("hf", f"tokenizer.json of {base_model} (sha256 {ident[:12]})", f"hf:{ident}",
                                path=str(folder))
        enc = openai_encoding(base_model)
        if enc:
            return TokenizerRef("openai", f"{enc} (bpe-openai, offline)", f"openai:{enc}", encoding=enc)
    what = f"no local tokenizer for {base_model!r}" if base_model else "no model given"
    return TokenizerRef("approx", f"approximate: UTF-8 bytes / {APPROX_BYTES_PER_TOKEN} ({what})",
                        f"approx:{APPROX_BYTES_PER_TOKEN}")


def _tokenizer_config(folder: Path) -> dict[str, Any]:
    p = folder / "tokenizer_config.json"
    try:
        return json.loads(p.read_text(encoding="utf-8")) if p.is_file() else {}
    except (OSError, ValueError):
        return {}


def _chat_template(folder: Path) -> str | None:
    jinja = folder / "chat_template.jinja"
    if jinja.is_file():
        return jinja.read_text(encoding="utf-8")
    tpl = _tokenizer_config(folder).get("chat_template")
    if isinstance(tpl, list):  # named templates: [{"name": "default", "template": "..."}]
        tpl = next((t.get("template") for t in tpl if isinstance(t, dict) and t.get("name") == "default"), None)
    return tpl if isinstance(tpl, str) and tpl else None


def _special_tokens(folder: Path) -> dict[str, str]:
    out = {}
    for key, value in _tokenizer_config(folder).items():
        if key.endswith("_token"):
            value = value.get("content") if isinstance(value, dict) else value
            if isinstance(value, str):
                out[key] = value
    return out


class _TemplateTokenizer:
    """Duck-types the bits of a transformers tokenizer that ``template.render`` uses."""

    def __init__(self, folder: Path):
        self.chat_template = _chat_template(folder)
        self.special = _special_tokens(folder)
        self.eos_token = self.special.get("eos_token")
        self._compiled = None
        if self.chat_template:
            try:
                import jinja2  # noqa: F401
            except ImportError:
                from ..errors import DataError

                raise DataError(f"{folder}: rendering the model's chat template to count tokens needs jinja2",
                                hint="pip install jinja2") from None

    def apply_chat_template(self, messages, tokenize=False, add_generation_prompt=False, **_):
        if self._compiled is None:
            self._compiled = _compile(self.chat_template)
        return self._compiled.render(messages=messages, add_generation_prompt=add_generation_prompt,
                                     tools=None, documents=None, **self.special)


def _compile(source: str):
    """Compile a chat template the way transformers does (sandboxed jinja2, same helpers)."""
    import datetime

    import jinja2
    from jinja2.ext import Extension, loopcontrols
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    class Generation(Extension):  # `{% generation %}` blocks only mark assistant text; render their body
        tags = {"generation"}

        def parse(self, parser):
            lineno = next(parser.stream).lineno
            body = parser.parse_statements(["name:endgeneration"], drop_needle=True)
            return jinja2.nodes.Scope(body).set_lineno(lineno)

    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[Generation, loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = lambda fmt: datetime.datetime.now().strftime(fmt)
    return env.from_string(source)


class Counter:
    """Counts tokens of canonical records. Build once per process with :meth:`for_ref`."""

    def __init__(self, ref: TokenizerRef):
        self.ref = ref
        self._tok = self._enc = self._render_tok = None
        if ref.kind == "hf":
            from tokenizers import Tokenizer

            self._tok = Tokenizer.from_file(str(Path(ref.path) / "tokenizer.json"))
            self._render_tok = _TemplateTokenizer(Path(ref.path))
        elif ref.kind == "openai":
            import warnings

            with warnings.catch_warnings():  # bpe_openai loads its bundled ranks with a deprecated importlib call
                warnings.simplefilter("ignore", DeprecationWarning)
                import bpe_openai

                self._enc = bpe_openai.get_encoding(ref.encoding)
                self._enc.encode_ordinary("warm up")  # loads the ranks now, inside the filter

    def count(self, records: list[dict[str, Any]]) -> list[int | Problem]:
        """Tokens per record as trained (before truncation); a :class:`Problem` where the record cannot be
        rendered (e.g. the model's chat template rejects a system message)."""
        if self.ref.kind == "openai":
            return [self._openai(r) for r in records]
        if self.ref.kind == "approx":
            return [self._approx(r) for r in records]
        texts: list[str] = []
        slots: list[int | Problem] = []
        for r in records:
            try:
                texts.append(self._hf_text(r))
                slots.append(len(texts) - 1)
            except Problem as p:
                slots.append(p)
        encoded = self._tok.encode_batch(texts, add_special_tokens=False) if texts else []
        return [s if isinstance(s, Problem) else len(encoded[s].ids) for s in slots]

    def _hf_text(self, r: dict[str, Any]) -> str:
        if "chosen" in r:  # preference: the longer of the two sequences the trainer would see
            return preference_prompt(r)[1] + max(r["chosen"], r["rejected"], key=len)
        from ..errors import DataError
        from .template import render

        try:
            prompt, completion = render(r, self._render_tok)
        except DataError as exc:
            raise Problem("template", str(exc), "messages") from None
        except Exception as exc:  # a chat template's raise_exception, or a template bug
            raise Problem("template", f"the model's chat template rejects this example: {str(exc)[:200]}",
                          "messages", "change the roles/order to what the model's template accepts") from None
        return prompt + completion

    def _openai(self, r: dict[str, Any]) -> int:
        enc = self._enc.encode_ordinary
        if "messages" in r:  # OpenAI's count: 3 per message + role + content (+1 per name), +3 to prime the reply
            n = 3
            for m in r["messages"]:
                n += 3 + len(enc(m["role"])) + len(enc(m["content"]))
                if "name" in m:
                    n += 1 + len(enc(m["name"]))
            return n
        if "chosen" in r:
            return len(enc(preference_prompt(r)[1])) + max(len(enc(r["chosen"])), len(enc(r["rejected"])))
        return sum(len(enc(v)) for v in r.values() if isinstance(v, str))

    @staticmethod
    def _approx(r: dict[str, Any]) -> int:
        if "messages" in r:
            return sum(4 + len(m["content"].encode("utf-8", "surrogatepass")) // APPROX_BYTES_PER_TOKEN
                       for m in r["messages"]) + 2
        if "chosen" in r:
            size = len(preference_prompt(r)[1]) + max(len(r["chosen"]), len(r["rejected"]))
            return size // APPROX_BYTES_PER_TOKEN + 2
        return sum(len(v.encode("utf-8", "surrogatepass")) for v in r.values()) // APPROX_BYTES_PER_TOKEN + 2
