locals {
  bucket_name = "${var.name}-${var.project_id}-staging"
  use_cmek    = var.kms_key_name != null || var.create_kms_key
  create_key  = var.kms_key_name == null && var.create_kms_key
  # The key in use: the one given, the one created here, or null (Google-managed encryption).
  kms_key_name = var.kms_key_name != null ? var.kms_key_name : (local.create_key ? google_kms_crypto_key.this[0].id : null)

  services = concat(
    ["aiplatform.googleapis.com", "storage.googleapis.com", "iam.googleapis.com", "logging.googleapis.com"],
    local.use_cmek ? ["cloudkms.googleapis.com"] : [],
  )
}

resource "google_project_service" "this" {
  for_each           = toset(local.services)
  service            = each.value
  disable_on_destroy = false # other workloads in the project may use these APIs too
}

# --- Staging bucket ------------------------------------------------------------------------------

resource "google_storage_bucket" "staging" {
  name                        = local.bucket_name
  location                    = var.location
  storage_class               = "STANDARD"
  force_destroy               = var.force_destroy
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"

  versioning {
    enabled = true
  }

  dynamic "encryption" {
    for_each = local.use_cmek ? [local.kms_key_name] : []
    content {
      default_kms_key_name = encryption.value
    }
  }

  dynamic "logging" {
    for_each = var.access_log_bucket == null ? [] : [var.access_log_bucket]
    content {
      log_bucket        = logging.value
      log_object_prefix = "gcs-usage/${local.bucket_name}"
    }
  }

  # Uploaded datasets are content-addressed copies of local files: expire them after a while.
  lifecycle_rule {
    condition {
      age            = var.dataset_retention_days
      matches_prefix = ["${var.prefix}datasets/"]
      with_state     = "LIVE"
    }
    action {
      type = "Delete"
    }
  }

  lifecycle_rule {
    condition {
      days_since_noncurrent_time = var.noncurrent_version_retention_days
      with_state                 = "ARCHIVED"
    }
    action {
      type = "Delete"
    }
  }

  lifecycle_rule {
    condition {
      age = 7
    }
    action {
      type = "AbortIncompleteMultipartUpload"
    }
  }

  depends_on = [google_project_service.this, google_kms_crypto_key_iam_member.gcs]
}

# --- Training service account: what the job's container runs as ---------------------------------

resource "google_service_account" "training" {
  account_id   = "${var.name}-training"
  display_name = "anytune training jobs"
  description  = "Runs anytune's Vertex AI custom jobs; reads and writes ${local.bucket_name} only"
  depends_on   = [google_project_service.this]
}

resource "google_storage_bucket_iam_member" "training_objects" {
  bucket = google_storage_bucket.staging.name
  role   = "roles/storage.objectUser"
  member = google_service_account.training.member
}

resource "google_project_iam_member" "training_logs" {
  project = var.project_id
  role    = "roles/logging.logWriter"
  member  = google_service_account.training.member
}

# --- Launchers: the people or CI identities that run anytune ---------------------------------------

resource "google_project_iam_member" "launcher_vertex" {
  for_each = toset(var.launchers)
  project  = var.project_id
  role     = "roles/aiplatform.user"
  member   = each.value
}

resource "google_project_iam_member" "launcher_logs" {
  for_each = toset(var.launchers)
  project  = var.project_id
  role     = "roles/logging.viewer"
  member   = each.value
}

# Lets a launcher name the training service account in a job (iam.serviceAccounts.actAs), granted on
# that one service account rather than on the project.
resource "google_service_account_iam_member" "launcher_act_as" {
  for_each           = toset(var.launchers)
  service_account_id = google_service_account.training.name
  role               = "roles/iam.serviceAccountUser"
  member             = each.value
}

resource "google_storage_bucket_iam_member" "launcher_objects" {
  for_each = toset(var.launchers)
  bucket   = google_storage_bucket.staging.name
  role     = "roles/storage.objectUser"
  member   = each.value
}
