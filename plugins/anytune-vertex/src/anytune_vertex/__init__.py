"""anytune's Google Cloud Vertex AI provider. The provider class lives in :mod:`anytune_vertex.provider`."""
