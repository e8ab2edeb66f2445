"""Server records as OpenAI API objects (the shapes of ``openai.types``; the tests validate them)."""

from __future__ import annotations

from typing import Any


def file_object(row: dict[str, Any]) -> dict[str, Any]:
    return {"id": row["id"], "object": "file", "bytes": row["bytes"], "created_at": row["created_at"],
            "filename": row["filename"], "purpose": row["purpose"], "status": "processed",
            "status_details": None, "expires_at": None}


def job_object(row: dict[str, Any], organization: str) -> dict[str, Any]:
    hp = row["hyperparameters"]
    method_type = row["method"]
    method: dict[str, Any] = {"type": method_type, method_type: {"hyperparameters": hp}}
    return {
        "id": row["id"], "object": "fine_tuning.job", "created_at": row["created_at"],
        "error": row["error"], "fine_tuned_model": row["fine_tuned_model"], "finished_at": row["finished_at"],
        "hyperparameters": {k: hp.get(k, "auto") for k in ("n_epochs", "batch_size", "learning_rate_multiplier")},
        "model": row["model"], "organization_id": organization, "result_files": row["result_files"],
        "seed": row["seed"], "status": row["status"], "trained_tokens": row["trained_tokens"],
        "training_file": row["training_file"], "validation_file": row["validation_file"],
        "estimated_finish": None, "integrations": [], "metadata": row["metadata"], "method": method,
        "user_provided_suffix": row["suffix"],
    }


def event_object(row: dict[str, Any]) -> dict[str, Any]:
    return {"id": row["id"], "object": "fine_tuning.job.event", "created_at": row["created_at"],
            "level": row["level"], "message": row["message"], "type": row["type"], "data": row["data"] or {}}


def checkpoint_object(row: dict[str, Any]) -> dict[str, Any]:
    return {"id": row["id"], "object": "fine_tuning.job.checkpoint", "created_at": row["created_at"],
            "fine_tuned_model_checkpoint": row["model"], "fine_tuning_job_id": row["job_id"],
            "step_number": row["step"], "metrics": row["metrics"]}


def model_object(id: str, created: int, owned_by: str) -> dict[str, Any]:
    return {"id": id, "object": "model", "created": created, "owned_by": owned_by}


def page(items: list[dict[str, Any]], has_more: bool) -> dict[str, Any]:
    return {"object": "list", "data": items, "has_more": has_more,
            "first_id": items[0]["id"] if items else None, "last_id": items[-1]["id"] if items else None}
