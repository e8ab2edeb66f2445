variable "subscription_id" {
  description = "Azure subscription that holds everything (anytune setting azureml.subscription_id)."
  type        = string

  validation {
    condition     = can(regex("^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", var.subscription_id))
    error_message = "subscription_id must be a subscription GUID in lowercase, e.g. 00000000-0000-0000-0000-000000000000."
  }
}

variable "location" {
  description = "Azure region, e.g. eastus or westeurope."
  type        = string

  validation {
    condition     = can(regex("^[a-z]+[a-z0-9]*$", var.location))
    error_message = "location must be an Azure region name without spaces, e.g. eastus or westeurope."
  }
}

variable "name" {
  description = "Short name used for the resource group, workspace, vault and storage account names (3-16 lowercase letters and digits)."
  type        = string
  default     = "anytune"

  validation {
    condition     = can(regex("^[a-z][a-z0-9]{2,15}$", var.name))
    error_message = "name must be 3-16 lowercase letters and digits, starting with a letter (storage account and key vault names allow no hyphens and are globally unique)."
  }
}

variable "resource_group_name" {
  description = "Name of the resource group to create (azureml.resource_group). null = <name>-rg."
  type        = string
  default     = null

  validation {
    condition     = var.resource_group_name == null || can(regex("^[-\\w.()]{1,89}[-\\w()]$", var.resource_group_name))
    error_message = "resource_group_name must be 1-90 letters, digits, underscores, hyphens, periods or parentheses, not ending in a period."
  }
}

variable "container" {
  description = "Blob container anytune uploads datasets to and reads models from (azureml.container)."
  type        = string
  default     = "anytune"

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$", var.container)) && !strcontains(var.container, "--")
    error_message = "container must be 3-63 lowercase letters, digits and single hyphens, starting and ending with a letter or digit."
  }
}

variable "compute_name" {
  description = "Name of the GPU compute cluster (azureml.compute)."
  type        = string
  default     = "anytune-gpu"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,14}[a-z0-9]$", var.compute_name))
    error_message = "compute_name must be 3-16 lowercase letters, digits and hyphens, starting with a letter."
  }
}

variable "vm_size" {
  description = "VM size of the cluster's nodes. The default (1x T4 16 GB) suits LoRA/QLoRA of small models; e.g. Standard_NC24ads_A100_v4 for 1x A100 80 GB. Check your subscription's quota for the family."
  type        = string
  default     = "Standard_NC4as_T4_v3"

  validation {
    condition     = can(regex("^Standard_[A-Za-z0-9_]+$", var.vm_size))
    error_message = "vm_size must be an Azure VM size such as Standard_NC4as_T4_v3."
  }
}

variable "max_nodes" {
  description = "Most nodes the cluster scales out to. It scales back to zero when idle."
  type        = number
  default     = 1

  validation {
    condition     = var.max_nodes >= 1 && var.max_nodes <= 100 && floor(var.max_nodes) == var.max_nodes
    error_message = "max_nodes must be a whole number between 1 and 100."
  }
}

variable "low_priority" {
  description = "Use low-priority (preemptible, much cheaper) nodes. Jobs may be evicted; anytune resumes from checkpoints."
  type        = bool
  default     = false
}

variable "idle_minutes_before_scale_down" {
  description = "Minutes an idle node is kept before the cluster scales down (towards zero)."
  type        = number
  default     = 10

  validation {
    condition     = var.idle_minutes_before_scale_down >= 1 && var.idle_minutes_before_scale_down <= 1440 && floor(var.idle_minutes_before_scale_down) == var.idle_minutes_before_scale_down
    error_message = "idle_minutes_before_scale_down must be a whole number between 1 and 1440."
  }
}

variable "subnet_id" {
  description = "Existing subnet (with the Microsoft.Storage service endpoint) to place the cluster in; its nodes then get no public IP. null = Azure-managed network with public node IPs."
  type        = string
  default     = null

  validation {
    condition     = var.subnet_id == null || can(regex("^/subscriptions/[^/]+/resourceGroups/[^/]+/providers/Microsoft.Network/virtualNetworks/[^/]+/subnets/[^/]+$", var.subnet_id))
    error_message = "subnet_id must be a subnet resource ID (/subscriptions/.../virtualNetworks/VNET/subnets/SUBNET) or null."
  }
}

variable "allowed_ip_ranges" {
  description = "Public IPs or CIDR ranges (e.g. your office or CI egress) allowed to reach the storage account and key vault. Empty = the storage account accepts any network (Entra ID auth and TLS 1.2 still required). Needs subnet_id, or the cluster could not reach its data."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for r in var.allowed_ip_ranges : can(cidrhost(strcontains(r, "/") ? r : "${r}/32", 0))])
    error_message = "Each entry of allowed_ip_ranges must be an IPv4 address or CIDR range such as 203.0.113.7 or 203.0.113.0/24."
  }

  validation {
    condition     = length(var.allowed_ip_ranges) == 0 || var.subnet_id != null
    error_message = "allowed_ip_ranges closes the storage account to other networks, so the cluster needs subnet_id (a subnet with the Microsoft.Storage service endpoint)."
  }
}

variable "grant_current_principal" {
  description = "Give the identity running terraform the roles anytune needs to launch jobs (AzureML Data Scientist on the workspace, Storage Blob Data Contributor on the account)."
  type        = bool
  default     = true
}

variable "operator_object_ids" {
  description = "Entra ID object IDs of further users, groups or service principals that run anytune; they get the same roles."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for id in var.operator_object_ids : can(regex("^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", id))])
    error_message = "Each operator_object_ids entry must be an object ID GUID in lowercase."
  }
}

variable "prefix" {
  description = "Path prefix inside the container that anytune writes under (datasets/, code/, models/, checkpoints/ below it); the dataset expiry rule applies to <prefix>datasets/ (azureml.prefix)."
  type        = string
  default     = "anytune/"

  validation {
    condition     = can(regex("^([a-z0-9][a-z0-9._-]*/)+$", var.prefix))
    error_message = "prefix must be one or more lowercase path segments, each ending in '/', e.g. anytune/ or team-a/anytune/."
  }
}

variable "dataset_retention_days" {
  description = "Days after which uploaded datasets (blobs under <container>/<prefix>datasets/) are deleted. anytune re-uploads a dataset when it is needed again."
  type        = number
  default     = 90

  validation {
    condition     = var.dataset_retention_days >= 1 && var.dataset_retention_days <= 3650 && floor(var.dataset_retention_days) == var.dataset_retention_days
    error_message = "dataset_retention_days must be a whole number of days between 1 and 3650."
  }
}

variable "log_retention_days" {
  description = "Retention of the Log Analytics workspace behind Application Insights, in days."
  type        = number
  default     = 90

  validation {
    condition     = var.log_retention_days >= 30 && var.log_retention_days <= 730 && floor(var.log_retention_days) == var.log_retention_days
    error_message = "log_retention_days must be a whole number between 30 and 730."
  }
}

variable "storage_replication_type" {
  description = "Replication of the storage account: LRS (default, cheapest), ZRS, GRS or GZRS."
  type        = string
  default     = "LRS"

  validation {
    condition     = contains(["LRS", "ZRS", "GRS", "GZRS"], var.storage_replication_type)
    error_message = "storage_replication_type must be LRS, ZRS, GRS or GZRS."
  }
}

variable "tags" {
  description = "Extra tags for every resource."
  type        = map(string)
  default     = {}
}
