from anytune import hookimpl


@hookimpl
def anytune_register_providers(register):
    register("openai", "anytune_openai.provider:OpenAIProvider")
