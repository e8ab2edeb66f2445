terraform {
  required_version = ">= 1.9, < 2.0"

  required_providers {
    azurerm = {
      source  = "hashicorp/azurerm"
      version = "~> 5.0"
    }
  }
}

provider "azurerm" {
  subscription_id = var.subscription_id

  # Shared keys are disabled on the storage account: talk to storage with Entra ID.
  storage_use_azuread = true

  # azurerm 5 registers no resource providers by default; register only the ones used here.
  resource_providers_to_register = [
    "Microsoft.Insights",
    "Microsoft.KeyVault",
    "Microsoft.MachineLearningServices",
    "Microsoft.OperationalInsights",
    "Microsoft.Storage",
  ]

  features {
    key_vault {
      purge_soft_delete_on_destroy = false # purge protection is on; keep the vault recoverable
    }
    resource_group {
      prevent_deletion_if_contains_resources = true
    }
  }
}
