"""anytune's Azure Machine Learning provider. The provider class lives in :mod:`anytune_azureml.provider`."""
