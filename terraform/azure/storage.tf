resource "azurerm_storage_account" "this" {
  # checkov:skip=CKV_AZURE_35:anytune runs from laptops and CI outside Azure, so the account stays reachable by default; every request still needs Entra ID (shared keys are off) and TLS 1.2. Set allowed_ip_ranges + subnet_id to switch the default action to Deny.
  # checkov:skip=CKV_AZURE_59:Same reason as CKV_AZURE_35: public endpoint, Entra ID only; private endpoints need a VNet and private DNS that this module leaves to your network team.
  # checkov:skip=CKV2_AZURE_33:Private endpoints are out of scope (see CKV_AZURE_59).
  # checkov:skip=CKV_AZURE_206:Holds staging copies (re-uploadable datasets, models anytune downloads). Geo-replication doubles the cost; set storage_replication_type = "GRS" or "GZRS" if your policy requires it.
  # checkov:skip=CKV_AZURE_33:No queues are used, and azurerm 5 removed the queue_properties block this check reads (now azurerm_storage_account_queue_properties).
  # checkov:skip=CKV2_AZURE_1:Encrypted with Microsoft-managed keys plus infrastructure (double) encryption. A customer-managed key is not implemented: creating one needs Key Vault data-plane access from where terraform runs, which the vault's network ACL blocks.
  name                              = "${var.name}st${local.suffix}"
  location                          = azurerm_resource_group.this.location
  resource_group_name               = azurerm_resource_group.this.name
  account_kind                      = "StorageV2"
  account_tier                      = "Standard" # Azure ML workspaces cannot use Premium accounts
  account_replication_type          = var.storage_replication_type
  https_traffic_only_enabled        = true
  min_tls_version                   = "TLS1_2"
  allow_nested_items_to_be_public   = false
  shared_access_key_enabled         = false # Entra ID only: no account keys, no account SAS
  default_to_oauth_authentication   = true
  local_user_enabled                = false
  sftp_enabled                      = false
  cross_tenant_replication_enabled  = false
  infrastructure_encryption_enabled = true

  blob_properties {
    versioning_enabled = true

    delete_retention_policy {
      days = 7
    }

    container_delete_retention_policy {
      days = 7
    }
  }

  sas_policy {
    expiration_period = "00.12:00:00"
    expiration_action = "Log"
  }

  network_rules {
    default_action             = local.restrict_network ? "Deny" : "Allow"
    bypass                     = ["AzureServices", "Logging", "Metrics"]
    ip_rules                   = var.allowed_ip_ranges
    virtual_network_subnet_ids = var.subnet_id == null ? [] : [var.subnet_id]
  }

  tags = local.tags
}

resource "azurerm_storage_container" "anytune" {
  # checkov:skip=CKV2_AZURE_21:Blob reads, writes and deletes are logged to Log Analytics by azurerm_monitor_diagnostic_setting.blob; this check only recognises azurerm_log_analytics_storage_insights, which needs an account key (keys are disabled here).
  name                  = var.container
  storage_account_id    = azurerm_storage_account.this.id
  container_access_type = "private"
}

resource "azurerm_storage_management_policy" "this" {
  storage_account_id = azurerm_storage_account.this.id

  # Uploaded datasets are content-addressed copies of local files: expire them after a while.
  rule {
    name    = "expire-old-datasets"
    enabled = true

    filters {
      blob_types   = ["blockBlob"]
      prefix_match = ["${var.container}/${var.prefix}datasets/"]
    }

    actions {
      base_blob {
        delete_after_days_since_creation_greater_than = var.dataset_retention_days
      }
    }
  }

  rule {
    name    = "tidy-old-versions"
    enabled = true

    filters {
      blob_types = ["blockBlob"]
    }

    actions {
      version {
        delete_after_days_since_creation = 30
      }
    }
  }
}

# Audit trail of blob reads, writes and deletes in the Log Analytics workspace.
resource "azurerm_monitor_diagnostic_setting" "blob" {
  name                       = "${var.name}-blob-audit"
  target_resource_id         = "${azurerm_storage_account.this.id}/blobServices/default"
  log_analytics_workspace_id = azurerm_log_analytics_workspace.this.id

  enabled_log {
    category = "StorageRead"
  }

  enabled_log {
    category = "StorageWrite"
  }

  enabled_log {
    category = "StorageDelete"
  }
}
