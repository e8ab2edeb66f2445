variable "project_id" {
  description = "Google Cloud project that runs the Vertex AI custom jobs (anytune setting vertex.project)."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", var.project_id))
    error_message = "project_id must be a project ID (6-30 lowercase letters, digits and hyphens, starting with a letter), not a project name or number."
  }
}

variable "location" {
  description = "Region for the staging bucket, the key and the training jobs, e.g. us-central1 (vertex.location)."
  type        = string

  validation {
    condition     = can(regex("^[a-z]+-[a-z]+[0-9]+$", var.location))
    error_message = "location must be a single Google Cloud region such as us-central1 or europe-west4 (Vertex AI jobs run in one region)."
  }
}

variable "name" {
  description = "Short name used for the bucket (<name>-<project>-staging), the service account (<name>-training) and the key."
  type        = string
  default     = "anytune"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,19}[a-z0-9]$", var.name))
    error_message = "name must be 3-21 characters of lowercase letters, digits and hyphens, starting with a letter."
  }
}

variable "create_kms_key" {
  description = "Create a Cloud KMS key ring and key (rotated every 90 days) and use it as CMEK for the bucket and the jobs. Ignored when kms_key_name is set."
  type        = bool
  default     = true
}

variable "kms_key_name" {
  description = "Existing Cloud KMS key to use as CMEK instead of creating one (projects/P/locations/L/keyRings/R/cryptoKeys/K, in the same location). null = create one or use Google-managed keys, per create_kms_key."
  type        = string
  default     = null

  validation {
    condition     = var.kms_key_name == null || can(regex("^projects/[^/]+/locations/[^/]+/keyRings/[^/]+/cryptoKeys/[^/]+$", var.kms_key_name))
    error_message = "kms_key_name must be a full key name: projects/PROJECT/locations/LOCATION/keyRings/RING/cryptoKeys/KEY."
  }
}

variable "prefix" {
  description = "Path prefix inside the bucket that anytune writes under (datasets/, code/, models/, checkpoints/ below it); the dataset expiry rule applies to <prefix>datasets/ (vertex.prefix)."
  type        = string
  default     = "anytune/"

  validation {
    condition     = can(regex("^([a-z0-9][a-z0-9._-]*/)+$", var.prefix))
    error_message = "prefix must be one or more lowercase path segments, each ending in '/', e.g. anytune/ or team-a/anytune/."
  }
}

variable "dataset_retention_days" {
  description = "Days after which uploaded datasets (objects under <prefix>datasets/) are deleted. anytune re-uploads a dataset when it is needed again."
  type        = number
  default     = 90

  validation {
    condition     = var.dataset_retention_days >= 1 && var.dataset_retention_days <= 3650 && floor(var.dataset_retention_days) == var.dataset_retention_days
    error_message = "dataset_retention_days must be a whole number of days between 1 and 3650."
  }
}

variable "noncurrent_version_retention_days" {
  description = "Days a replaced or deleted object version is kept (the bucket is versioned) before it is deleted."
  type        = number
  default     = 30

  validation {
    condition     = var.noncurrent_version_retention_days >= 1 && var.noncurrent_version_retention_days <= 3650 && floor(var.noncurrent_version_retention_days) == var.noncurrent_version_retention_days
    error_message = "noncurrent_version_retention_days must be a whole number of days between 1 and 3650."
  }
}

variable "access_log_bucket" {
  description = "Existing bucket that receives usage logs of the staging bucket. null = no access logs."
  type        = string
  default     = null

  validation {
    condition     = var.access_log_bucket == null || can(regex("^[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]$", var.access_log_bucket))
    error_message = "access_log_bucket must be a bucket name or null."
  }
}

variable "launchers" {
  description = "Principals that run anytune (e.g. user:alice@example.com, group:ml@example.com, serviceAccount:ci@p.iam.gserviceaccount.com). Each may submit Vertex AI jobs as the training service account and read/write the staging bucket."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for m in var.launchers : can(regex("^(user|group|serviceAccount|domain|principal|principalSet):.+$", m))])
    error_message = "Each launcher must be an IAM member string such as user:alice@example.com or group:ml@example.com."
  }
}

variable "force_destroy" {
  description = "Let terraform destroy delete the bucket even when it still holds objects. Keep false unless you mean to lose the data."
  type        = bool
  default     = false
}

variable "labels" {
  description = "Extra labels for every resource that supports them."
  type        = map(string)
  default     = {}
}
