"""anytune's OpenAI fine-tuning provider. Importing this package imports nothing heavy."""
