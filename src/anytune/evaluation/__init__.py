"""Generation evaluation: the tuned model and its base answer held-out prompts; each answer is scored
against the reference (and optionally by an LLM judge); the difference gets a paired bootstrap CI.

    examples = load_examples(Path("test.jsonl"), limit=200)
    result = evaluate(examples, tuned_engine, base_engine, EvaluationSpec())
    write(result, out_dir)                    # eval.json + samples.jsonl, each written atomically

The trainer runs this at the end of training (so it runs inside every cloud container too);
``anytune eval`` runs it standalone on any model folder, adapter, job or OpenAI-compatible model.
"""

from .run import EVAL_FILE, SAMPLES_FILE, Example, evaluate, examples_from, load_examples, write

__all__ = ["EVAL_FILE", "SAMPLES_FILE", "Example", "evaluate", "examples_from", "load_examples", "write"]
