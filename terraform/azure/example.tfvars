# Copy to terraform.tfvars (or pass with -var-file) and adjust.
subscription_id = "00000000-0000-0000-0000-000000000000"
location        = "eastus"

# Everything below is optional; these are the defaults unless noted.
name         = "anytune"
container    = "anytune"
prefix       = "anytune/"
compute_name = "anytune-gpu"
vm_size      = "Standard_NC4as_T4_v3" # 1x T4; Standard_NC24ads_A100_v4 for 1x A100 80 GB
max_nodes    = 1
low_priority = false # true: preemptible nodes at a fraction of the price

# Give the identity running terraform the roles to launch jobs, and these others too.
grant_current_principal = true
operator_object_ids     = []

tags = {
  team = "ml"
}
