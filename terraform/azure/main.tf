data "azurerm_client_config" "current" {}

locals {
  # Storage account and key vault names are global and allow no hyphens: name + kind + a stable suffix.
  suffix              = substr(sha1("${var.subscription_id}/${var.name}/${var.location}"), 0, 6)
  resource_group_name = coalesce(var.resource_group_name, "${var.name}-rg")
  tags                = merge({ "managed-by" = "terraform", "app" = "anytune" }, var.tags)
  restrict_network    = length(var.allowed_ip_ranges) > 0

  operators = toset(concat(
    var.grant_current_principal ? [data.azurerm_client_config.current.object_id] : [],
    var.operator_object_ids,
  ))
}

resource "azurerm_resource_group" "this" {
  name     = local.resource_group_name
  location = var.location
  tags     = local.tags
}

# --- Workspace dependencies: monitoring and secrets ----------------------------------------------

resource "azurerm_log_analytics_workspace" "this" {
  name                         = "${var.name}-logs"
  location                     = azurerm_resource_group.this.location
  resource_group_name          = azurerm_resource_group.this.name
  sku                          = "PerGB2018"
  retention_in_days            = var.log_retention_days
  local_authentication_enabled = false
  tags                         = local.tags
}

resource "azurerm_application_insights" "this" {
  name                         = "${var.name}-insights"
  location                     = azurerm_resource_group.this.location
  resource_group_name          = azurerm_resource_group.this.name
  workspace_id                 = azurerm_log_analytics_workspace.this.id
  application_type             = "web"
  local_authentication_enabled = false
  tags                         = local.tags
}

resource "azurerm_key_vault" "this" {
  # checkov:skip=CKV_AZURE_189:The public endpoint stays on so trusted Azure services (Azure Machine Learning) can use the vault through the network ACL below, which denies everyone else; turning it off leaves private endpoints as the only way in.
  # checkov:skip=CKV2_AZURE_32:Private endpoints need a VNet and private DNS that this module leaves to your network team (see README).
  name                       = "${var.name}kv${local.suffix}"
  location                   = azurerm_resource_group.this.location
  resource_group_name        = azurerm_resource_group.this.name
  tenant_id                  = data.azurerm_client_config.current.tenant_id
  sku_name                   = "standard"
  rbac_authorization_enabled = true
  purge_protection_enabled   = true
  soft_delete_retention_days = 90

  # Azure Machine Learning reaches the vault as a trusted Azure service; nobody else needs to.
  network_acls {
    default_action = "Deny"
    bypass         = "AzureServices"
    ip_rules       = var.allowed_ip_ranges
  }

  tags = local.tags
}

# --- Workspace and compute ------------------------------------------------------------------------

resource "azurerm_machine_learning_workspace" "this" {
  # checkov:skip=CKV_AZURE_144:anytune submits jobs from laptops and CI outside Azure; access is by Entra ID and the AzureML Data Scientist role. A private workspace needs private endpoints and DNS (see README).
  # checkov:skip=CKV2_AZURE_50:The HBI workspace's storage account is reachable over its public endpoint for the reason given on azurerm_storage_account.this (CKV_AZURE_59); it accepts Entra ID only.
  name                    = "${var.name}-mlw"
  location                = azurerm_resource_group.this.location
  resource_group_name     = azurerm_resource_group.this.name
  application_insights_id = azurerm_application_insights.this.id
  key_vault_id            = azurerm_key_vault.this.id
  storage_account_id      = azurerm_storage_account.this.id

  # Shared keys are off on the account: the workspace and its datastores use identities.
  storage_account_access_type = "Identity"
  high_business_impact        = true
  v1_legacy_mode_enabled      = false

  identity {
    type = "SystemAssigned"
  }

  tags = local.tags
}

resource "azurerm_machine_learning_compute_cluster" "gpu" {
  name                          = var.compute_name
  location                      = azurerm_resource_group.this.location
  machine_learning_workspace_id = azurerm_machine_learning_workspace.this.id
  vm_size                       = var.vm_size
  vm_priority                   = var.low_priority ? "LowPriority" : "Dedicated"
  local_auth_enabled            = false
  ssh_public_access_enabled     = false
  subnet_resource_id            = var.subnet_id
  node_public_ip_enabled        = var.subnet_id == null # a node needs a public IP unless it sits in your subnet

  scale_settings {
    min_node_count                       = 0 # nothing is billed while no job runs
    max_node_count                       = var.max_nodes
    scale_down_nodes_after_idle_duration = "PT${var.idle_minutes_before_scale_down}M"
  }

  identity {
    type = "SystemAssigned"
  }

  tags = local.tags
}

# --- Who may do what -----------------------------------------------------------------------------

# Jobs on the cluster read datasets and write models with the cluster's identity.
resource "azurerm_role_assignment" "compute_blob" {
  scope                = azurerm_storage_account.this.id
  role_definition_name = "Storage Blob Data Contributor"
  principal_id         = azurerm_machine_learning_compute_cluster.gpu.identity[0].principal_id
  principal_type       = "ServicePrincipal"
}

# People and CI identities that run anytune: submit jobs, upload data, download models. The account
# holds only this workspace's data (its default datastore and the anytune container).
resource "azurerm_role_assignment" "operator_workspace" {
  for_each             = local.operators
  scope                = azurerm_machine_learning_workspace.this.id
  role_definition_name = "AzureML Data Scientist"
  principal_id         = each.value
}

resource "azurerm_role_assignment" "operator_blob" {
  for_each             = local.operators
  scope                = azurerm_storage_account.this.id
  role_definition_name = "Storage Blob Data Contributor"
  principal_id         = each.value
}
