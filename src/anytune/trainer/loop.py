"""The training run: load the model (full, LoRA or QLoRA), tokenize the splits, train with
``transformers.Trainer`` (gradient accumulation, bf16 where supported, per-epoch evaluation and
checkpoints, resume, a checkpoint when SIGTERM arrives), evaluate before and after, save the outputs."""

from __future__ import annotations

import dataclasses
import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..spec import JobSpec
from . import outputs
from .checks import check_spec
from .dataset import Collator, Flattening, read_jsonl, tokenize
from .platform import RunPaths, processes
from .status import StatusFile, Terminated

RUN_FILE = "anytune-run.json"  # in the checkpoints dir: which job the checkpoints belong to


def _dtype_keyword() -> str:
    """``from_pretrained``'s dtype argument: ``dtype`` since transformers 4.56, ``torch_dtype`` before."""
    import transformers

    major, minor = (int(x) for x in transformers.__version__.split(".")[:2])
    return "dtype" if (major, minor) >= (4, 56) else "torch_dtype"


def _load_model(spec: JobSpec, cuda: bool, bf16: bool, checkpointing: bool = False):
    import torch
    from transformers import AutoModelForCausalLM

    kwargs: dict[str, Any] = {}
    if spec.method == "qlora":
        from transformers import BitsAndBytesConfig

        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=torch.bfloat16 if bf16 else torch.float16)
        kwargs["device_map"] = {"": int(os.environ.get("LOCAL_RANK", 0))}
    elif spec.method == "lora" and bf16:
        kwargs[_dtype_keyword()] = torch.bfloat16  # frozen base weights in bf16; adapters stay fp32
    else:
        kwargs[_dtype_keyword()] = torch.float32  # trained weights: fp32 master copy, bf16 autocast on GPU
    model = AutoModelForCausalLM.from_pretrained(spec.base_model, **kwargs)
    if spec.method == "full" and not spec.init_adapter:
        return model
    from peft import LoraConfig, PeftModel, get_peft_model, prepare_model_for_kbit_training

    if spec.method == "full":  # continue a LoRA-tuned model with every weight: fold the adapter in first
        return PeftModel.from_pretrained(model, spec.init_adapter).merge_and_unload().requires_grad_(True)
    if spec.method == "qlora":  # peft turns checkpointing on by default: only where the run needs it
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=checkpointing)
    if spec.init_adapter:  # train the tuned adapter further, with the LoRA settings it was made with
        return PeftModel.from_pretrained(model, spec.init_adapter, is_trainable=True)
    lora = spec.hyperparameters.lora
    targets = lora.target_modules
    if targets == "auto":
        from peft.utils import TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING as defaults

        targets = defaults.get(model.config.model_type, "all-linear")
    config = LoraConfig(r=lora.r, lora_alpha=lora.alpha, lora_dropout=lora.dropout, target_modules=targets,
                        task_type="CAUSAL_LM")
    return get_peft_model(model, config)


SHARDED = ("fsdp", "deepspeed_zero3")  # strategies that split the weights across the processes


def _strategy(spec: JobSpec, cuda: bool) -> str | None:
    """ddp, fsdp or deepspeed_zero3 when this process is one of several (started by torchrun or accelerate),
    else None. auto: fsdp when the run does not fit one GPU by the estimate's memory model, else ddp."""
    if processes(os.environ)[1] < 2:
        return None
    if spec.method == "qlora" and spec.compute.strategy in SHARDED:
        raise ConfigError(f"compute.strategy: {spec.compute.strategy}: anytune's trainer does not shard QLoRA's "
                          "4-bit weights", ["use compute.strategy: ddp (each GPU holds the 4-bit model)",
                                            "or method: lora, sharded"])
    if spec.compute.strategy == "deepspeed_zero3":
        from importlib.util import find_spec

        if find_spec("deepspeed") is None:
            raise ConfigError("compute.strategy: deepspeed_zero3 needs DeepSpeed, which is not installed here",
                              ["pip install 'anytune[deepspeed]'", "or use compute.strategy: fsdp (GPUs) or ddp"])
    if spec.compute.strategy == "fsdp" and not cuda:
        raise ConfigError("compute.strategy: fsdp shards the model across GPUs (accelerate's FSDP runs on CUDA "
                          "devices only); these processes have none",
                          ["use compute.strategy: ddp (or auto) to train on several CPU processes"])
    if spec.compute.strategy != "auto":
        return spec.compute.strategy
    from ..estimation import memory_plan

    try:
        return "ddp" if not cuda or memory_plan(spec, _gpu_bytes(True)).fits else "fsdp"
    except ConfigError:  # model size unknown to the estimator
        return "ddp"


def _gpu_bytes(cuda: bool) -> float | None:
    import torch

    return torch.cuda.get_device_properties(torch.cuda.current_device()).total_memory if cuda else None


def _needs_checkpointing(spec: JobSpec, log: Callable[[str], None]) -> bool:
    """On a GPU, whether the run fits only with gradient checkpointing (the same memory model as the estimate)."""
    from ..estimation import memory_plan

    total = _gpu_bytes(True)
    try:
        fit = memory_plan(spec, total)
    except ConfigError:  # model size unknown to the estimator: train without
        return False
    if fit.checkpointing:
        log(f"gradient checkpointing on: {fit.reason or 'the run does not fit in GPU memory without it'}")
    return fit.checkpointing


# DeepSpeed ZeRO stage 3: weights, gradients and optimizer states sharded across the processes; "auto" takes
# the value of the Trainer's own argument; the full weights are gathered for the saved model.
ZERO3 = {"zero_optimization": {"stage": 3, "stage3_gather_16bit_weights_on_model_save": True},
         "train_micro_batch_size_per_gpu": "auto",
         "gradient_accumulation_steps": "auto", "gradient_clipping": "auto", "bf16": {"enabled": "auto"}}


def _training_args(spec: JobSpec, paths: RunPaths, cuda: bool, bf16: bool, steps_per_epoch: int,
                   checkpointing: bool = False, strategy: str | None = None) -> tuple[dict[str, Any], int]:
    """TrainingArguments' keywords for this run (DPO adds its own to the same), and the total steps."""
    from transformers import TrainingArguments

    hp = spec.hyperparameters
    total = max(1, int(steps_per_epoch * hp.epochs + 0.999))
    every = "steps" if hp.eval_steps else "epoch"
    kwargs: dict[str, Any] = dict(
        output_dir=str(paths.checkpoints), per_device_train_batch_size=hp.batch_size,
        per_device_eval_batch_size=hp.batch_size, gradient_accumulation_steps=hp.gradient_accumulation,
        num_train_epochs=hp.epochs, learning_rate=hp.learning_rate, weight_decay=hp.weight_decay,
        logging_steps=max(1, total // 20), logging_first_step=True, save_strategy=every, save_total_limit=2,
        eval_strategy=every if paths.validation else "no", report_to="none", disable_tqdm=True, seed=hp.seed,
        data_seed=hp.seed, bf16=bf16, use_cpu=not cuda, remove_unused_columns=False, label_names=["labels"],
        dataloader_num_workers=0, save_only_model=hp.checkpoint_weights_only, torch_compile=hp.compile,
        use_liger_kernel=hp.liger,
    )
    if hp.eval_steps:
        kwargs.update(eval_steps=hp.eval_steps, save_steps=hp.eval_steps)
    if strategy == "fsdp":  # accelerate's FSDP: every decoder layer its own shard unit, full weights saved
        import transformers

        # transformers 5: fsdp=True is FSDP2, full shard, wrapped per decoder layer (the string is deprecated)
        kwargs.update(fsdp=True if int(transformers.__version__.split(".")[0]) >= 5 else "full_shard auto_wrap")
    if strategy == "deepspeed_zero3":  # accelerate turns DeepSpeed off for use_cpu; on CPU it runs on gloo
        kwargs.update(deepspeed=ZERO3, use_cpu=False, **({} if cuda else {"accelerator_config": _deepspeed_on_cpu()}))
    fields = {f.name for f in dataclasses.fields(TrainingArguments)}
    if checkpointing:  # renamed activation_checkpointing in transformers 5
        name = "activation_checkpointing" if "activation_checkpointing" in fields else "gradient_checkpointing"
        kwargs.update({name: True, f"{name}_kwargs": {"use_reentrant": False}})
    if "warmup_ratio" in fields:  # transformers 4.x
        kwargs["warmup_ratio"] = hp.warmup_ratio
    else:  # transformers 5: a float below 1 is a ratio
        kwargs["warmup_steps"] = hp.warmup_ratio
    return kwargs, total


def _resume_point(paths: RunPaths, spec: JobSpec) -> tuple[str | None, dict[str, Any]]:
    """The latest checkpoint of this same job, and what the first run recorded (eval_loss_before)."""
    from .checkpoints import latest_complete

    record_path = paths.checkpoints / RUN_FILE
    if not paths.checkpoints.is_dir():
        return None, {}
    found = latest_complete(paths.checkpoints, remove_torn=True)  # a save cut short is not resumed from
    last = str(found) if found else None
    record = json.loads(record_path.read_text()) if record_path.exists() else {}
    # Same job id: the same job (a cloud attempt mounts an uploaded base model at another path, so the spec
    # it runs differs in base_model only); else the spec itself must be the same.
    job_id = os.environ.get("ANYTUNE_JOB_ID")
    same_job = bool(job_id) and record.get("job_id") == job_id
    if last and not same_job and record.get("spec_hash") not in (None, spec.spec_hash()):
        raise ConfigError(f"the checkpoints in {paths.checkpoints} belong to another job "
                          f"(spec {record.get('spec_hash')}, this one is {spec.spec_hash()})",
                          ["pass another --checkpoints folder, or delete that one to start over"])
    return last, record if last else {}


def _load_tokenizer(spec: JobSpec):
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(spec.base_model)
    except (OSError, ValueError) as exc:  # no such folder, not a Hub id, offline, gated, ...
        raise ConfigError(f"cannot load the base model {spec.base_model!r}: {exc}",
                          ["base_model must be a local model folder or a Hugging Face model id"]) from None
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def _read_splits(spec: JobSpec, paths: RunPaths, tokenizer, log: Callable[[str], None]) -> dict[str, Any]:
    """Each given split, tokenized as it trains (SFT examples, or DPO pairs)."""
    named = [(name, p) for name, p in (("train", paths.train), ("validation", paths.validation),
                                       ("test", paths.test)) if p]
    if spec.objective == "dpo":
        from . import dpo

        splits = {name: dpo.pairs(p, tokenizer) for name, p in named}
    else:
        max_len = spec.hyperparameters.max_seq_length
        splits = {name: tokenize(read_jsonl(p), tokenizer, max_len, source=str(p)) for name, p in named}
    for name, ds in splits.items():
        log(f"{name}: {len(ds)} examples, {ds.tokens} tokens ({ds.completion_tokens} trained on)"
            + (f", {ds.dropped} dropped: no completion left within max_seq_length" if ds.dropped else ""))
    return splits


def _make_trainer(spec: JobSpec, paths: RunPaths, model, tokenizer, splits: dict[str, Any], cuda: bool, bf16: bool,
                  status: StatusFile, log: Callable[[str], None], report_to: list[str] | None = None,
                  checkpointing: bool = False, strategy: str | None = None):
    """The transformers (or TRL, for DPO) trainer with anytune's callbacks; also returns the TensorBoard
    writer, the SIGTERM handler and the total step count."""
    import torch
    from transformers import PrinterCallback, Trainer, TrainingArguments

    from .callbacks import CheckpointOnSigterm, EpochEnd, MarkComplete, Progress, TensorBoard

    hp = spec.hyperparameters
    per_step = hp.batch_size * hp.gradient_accumulation * max(1, torch.cuda.device_count() if cuda else 1)
    kwargs, total_steps = _training_args(spec, paths, cuda, bf16, -(-len(splits["train"]) // per_step),
                                         checkpointing=checkpointing, strategy=strategy)
    kwargs["report_to"] = report_to or "none"
    board, stop = TensorBoard(paths.logs), CheckpointOnSigterm()
    callbacks = [Progress(status, log), board, stop, MarkComplete()] + ([EpochEnd()] if hp.eval_steps else [])
    if spec.objective == "dpo":
        from . import dpo

        trainer = dpo.trainer(model, tokenizer, kwargs, spec, splits, callbacks)
    else:
        from ..estimation.setup import trainer_setup

        vocab = model.get_output_embeddings().weight
        setup = trainer_setup(spec, vocab=getattr(vocab, "ds_shape", vocab.shape)[0], gpu_bytes=_gpu_bytes(cuda))
        cls = Trainer
        if setup.loss == "chunked":
            from .losses import trainer_class

            if processes(os.environ)[1] > 1:
                raise ConfigError("hyperparameters.loss: chunked trains on one GPU only for now",
                                  ["set loss: auto (or full) to train on several GPUs"])

            cls = trainer_class()
        collator = Flattening() if setup.packing else Collator(tokenizer.pad_token_id, 8 if cuda else 1)
        log(f"trainer: {setup.describe()}")
        if setup.packing and cuda:
            log("packing: attention runs over each packed row (SDPA; the mask keeps examples apart): far less "
                "memory, but slower than padded batches on a GPU (0.65x the tokens/s on an H200, 0.6B LoRA; "
                "docs/estimation.md)")
        trainer = cls(model=model, args=TrainingArguments(**kwargs), train_dataset=splits["train"],
                      eval_dataset=splits.get("validation"), processing_class=tokenizer, callbacks=callbacks,
                      data_collator=collator)
    trainer.remove_callback(PrinterCallback)  # Progress prints the lines we want
    enabled = {"fsdp": "is_fsdp_enabled", "deepspeed_zero3": "is_deepspeed_enabled"}.get(strategy or "")
    if enabled and not getattr(trainer, enabled, False):
        raise ConfigError(f"compute.strategy: {strategy} was asked for but accelerate did not enable it here",
                          ["check the accelerate, deepspeed and torch versions, or use compute.strategy: ddp"])
    return trainer, board, stop, total_steps


def _zero3_before_loading(spec: JobSpec, paths: RunPaths, cuda: bool, bf16: bool, strategy: str | None):
    """ZeRO-3: the Trainer's DeepSpeed config, in place before the model loads, makes ``from_pretrained``
    build it under ``deepspeed.zero.Init``, so each process holds only its share of the weights from the start
    (a model larger than one device's memory loads at all). Returns the arguments that hold the config
    (transformers keeps only a weak reference), or None. A full fine-tune from a LoRA-tuned model folds the
    adapter into whole weights, so it loads whole. (FSDP loads the whole model in every process's host
    memory, and shards it when accelerate wraps it.)"""
    if strategy != "deepspeed_zero3" or (spec.method == "full" and spec.init_adapter):
        return None
    from transformers import TrainingArguments

    return TrainingArguments(**_training_args(spec, paths, cuda, bf16, 1, strategy=strategy)[0])


def _count(model, trained: bool = False) -> int:
    """The model's parameters (or its trained ones), counting those ZeRO-3 partitioned (`ds_numel`) whole."""
    return sum(getattr(p, "ds_numel", p.numel()) for p in model.parameters() if p.requires_grad or not trained)


def _held(model) -> int:
    """The parameter elements this process holds (its ZeRO-3 partitions)."""
    return sum(p.ds_tensor.numel() if hasattr(p, "ds_tensor") else p.numel() for p in model.parameters())


def _deepspeed_on_cpu() -> dict[str, Any]:
    """DeepSpeed on CPU processes (gloo): Transformers starts accelerate's state for DeepSpeed without a
    backend, which on a machine without GPUs leaves it counting one process; so it is started here, on gloo,
    and the Trainer told to use it."""
    from accelerate.state import PartialState

    os.environ["ACCELERATE_USE_DEEPSPEED"] = "true"
    try:
        PartialState(backend="gloo")
    finally:
        del os.environ["ACCELERATE_USE_DEEPSPEED"]
    return {"use_configured_state": True}


def _held_out_after(trainer, splits: dict[str, Any], evals: list[dict], status: StatusFile) -> dict[str, float]:
    """Validation loss after training (the last in-training evaluation when it was at the last step) and
    test loss."""
    out = {}
    if "validation" in splits:
        if evals and evals[-1].get("step") == trainer.state.global_step:
            out["eval_loss_after"] = evals[-1]["eval_loss"]
        else:
            status.update(state="evaluating")
            out["eval_loss_after"] = trainer.evaluate()["eval_loss"]
    if "test" in splits:
        status.update(state="evaluating")
        test = getattr(splits["test"], "dataset", splits["test"])  # DPO pairs wrap a datasets.Dataset
        out["test_loss"] = trainer.evaluate(test, metric_key_prefix="test")["test_loss"]
    return out


def _run_metrics(spec: JobSpec, result, state, splits: dict[str, Any], resume: str | None,
                 evals: list[dict]) -> dict[str, Any]:
    """Steps, losses, the loss curve and throughput of this session (a resumed run counts from its checkpoint)."""
    hp = spec.hyperparameters
    runtime = result.metrics.get("train_runtime") or 0.0
    start_step = int(Path(resume).name.rsplit("-", 1)[-1]) if resume else 0
    tokens_per_step = splits["train"].tokens * hp.epochs / max(1, state.max_steps)
    trained_tokens = tokens_per_step * (state.global_step - start_step)  # non-padding tokens, this session
    metrics = {
        "total_steps": state.max_steps, "steps": state.global_step, "epochs": hp.epochs,
        "train_loss": result.training_loss, "train_runtime_s": round(runtime, 3),
        "tokens_per_second": round(trained_tokens / runtime, 1) if runtime else None,
        "train": [{k: e[k] for k in ("step", "epoch", "loss", "learning_rate", "grad_norm") if k in e}
                  for e in state.log_history if "loss" in e],
        "eval": [{k: e[k] for k in ("step", "epoch", "eval_loss") if k in e} for e in evals],
    }
    if spec.objective == "dpo" and evals:  # how often the tuned model prefers the chosen answer, held out
        last = evals[-1]
        metrics["dpo"] = {k: last[f"eval_rewards/{k}"] for k in ("accuracies", "margins") if f"eval_rewards/{k}" in last}
    return metrics


def run(spec: JobSpec, paths: RunPaths, *, log: Callable[[str], None] = print,
        status: StatusFile | None = None) -> dict[str, Any]:
    """Train ``spec`` on ``paths``; returns the metrics written to metrics.json."""
    import torch
    from transformers.utils import logging as hf_logging

    from .evaluate import require_metrics

    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_warning()
    cuda = torch.cuda.is_available()
    problem = check_spec(spec, cuda=cuda)
    if problem:
        raise ConfigError(problem)
    require_metrics(spec)
    bf16 = cuda and torch.cuda.is_bf16_supported()
    status = status or StatusFile(paths.status)
    status.update(state="loading")
    started = time.time()

    resume, record = _resume_point(paths, spec)
    outputs.check_output_dir(paths.output, resuming=resume is not None)
    tokenizer = _load_tokenizer(spec)
    splits = _read_splits(spec, paths, tokenizer, log)
    from transformers import set_seed

    set_seed(spec.hyperparameters.seed)  # before the model: a LoRA adapter's random init is part of the run
    strategy = _strategy(spec, cuda)
    checkpointing = cuda and strategy not in SHARDED and _needs_checkpointing(spec, log)
    zero3_args = _zero3_before_loading(spec, paths, cuda, bf16, strategy)  # kept until the Trainer has its own
    model = _load_model(spec, cuda, bf16, checkpointing)
    if zero3_args is not None:
        log(f"model loaded under DeepSpeed's zero.Init: this process holds {_held(model):,} of its "
            f"{_count(model):,} parameters")
    from .tracking import Trackers

    trackers = Trackers(spec, os.environ.get("ANYTUNE_JOB_ID") or spec.name, paths.logs)
    if processes(os.environ)[0] == 0:
        tracked = trackers.start(log)
        if tracked:
            log("tracking: " + ", ".join(f"{k} {v}" for k, v in tracked.items()))
    try:
        metrics = _train(spec, paths, model, tokenizer, splits, cuda, bf16, status, log, trackers, started, resume,
                         record, checkpointing, strategy)
    except BaseException:
        trackers.fail()
        raise
    trackers.finish(metrics)
    return metrics


def _train(spec, paths, model, tokenizer, splits, cuda, bf16, status, log, trackers, started, resume, record,
           checkpointing, strategy):
    """Evaluate before, train, evaluate after, save: the body of :func:`run`, inside its trackers' runs."""
    trainable, total_params = _count(model, trained=True), _count(model)
    log(f"model {spec.base_model}" + (f" + adapter {spec.init_adapter}" if spec.init_adapter else "")
        + f": {spec.method}, {trainable:,} of {total_params:,} parameters trained, "
        f"device {'cuda' if cuda else 'cpu'}{', bf16' if bf16 else ''}")
    trainer, board, stop, total_steps = _make_trainer(spec, paths, model, tokenizer, splits, cuda, bf16, status, log,
                                                      trackers.report_to, checkpointing, strategy)
    main = trainer.is_world_process_zero()

    metrics: dict[str, Any] = {"base_model": spec.base_model, "init_adapter": spec.init_adapter, "method": spec.method,
                               "objective": spec.objective, "device": "cuda" if cuda else "cpu",
                               "bf16": bf16, "trainable_parameters": trainable, "total_parameters": total_params,
                               "examples": {k: len(v) for k, v in splits.items()},
                               "dropped": {k: v.dropped for k, v in splits.items()},
                               "eval_loss_before": record.get("eval_loss_before"), "resumed_from": resume,
                               **({"tracking": trackers.ids} if trackers.ids else {}),
                               **({"distributed": {"world_size": processes(os.environ)[1], "strategy": strategy}}
                                  if strategy else {})}
    before_in_train = strategy == "deepspeed_zero3" and "validation" in splits and resume is None
    if before_in_train:
        # An evaluate() before train() leaves DeepSpeed's inference engine in place and train() never builds
        # the training engine (no backward); the Trainer's own first-step evaluation runs once it is built.
        trainer.args.eval_on_start = True
    elif "validation" in splits and resume is None:
        status.update(state="evaluating", total_steps=total_steps)
        metrics["eval_loss_before"] = trainer.evaluate()["eval_loss"]
        if strategy == "ddp":
            # accelerate marks a model it prepared for evaluation as prepared, and its training prepare then
            # returns it as it is: never wrapped in DDP, so the processes would each train alone on their
            # share of the data, gradients never averaged (tests/test_trainer_distributed.py pins this)
            trainer.model._is_accelerate_prepared = False
    if main:
        from ..atomic import write_text

        write_text(paths.checkpoints / RUN_FILE, json.dumps(
            {"spec_hash": spec.spec_hash(), "job_id": os.environ.get("ANYTUNE_JOB_ID"),
             "eval_loss_before": metrics["eval_loss_before"]}))

    if resume:
        weights_only = not (Path(resume) / "optimizer.pt").exists()
        log(f"resuming from {resume}" + (" (a weights-only checkpoint: the optimizer and the learning-rate "
                                          "schedule start again)" if weights_only else ""))
    result = trainer.train(resume_from_checkpoint=resume)
    state = trainer.state
    if stop.stopped_at is not None:
        board.close()
        saved = paths.checkpoints / f"checkpoint-{stop.stopped_at}"
        raise Terminated(f"stopped by SIGTERM at step {stop.stopped_at} of {state.max_steps}: saved {saved}; "
                         "a restart with the same checkpoints folder resumes there")
    evals = [e for e in state.log_history if "eval_loss" in e]
    # ZeRO-3's loss before (eval_on_start) is the step-0 evaluation, kept in a checkpoint's history for a resume
    if evals and evals[0].get("step") == 0:
        metrics["eval_loss_before"] = evals.pop(0)["eval_loss"]
    metrics.update(_held_out_after(trainer, splits, evals, status))
    board.close()
    evaluation = None
    if main and spec.evaluation.enabled and strategy not in SHARDED:  # sharded: on the saved model, below
        from .evaluate import run_evaluation

        status.update(state="evaluating", message="generating answers")
        evaluation = run_evaluation(spec, paths, trainer.accelerator.unwrap_model(trainer.model), tokenizer, log)

    metrics.update(_run_metrics(spec, result, state, splits, resume, evals))
    metrics["wall_time_s"] = round(time.time() - started, 3)
    if cuda:
        import torch

        metrics["peak_gpu_memory_gb"] = round(torch.cuda.max_memory_allocated() / 1e9, 3)  # this process's
    if evaluation is not None:
        metrics["evaluation"] = {k: evaluation[k] for k in ("split", "examples", "metrics")}
    # FSDP, ZeRO-3: every process takes part in gathering the full weights; rank 0 alone writes them
    full = trainer.accelerator.get_state_dict(trainer.model_wrapped) if strategy in SHARDED else None
    if main:
        status.update(state="saving")
        outputs.save(trainer.accelerator.unwrap_model(trainer.model), tokenizer, paths.output, metrics, evaluation,
                     state_dict=full)
        if strategy in SHARDED and spec.evaluation.enabled:
            _evaluate_saved(spec, paths, trainer, metrics, status, log)
        status.update(state="succeeded", step=state.global_step, eval_loss=metrics.get("eval_loss_after"))
    return metrics


def _evaluate_saved(spec: JobSpec, paths: RunPaths, trainer, metrics: dict[str, Any], status: StatusFile,
                    log: Callable[[str], None]) -> None:
    """The generation evaluation of a sharded run (FSDP, ZeRO-3): no process holds the whole model, so rank 0
    loads the one it has just saved, once the training engine's states are let go. A model too large to
    generate with on one device is left saved, not evaluated (`anytune eval` on a larger machine does it)."""
    import gc

    import torch

    from ..inference.hf import load
    from .evaluate import run_evaluation

    trainer.accelerator.free_memory()  # the engine, its optimizer and its shards
    if trainer.is_deepspeed_enabled:  # else from_pretrained would partition the new model over processes gone
        from transformers.integrations.deepspeed import unset_hf_deepspeed_config

        unset_hf_deepspeed_config()
    trainer.model_wrapped = trainer.optimizer = trainer.lr_scheduler = trainer.deepspeed = None
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    status.update(state="evaluating", message="generating answers")
    try:
        engine = load(paths.output, base=spec.base_model if spec.method != "full" else None)
        evaluation = run_evaluation(spec, paths, engine.model, engine.tokenizer, log)
    except torch.OutOfMemoryError:
        log(f"generation evaluation skipped: the whole model does not fit one device; the model is saved in "
            f"{paths.output} (run `anytune eval {paths.output}` where it fits)")
        return
    if evaluation is not None:
        metrics["evaluation"] = {k: evaluation[k] for k in ("split", "examples", "metrics")}
        outputs.add_evaluation(paths.output, metrics, evaluation)


def describe(metrics: dict[str, Any], output: Path) -> str:
    """The closing lines of a run: held-out loss before/after and where the model went."""
    lines = []
    if metrics.get("eval_loss_before") is not None and metrics.get("eval_loss_after") is not None:
        lines.append(f"eval loss: {metrics['eval_loss_before']:.4f} before -> {metrics['eval_loss_after']:.4f} after")
    if metrics.get("test_loss") is not None:
        lines.append(f"test loss: {metrics['test_loss']:.4f}")
    # Where the files went is said once, by whoever retrieves them (`anytune run` / `retrieve`), not here too.
    return "\n".join(lines) or f"outputs written to {output}"
