"""anytune's local provider: train on this machine (CPU or its GPUs) with anytune's trainer."""
