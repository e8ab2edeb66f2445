# Copy to terraform.tfvars (or pass with -var-file) and adjust.
project_id = "my-ml-project"
location   = "us-central1"

# Everything below is optional; these are the defaults unless noted.
name                   = "anytune"
prefix                 = "anytune/"
create_kms_key         = true
dataset_retention_days = 90

# People and CI identities that run anytune (not a default: empty unless you list them).
launchers = [
  "user:alice@example.com",
  "serviceAccount:ci-runner@my-ml-project.iam.gserviceaccount.com",
]

labels = {
  team = "ml"
}
