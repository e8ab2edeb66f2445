"""anytune's Amazon SageMaker provider. The provider class lives in :mod:`anytune_sagemaker.provider`."""
