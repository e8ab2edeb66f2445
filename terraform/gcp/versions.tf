terraform {
  required_version = ">= 1.9, < 2.0"

  required_providers {
    google = {
      source  = "hashicorp/google"
      version = "~> 7.0"
    }
    # Only for google_project_service_identity (the Vertex AI service agent that must be allowed to
    # use the CMEK key); that resource exists in the beta provider only.
    google-beta = {
      source  = "hashicorp/google-beta"
      version = "~> 7.0"
    }
  }
}

provider "google" {
  project        = var.project_id
  region         = var.location
  default_labels = merge({ "managed-by" = "terraform", "app" = "anytune" }, var.labels)
}

provider "google-beta" {
  project = var.project_id
  region  = var.location
}
