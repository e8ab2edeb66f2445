"""Defaults of configuration that more than one command shares (a light module: the CLI imports it at start)."""

# The provider a job spec, `anytune serve` and `anytune openai migrate` train on unless told otherwise: this
# machine. A choice of configuration; core never decides anything by a provider's name.
DEFAULT_PROVIDER = "local"
