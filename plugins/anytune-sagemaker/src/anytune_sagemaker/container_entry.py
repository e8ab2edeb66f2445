"""Entry script of anytune's trainer bundle on SageMaker (the bundle's ``anytune_entry.py``).

SageMaker's training toolkit unpacks the bundle into /opt/ml/code, installs its requirements.txt and runs
``python anytune_entry.py --<hyperparameter> <value> ...``. The trainer reads those hyperparameters, the
spec's path among them, from SM_HPS, so they are dropped here; other arguments are passed on. When the
base model came as the ``model`` channel (it was a local folder), :mod:`anytune.cloud.entry` points the
spec at that channel before the trainer starts. Runs in the container, from the bundle.
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


def entry_args(argv, env):
    hps = json.loads(env.get("SM_HPS") or "{}")
    args = trainer_args(argv, hps)
    if env.get("SM_CHANNEL_MODEL") and "--spec" not in args:
        args = ["--base-model", env["SM_CHANNEL_MODEL"], "--spec", hps.get("spec", "spec.json"), *args]
    return args


if __name__ == "__main__":
    sys.argv = ["anytune.cloud.entry", *entry_args(sys.argv[1:], os.environ)]
    runpy.run_module("anytune.cloud.entry", run_name="__main__", alter_sys=True)
