"""The baseline of benchmarks/train_throughput.py: the fine-tuning script a competent user writes with plain
Transformers (and PEFT), with none of anytune: chat template, prompt tokens masked, padding collator,
``Trainer``. Same model, data and hyperparameters as the anytune side; prints one JSON line of results.

    python benchmarks/plain_trainer.py --model DIR --data train.jsonl --out DIR --method lora
        [--epochs 1] [--batch-size 8] [--lr 2e-4] [--max-len 512] [--seed 42] [--lora-r 8]
"""

from __future__ import annotations

import argparse
import json
import time


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--method", choices=["full", "lora", "qlora"], default="lora")
    ap.add_argument("--epochs", type=float, default=1)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--lr", type=float, default=2e-4)
    ap.add_argument("--max-len", type=int, default=512)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--lora-r", type=int, default=8)
    args = ap.parse_args()
    started = time.time()

    import torch
    from transformers import (
        AutoModelForCausalLM,
        AutoTokenizer,
        DataCollatorForSeq2Seq,
        Trainer,
        TrainingArguments,
        set_seed,
    )

    cuda = torch.cuda.is_available()
    bf16 = cuda and torch.cuda.is_bf16_supported()
    tok = AutoTokenizer.from_pretrained(args.model)
    rows = [json.loads(line) for line in open(args.data, encoding="utf-8")]
    examples = []
    for r in rows:
        prompt = tok.apply_chat_template([{"role": "user", "content": r["prompt"]}], tokenize=False,
                                         add_generation_prompt=True)
        full = tok.apply_chat_template([{"role": "user", "content": r["prompt"]},
                                        {"role": "assistant", "content": r["completion"]}], tokenize=False)
        p = tok(prompt, add_special_tokens=False)["input_ids"]
        ids = tok(full, add_special_tokens=False)["input_ids"][:args.max_len]
        examples.append({"input_ids": ids, "labels": ([-100] * len(p) + ids[len(p):])[:args.max_len]})
    tokens = sum(len(e["input_ids"]) for e in examples)

    set_seed(args.seed)
    kwargs = {"dtype": torch.bfloat16 if bf16 else torch.float32}
    if args.method == "qlora":
        from transformers import BitsAndBytesConfig

        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=torch.bfloat16 if bf16 else torch.float16)
    model = AutoModelForCausalLM.from_pretrained(args.model, **kwargs)
    if cuda and args.method != "qlora":
        model = model.to("cuda")
    if args.method != "full":
        from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training

        if args.method == "qlora":
            model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)
        model = get_peft_model(model, LoraConfig(task_type="CAUSAL_LM", r=args.lora_r, lora_alpha=2 * args.lora_r,
                                                 lora_dropout=0.05))
    trainer = Trainer(
        model=model, train_dataset=examples,
        args=TrainingArguments(output_dir=args.out, per_device_train_batch_size=args.batch_size,
                               learning_rate=args.lr, num_train_epochs=args.epochs, seed=args.seed, bf16=bf16,
                               logging_steps=10, save_strategy="no", report_to="none", disable_tqdm=True,
                               lr_scheduler_type="linear"),
        data_collator=DataCollatorForSeq2Seq(tok, padding=True, pad_to_multiple_of=8 if cuda else None))
    result = trainer.train()
    trainer.save_model(args.out)
    runtime = result.metrics["train_runtime"]
    print(json.dumps({"tokens_per_second": tokens * args.epochs / runtime, "train_runtime_s": runtime,
                      "train_loss": result.training_loss, "steps": trainer.state.global_step,
                      "wall_s": time.time() - started,
                      "peak_gpu_memory_gb": torch.cuda.max_memory_allocated() / 1e9 if cuda else None}))


if __name__ == "__main__":
    main()
