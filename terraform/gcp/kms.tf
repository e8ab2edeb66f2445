# Customer-managed encryption key (CMEK) for the staging bucket and the Vertex AI jobs.

resource "google_kms_key_ring" "this" {
  count      = local.create_key ? 1 : 0
  name       = var.name
  location   = var.location
  depends_on = [google_project_service.this]
}

resource "google_kms_crypto_key" "this" {
  count           = local.create_key ? 1 : 0
  name            = "${var.name}-staging"
  key_ring        = google_kms_key_ring.this[0].id
  purpose         = "ENCRYPT_DECRYPT"
  rotation_period = "7776000s" # 90 days

  # Destroying a key makes everything encrypted with it unreadable; remove this line deliberately
  # (after emptying the bucket) if you really mean to destroy it.
  lifecycle {
    prevent_destroy = true
  }
}

# Cloud Storage encrypts objects with the key as its own service agent.
data "google_storage_project_service_account" "gcs" {
  project = var.project_id
}

resource "google_kms_crypto_key_iam_member" "gcs" {
  count         = local.use_cmek ? 1 : 0
  crypto_key_id = local.kms_key_name
  role          = "roles/cloudkms.cryptoKeyEncrypterDecrypter"
  member        = data.google_storage_project_service_account.gcs.member
}

# Vertex AI uses the key (encryption_spec of a job) as its service agent.
resource "google_project_service_identity" "vertex" {
  count    = local.use_cmek ? 1 : 0
  provider = google-beta
  project  = var.project_id
  service  = "aiplatform.googleapis.com"

  depends_on = [google_project_service.this]
}

resource "google_kms_crypto_key_iam_member" "vertex" {
  count         = local.use_cmek ? 1 : 0
  crypto_key_id = local.kms_key_name
  role          = "roles/cloudkms.cryptoKeyEncrypterDecrypter"
  member        = google_project_service_identity.vertex[0].member
}
