"""Trainer callbacks: progress lines + status.json, and TensorBoard event files (main process only)."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from pathlib import Path

from transformers import TrainerCallback

from ..crashpoints import crashpoint
from .status import StatusFile


class Progress(TrainerCallback):
    """Prints one line per logging step and evaluation, and keeps status.json fresh."""

    def __init__(self, status: StatusFile, log: Callable[[str], None]):
        self.status, self.log = status, log

    def on_train_begin(self, args, state, control, **kwargs):
        if state.is_world_process_zero:
            self.status.update(state="training", step=state.global_step, total_steps=state.max_steps)

    def on_step_end(self, args, state, control, **kwargs):
        if state.is_world_process_zero:
            self.status.update(force=False, step=state.global_step, epoch=round(state.epoch or 0, 4))

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not state.is_world_process_zero or not logs:
            return
        where = (f"step {state.global_step}/{state.max_steps} epoch {state.epoch or 0:.2f}" if state.max_steps
                 else "before training:")  # the evaluation before the first step
        if "loss" in logs:
            lr = logs.get("learning_rate", 0)
            warmup = lr == 0 and (args.warmup_steps or getattr(args, "warmup_ratio", 0))  # HF warms up from 0
            self.log(f"{where} loss {logs['loss']:.4f} lr {lr:.2e}" + (" (warmup starts at 0)" if warmup else ""))
            self.status.update(loss=logs["loss"], step=state.global_step, epoch=round(state.epoch or 0, 4))
        for key, value in logs.items():
            if key.endswith("_loss") and key != "train_loss":
                self.log(f"{where} {key.replace('_', ' ')} {value:.4f}")
                if key == "eval_loss":
                    self.status.update(eval_loss=value, eval_step=state.global_step)


class TensorBoard(TrainerCallback):
    """Scalars of every log event (train/loss, eval/loss, train/learning_rate, ...) as event files."""

    def __init__(self, log_dir: Path):
        self.log_dir, self.writer = log_dir, None

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not state.is_world_process_zero or not logs:
            return
        if self.writer is None:
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(log_dir=str(self.log_dir))
        for key, value in logs.items():
            if isinstance(value, (int, float)):
                group, _, name = key.partition("_") if key.split("_")[0] in ("eval", "test", "train") else ("", "", key)
                self.writer.add_scalar(f"{group or 'train'}/{name}", value, state.global_step)
        self.writer.flush()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None


class EpochEnd(TrainerCallback):
    """With evaluation every N steps, still evaluate and checkpoint at the end of each epoch."""

    def on_epoch_end(self, args, state, control, **kwargs):
        # Not again when this step was already evaluated/saved (a multiple of N, or the last step).
        evaluated = any(e.get("step") == state.global_step and "eval_loss" in e for e in state.log_history[-3:])
        control.should_evaluate = not evaluated and str(getattr(args.eval_strategy, "value", args.eval_strategy)) != "no"
        control.should_save = not (Path(args.output_dir) / f"checkpoint-{state.global_step}").exists()


class MarkComplete(TrainerCallback):
    """Marks each checkpoint once the Trainer has written all of it (see anytune.trainer.checkpoints)."""

    def on_save(self, args, state, control, **kwargs):
        from .checkpoints import COMPLETE

        folder = Path(args.output_dir) / f"checkpoint-{state.global_step}"
        if state.is_world_process_zero and folder.is_dir():
            (folder / COMPLETE).touch()
            crashpoint("trainer:saved")


def _anyone(flag: bool, device) -> bool:
    """Whether any process of the run has ``flag`` set (one tiny all-reduce per step when there are several):
    a SIGTERM that reaches one machine of several stops them all at the same step, where they save one
    checkpoint together, instead of leaving the others waiting on that machine's gradients."""
    import torch
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() < 2:
        return flag
    t = torch.tensor([int(flag)], device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item())


class CheckpointOnSigterm(TrainerCallback):
    """SIGTERM while training (spot or low-priority capacity reclaimed, `anytune cancel`, a platform stop):
    finish the current optimizer step, save a checkpoint and stop, so that a restart with the same checkpoints
    folder resumes there instead of at the last epoch's checkpoint. Several processes agree at every step
    end, so a SIGTERM to any one of them stops all at the same step (:func:`_anyone`). A second SIGTERM goes to the previous
    handler (the trainer's: stop at once). ``stopped_at`` is the step saved, None when training was not interrupted."""

    def __init__(self):
        self.stopped_at: int | None = None
        self._requested = False
        self._previous = None

    def on_train_begin(self, args, state, control, **kwargs):
        if threading.current_thread() is threading.main_thread():  # only there can a handler be set
            self._previous = signal.signal(signal.SIGTERM, self._request)

    def _request(self, signum, frame):
        if self._requested:
            self._restore()
            signal.raise_signal(signum)
        self._requested = True

    def on_step_end(self, args, state, control, **kwargs):
        if _anyone(self._requested, args.device):
            control.should_save = True
            control.should_training_stop = True
            self.stopped_at = state.global_step

    def on_train_end(self, args, state, control, **kwargs):
        self._restore()

    def _restore(self) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGTERM, self._previous)
            self._previous = None
