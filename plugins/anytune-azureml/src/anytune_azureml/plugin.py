from anytune.hookspecs import hookimpl


@hookimpl
def anytune_register_providers(register):
    register("azureml", "anytune_azureml.provider:AzureMLProvider")
