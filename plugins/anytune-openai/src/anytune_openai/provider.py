"""OpenAI fine-tuning (and Azure OpenAI, and any OpenAI-compatible endpoint such as ``anytune serve``).

Files go up with ``files.create(purpose="fine-tune")``; the job is ``fine_tuning.jobs.create`` with a
``method`` (supervised, or dpo for preference data) and the anytune job id in its ``metadata``; status,
events, cancel and checkpoints are the same API. The result is a model id at the provider: weights
cannot be downloaded.

Hyperparameters sent (``method.<type>.hyperparameters``), from the job spec:

- ``n_epochs``: ``hyperparameters.epochs`` rounded up (1..50) when the spec sets it, else "auto";
- ``batch_size``: ``batch_size × gradient_accumulation`` (1..256) when the spec sets either, else "auto";
- ``learning_rate_multiplier``: only from ``provider_options.openai.learning_rate_multiplier``: OpenAI
  does not publish the base rate it multiplies, so the spec's absolute ``learning_rate`` cannot be
  translated honestly;
- ``beta`` (dpo): from ``provider_options.openai.beta``.
``spec.method`` (full/lora/qlora) does not apply: OpenAI decides how it trains.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from decimal import Decimal
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from anytune import paths
from anytune.artifacts import describe_files
from anytune.errors import NotFound
from anytune.openai_errors import translate
from anytune.provider import Capability, Provider, ProviderOptions, require_succeeded
from anytune.types import DataRef, JobHandle, JobState, JobStatus, LogChunk, ModelArtifact, Readiness

from . import _sdk

PRICING = Path(__file__).parent / "data" / "pricing.json"
DEFAULT_MODEL = "gpt-4.1-mini"
OPENAI_URL = "https://api.openai.com/v1"
NO_WEIGHTS = ("weights cannot be downloaded from this provider: the model stays at the endpoint; "
              "call it by its model id")


def _ts(t: int | None) -> dt.datetime | None:
    return dt.datetime.fromtimestamp(t, dt.UTC) if t else None


class OpenAIOptions(ProviderOptions):
    api: Literal["openai", "azure"] = Field("openai", description="'azure' uses the SDK's AzureOpenAI client.")
    base_url: str | None = Field(None, description="An OpenAI-compatible endpoint (e.g. `anytune serve`'s "
                                 "http://host:8000/v1), or the Azure OpenAI endpoint.")
    api_key_env: str | None = Field(None, pattern=r"^[A-Z_][A-Z0-9_]*$", description="NAME of the environment "
                                    "variable holding the key (default OPENAI_API_KEY / AZURE_OPENAI_API_KEY); "
                                    "never the key itself.")
    api_version: str | None = Field(None, description="Azure OpenAI API version (else $OPENAI_API_VERSION).")
    organization: str | None = None
    project: str | None = None
    model: str | None = Field(None, description="Model to fine-tune; default: the spec's base_model when the "
                              f"endpoint offers it, else {DEFAULT_MODEL}.")
    suffix: str | None = Field(None, max_length=64, description="Added to the fine-tuned model's name.")
    seed: int | None = Field(None, description="Default: hyperparameters.seed.")
    learning_rate_multiplier: float | None = Field(None, gt=0, le=10)
    beta: float | None = Field(None, gt=0, le=2, description="DPO beta.")
    price_per_million_tokens: Decimal | None = Field(None, ge=0, description="Training price for an endpoint "
                                                     "or model the shipped catalog does not list.")
    timeout: float = Field(60, gt=0)
    max_retries: int = Field(2, ge=0, le=10)


class OpenAIProvider(Provider):
    name = "openai"
    sdk_modules = ("openai",)
    description = "OpenAI fine-tuning API (also Azure OpenAI and OpenAI-compatible endpoints like anytune serve)"
    unsupported = {
        Capability.INIT_ADAPTER: "OpenAI continues only from its own fine-tuned models "
                                 "(provider_options.openai.model: ft:…), not from an adapter folder",
        Capability.DOWNLOAD_WEIGHTS: "the weights stay at OpenAI: you get a model id it serves",
    }
    ignored = {
        Capability.SPOT: "OpenAI prices fine-tuning per token; there is no spot tier",
        Capability.MULTI_GPU: "OpenAI chooses the hardware",
        Capability.MULTI_NODE: "OpenAI chooses the hardware",
        Capability.FULL: "OpenAI decides how it trains; the method is not sent",
        Capability.LORA: "OpenAI decides how it trains; the method is not sent",
        Capability.QLORA: "OpenAI decides how it trains; the method is not sent",
    }
    Options = OpenAIOptions
    STATE_MAP = {
        "validating_files": JobState.QUEUED,
        "queued": JobState.QUEUED,
        "running": JobState.RUNNING,
        "pausing": JobState.RUNNING,
        "paused": JobState.STOPPING,
        "succeeded": JobState.SUCCEEDED,
        "failed": JobState.FAILED,
        "cancelled": JobState.CANCELLED,
    }
    notes = ("data leaves your network",
             "weights not downloadable: you get a model id served by the provider",
             "OpenAI is retiring self-serve fine-tuning (dates in the price catalog)")
    poll_interval = 20.0
    min_examples = 10  # OpenAI refuses smaller training files (the data pipeline checks it up front)

    options: OpenAIOptions

    def __init__(self, options=None):
        super().__init__(options)
        self._client = None
        self._kinds: dict[str, str] = {}  # content hash -> converted kind, from upload() for launch()

    # --- helpers ----------------------------------------------------------------------------------

    @property
    def client(self):
        if self._client is None:
            self._client = _sdk.client(self.options)
        return self._client

    @property
    def custom_endpoint(self) -> bool:
        return bool(self.options.base_url) and self.options.api == "openai"

    @property
    def endpoint(self) -> str:
        return self.options.base_url or ("$AZURE_OPENAI_ENDPOINT" if self.options.api == "azure" else OPENAI_URL)

    @cached_property
    def catalog(self):
        from anytune.estimation import load_catalog

        return load_catalog(PRICING, provider=self.name)

    def model_for(self, spec) -> tuple[str, str]:
        """The model to fine-tune and, when it is not the spec's base_model, why."""
        if self.custom_endpoint:  # the endpoint's own model names, as given
            return self.options.model or spec.base_model, ""
        name, why = self.options.model or spec.base_model, ""
        if self.catalog.model(name) is None and not self.options.model:
            name, why = DEFAULT_MODEL, (f"base_model {spec.base_model!r} is not an OpenAI model: fine-tuning "
                                        f"{DEFAULT_MODEL} instead (set provider_options.openai.model to choose)")
        entry = self.catalog.model(name)
        return (entry.name if entry else name), why  # OpenAI fine-tunes dated snapshots: send the snapshot name

    def _priced_catalog(self, model: str, spec):
        """The shipped catalog, plus this model at the configured price (or at an unknown, zero price on a
        custom endpoint); OpenAI's retirement dates apply to OpenAI's own API only."""
        from anytune.estimation.pricing import Price, TokenModel

        cat = self.catalog
        data = cat.data
        if self.options.base_url or self.options.api == "azure":
            data = data.model_copy(update={"sunsets": []})
        known = cat.model(model)
        price = self.options.price_per_million_tokens
        if price is not None or (known is None and self.custom_endpoint):
            source = ("provider_options.openai.price_per_million_tokens" if price is not None
                      else f"unknown: {self.endpoint} is not OpenAI; set provider_options.openai.price_per_million_tokens")
            entry = TokenModel(name=model, context=known.context if known else spec.hyperparameters.max_seq_length,
                               encoding=known.encoding if known else "o200k_base",
                               prices={"global": Price(on_demand=price or Decimal(0), source=source,
                                                       as_of=dt.date.today(), confidence="H" if price is not None else "L")})
            data = data.model_copy(update={"models": [entry, *(m for m in data.models if m.name != model)]})
        return type(cat)(data=data, region=cat.region, sources=cat.sources)

    def _store_key(self) -> str:
        """Uploads are remembered per endpoint and account: a file id is only valid where it was made."""
        who = "/".join(x for x in (self.endpoint, self.options.organization, self.options.project) if x)
        return f"openai:{who}"

    # --- verbs ------------------------------------------------------------------------------------

    def check(self, spec) -> Readiness:
        from anytune.estimation import pricing

        if not _sdk.available():
            return Readiness(ready=False, reason=f"the openai package is not installed; {_sdk.INSTALL_HINT}")
        if not _sdk.has_credentials(self.options):
            return Readiness(ready=False, reason=f"no API key: set ${_sdk.key_env(self.options)}")
        if spec.data.format == "text":
            return Readiness(ready=False, reason="OpenAI fine-tuning takes chat, prompt/completion or preference "
                                                 "data, not plain text")
        model, _ = self.model_for(spec)
        if not self.custom_endpoint and self.options.api == "openai":
            if self.catalog.model(model) is None:
                known = ", ".join(m.name for m in self.catalog.data.models)
                return Readiness(ready=False, reason=f"{model} is not fine-tunable at OpenAI (fine-tunable: {known})")
            closed = [s for s in self.catalog.sunsets_for(model) if s.blocks_all_new_jobs and s.date <= pricing.today()]
            if closed:
                return Readiness(ready=False, reason=f"{closed[0].what} since {closed[0].date.isoformat()}")
        return Readiness(ready=True, reason=f"{model} at {self.endpoint}", details={"model": model})

    def estimate(self, spec, stats):
        from anytune.estimation import plan_tokens

        model, why = self.model_for(spec)
        est = plan_tokens(spec.model_copy(update={"base_model": model}), stats, self._priced_catalog(model, spec),
                          provider=self.name, notes=self.notes)
        extra = tuple(x for x in (why, self.learning_rate_note(spec)) if x)  # shown under compare's table too
        return est.model_copy(update={"assumptions": est.assumptions + extra, "notes": est.notes + extra,
                                      "warnings": extra, "substitute": model if why else ""})

    def learning_rate_note(self, spec) -> str:
        """Why the spec's learning rate is not sent: the API takes only a multiplier of its own default."""
        if "learning_rate" not in spec.hyperparameters.model_fields_set or self.options.learning_rate_multiplier:
            return ""
        return (f"hyperparameters.learning_rate {spec.hyperparameters.learning_rate:g} is not sent: OpenAI's API takes "
                "only learning_rate_multiplier, a factor on its own unpublished default rate, so no absolute rate "
                "maps onto it; set provider_options.openai.learning_rate_multiplier (e.g. 0.5 for a smaller step)")

    def upload(self, spec, data) -> DataRef:
        from anytune.store import JobStore

        from . import _data

        model, _ = self.model_for(spec)
        out = paths.home() / "openai" / "files" / data.content_hash
        converted = _data.convert(spec, data, out, model=model, catalog=self._priced_catalog(model, spec))
        self._kinds[data.content_hash] = converted.kind
        store, key = JobStore(), self._store_key()
        uris, sent = {}, 0
        for split, path in converted.files.items():
            digest = converted.sha256[split]
            file_id = self._reuse(store.find_upload(key, digest))
            if file_id is None:
                with translate("upload"), open(path, "rb") as fh:
                    made = self.client.files.create(file=(f"anytune-{digest[:16]}-{split}.jsonl", fh),
                                                    purpose="fine-tune")
                file_id, sent = made.id, sent + path.stat().st_size
                store.record_upload(key, digest, json.dumps({"file_id": file_id, "kind": converted.kind}))
            uris[split] = file_id
        return DataRef(provider=self.name, content_hash=data.content_hash, uris=uris, bytes_sent=sent)

    def _reuse(self, ref_json: str | None) -> str | None:
        """The file id of an earlier identical upload, if the endpoint still has it."""
        if not ref_json:
            return None
        file_id = json.loads(ref_json)["file_id"]
        try:
            with translate("upload"):
                self.client.files.retrieve(file_id)
        except NotFound:
            return None
        return file_id

    def body(self, spec, data: DataRef, job_id: str) -> dict[str, Any]:
        """The ``fine_tuning.jobs.create`` request for this spec (also what ``--dry-run`` shows)."""
        model, _ = self.model_for(spec)
        kind = self._kinds.get(data.content_hash) or ("preference" if spec.data.format == "preference" else "chat")
        method = "dpo" if kind == "preference" else "supervised"
        hp = spec.hyperparameters
        given = hp.model_fields_set
        params: dict[str, Any] = {}
        if "epochs" in given:
            params["n_epochs"] = max(1, min(50, math.ceil(hp.epochs)))
        if given & {"batch_size", "gradient_accumulation"}:
            params["batch_size"] = max(1, min(256, hp.batch_size * hp.gradient_accumulation))
        if self.options.learning_rate_multiplier is not None:
            params["learning_rate_multiplier"] = self.options.learning_rate_multiplier
        if method == "dpo" and self.options.beta is not None:
            params["beta"] = self.options.beta
        body: dict[str, Any] = {
            "model": model,
            "training_file": data.uris["train"],
            "method": {"type": method, method: {"hyperparameters": params}} if params else {"type": method},
            "suffix": self.options.suffix or re.sub(r"[^A-Za-z0-9_-]", "-", spec.name)[:64],
            "seed": self.options.seed if self.options.seed is not None else hp.seed,
            "metadata": {"anytune_job_id": job_id},
        }
        if "validation" in data.uris:
            body["validation_file"] = data.uris["validation"]
        return body

    def dry_run(self, spec, data, job_id, plan=None):
        return self.body(spec, data, job_id)

    def _find(self, job_id: str):
        """Our job, if an earlier launch already made it (looked up by the anytune job id in metadata)."""
        with translate("launch"):
            page = self.client.fine_tuning.jobs.list(metadata={"anytune_job_id": job_id}, limit=100)
            for job in page.data:  # one page: the filter (or, where unsupported, the newest 100) is enough
                if (job.metadata or {}).get("anytune_job_id") == job_id:
                    return job
        return None

    def launch(self, spec, data, job_id, plan=None) -> JobHandle:
        """Create the job once: the SDK sends no idempotency key and would repeat a create whose answer was
        lost (a second, paid job), so the create goes out without the SDK's retries and a failed answer is
        followed by a look-up by the job id in metadata before it is sent again (``create_once``)."""
        from anytune.cloud.retry import RetryPolicy, create_once

        job = self._find(job_id)
        if job is None:
            body = self.body(spec, data, job_id)

            def create():
                with translate("launch"):
                    return self.client.with_options(max_retries=0).fine_tuning.jobs.create(**body)

            policy = RetryPolicy(attempts=self.options.max_retries + 1, initial_backoff_s=0.5, max_backoff_s=8)
            job = create_once(create, lambda: self._find(job_id), policy, what=f"the fine-tuning job for {job_id}",
                              provider=self.name)
        return self._handle(job_id, job)

    def find(self, spec, job_id) -> JobHandle | None:
        job = self._find(job_id)
        return None if job is None else self._handle(job_id, job)

    def _handle(self, job_id: str, job) -> JobHandle:
        return JobHandle(provider=self.name, job_id=job_id, remote_id=job.id,
                         extra={"model": job.model, "endpoint": self.endpoint})

    def _job(self, handle: JobHandle, operation: str):
        with translate(operation):
            return self.client.fine_tuning.jobs.retrieve(handle.remote_id)

    def status(self, handle) -> JobStatus:
        job = self._job(handle, "status")
        return JobStatus(state=self.map_state(job.status), raw_state=job.status,
                         message=job.error.message if job.error else (job.fine_tuned_model or ""),
                         metrics={"trained_tokens": float(job.trained_tokens)} if job.trained_tokens else {},
                         started_at=_ts(job.created_at), ended_at=_ts(job.finished_at))

    def logs(self, handle, cursor: str = "") -> LogChunk:
        """Events newer than ``cursor`` (an event id), oldest first. The API lists newest first, so page
        back until the cursor's event."""
        new = []
        with translate("logs"):
            for event in self.client.fine_tuning.jobs.list_events(handle.remote_id, limit=100):
                if event.id == cursor:
                    break
                new.append(event)
        if not new:
            return LogChunk(lines=(), cursor=cursor)
        lines = tuple(f"{dt.datetime.fromtimestamp(e.created_at, dt.UTC):%Y-%m-%d %H:%M:%S} "
                      f"[{e.level}] {e.message}" for e in reversed(new))
        return LogChunk(lines=lines, cursor=new[0].id)

    def cancel(self, handle) -> None:
        job = self._job(handle, "cancel")
        if self.map_state(job.status).terminal:
            return
        with translate("cancel"):
            self.client.fine_tuning.jobs.cancel(handle.remote_id)

    def chat_engine(self, model_id: str, label: str | None = None):
        """The fine-tuned (or base) model through ``chat.completions`` with this provider's client."""
        from anytune.inference.remote import ChatAPIEngine

        return ChatAPIEngine(model_id, self.client, label=label, where=self.name)

    def retrieve(self, handle, dest: Path) -> ModelArtifact:
        job = self._job(handle, "retrieve")
        message = job.error.message if job.error and job.error.message else ""
        require_succeeded(JobStatus(state=self.map_state(job.status), raw_state=job.status, message=message),
                          f"job {handle.remote_id}")
        dest = Path(dest)
        dest.mkdir(parents=True, exist_ok=True)
        results = []
        with translate("retrieve"):
            for file_id in job.result_files:
                meta = self.client.files.retrieve(file_id)
                name = re.sub(r"[^A-Za-z0-9._-]", "_", Path(meta.filename or file_id).name) or file_id
                (dest / f"{file_id}-{name}").write_bytes(self.client.files.content(file_id).read())
                results.append(f"{file_id}-{name}")
            checkpoints = [c.model_dump(mode="json") for c in
                           self.client.fine_tuning.jobs.checkpoints.list(handle.remote_id, limit=100)]
        (dest / "checkpoints.json").write_text(json.dumps(checkpoints, indent=1))
        (dest / "model.json").write_text(json.dumps({
            "fine_tuned_model": job.fine_tuned_model, "base_model": job.model, "job": job.id,
            "endpoint": self.endpoint, "trained_tokens": job.trained_tokens, "result_files": results,
            "note": NO_WEIGHTS}, indent=1))
        return ModelArtifact(kind="remote", path=str(dest), remote_model_id=job.fine_tuned_model,
                             files=describe_files(dest), notes=(NO_WEIGHTS,))


__all__ = ["OpenAIOptions", "OpenAIProvider"]
