"""anytune's Ray provider: your own Ray cluster, through the Ray Jobs API and Ray Train."""
