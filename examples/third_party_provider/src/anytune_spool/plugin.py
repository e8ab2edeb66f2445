from anytune import hookimpl


@hookimpl
def anytune_register_providers(register):
    register("spool", "anytune_spool.provider:SpoolProvider")
