from anytune import hookimpl


@hookimpl
def anytune_register_providers(register):
    register("sagemaker", "anytune_sagemaker.provider:SageMakerProvider")
