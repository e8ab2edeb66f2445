# Output names are anytune settings: `anytune profile import NAME` maps them to provider options
# (see the table in src/anytune/profiles.py).

output "project" {
  description = "Project that runs the Vertex AI jobs (vertex.project)."
  value       = var.project_id
}

output "location" {
  description = "Region of the bucket, the key and the jobs (vertex.location)."
  value       = var.location
}

output "staging_bucket" {
  description = "Staging bucket for datasets, code packages, checkpoints and models, as a gs:// URI (vertex.staging_bucket)."
  value       = "gs://${google_storage_bucket.staging.name}"
}

output "service_account" {
  description = "Service account the training container runs as (vertex.service_account)."
  value       = google_service_account.training.email
}

output "kms_key_name" {
  description = "CMEK key for the jobs' encryption_spec, or null when Google-managed keys are used (vertex.kms_key_name)."
  value       = local.kms_key_name
}

output "prefix" {
  description = "Path prefix inside the bucket that anytune writes under (vertex.prefix)."
  value       = var.prefix
}
