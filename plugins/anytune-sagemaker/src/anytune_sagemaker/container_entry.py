"""Entry script of anytune's trainer bundle on SageMaker (the bundle's ``anytune_entry.py``).

SageMaker's training toolkit unpacks the bundle into /opt/ml/code, installs its requirements.txt and runs
``python anytune_entry.py --<hyperparameter> <value> ...``. The trainer reads those hyperparameters, the
spec's path among them, from SM_HPS, so they are dropped here and any other argument is passed on to
``python -m anytune.trainer``. When the base model came as the ``model`` channel (it was a local folder),
the spec is pointed at that channel first. This file runs in the container: standard library only.
"""

import json
import os
import runpy
import sys


def trainer_args(argv, hyperparameters):
    args, rest = [], list(argv)
    while rest:
        if rest[0].startswith("--") and rest[0][2:] in hyperparameters and len(rest) > 1:
            rest = rest[2:]
        else:
            args.append(rest.pop(0))
    return args


def spec_with_model_channel(spec_path, model_dir, out_path):
    with open(spec_path, encoding="utf-8") as f:
        spec = json.load(f)
    spec["base_model"] = model_dir
    with open(out_path, "w", encoding="utf-8") as f:
        json.dump(spec, f)
    return out_path


if __name__ == "__main__":
    hps = json.loads(os.environ.get("SM_HPS") or "{}")
    args = trainer_args(sys.argv[1:], hps)
    if os.environ.get("SM_CHANNEL_MODEL") and "--spec" not in args:
        resolved = spec_with_model_channel(hps.get("spec", "spec.json"), os.environ["SM_CHANNEL_MODEL"],
                                           os.path.abspath("spec.resolved.json"))
        args = ["--spec", resolved, *args]
    sys.argv = ["anytune.trainer", *args]
    runpy.run_module("anytune.trainer", run_name="__main__", alter_sys=True)
