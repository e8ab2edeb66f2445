# Output names are anytune settings: `anytune profile import NAME` maps them to provider options
# (see the table in src/anytune/profiles.py).

output "subscription_id" {
  description = "Subscription of the workspace (azureml.subscription_id)."
  value       = var.subscription_id
}

output "resource_group" {
  description = "Resource group of the workspace (azureml.resource_group)."
  value       = azurerm_resource_group.this.name
}

output "workspace" {
  description = "Azure Machine Learning workspace name (azureml.workspace)."
  value       = azurerm_machine_learning_workspace.this.name
}

output "compute" {
  description = "GPU compute cluster that scales to zero (azureml.compute)."
  value       = azurerm_machine_learning_compute_cluster.gpu.name
}

output "storage_account" {
  description = "Storage account behind the workspace (azureml.storage_account)."
  value       = azurerm_storage_account.this.name
}

output "container" {
  description = "Blob container for anytune's datasets and models (azureml.container)."
  value       = azurerm_storage_container.anytune.name
}

output "prefix" {
  description = "Path prefix inside the container that anytune writes under (azureml.prefix)."
  value       = var.prefix
}
