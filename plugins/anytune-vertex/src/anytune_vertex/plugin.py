from anytune.hookspecs import hookimpl


@hookimpl
def anytune_register_providers(register):
    register("vertex", "anytune_vertex.provider:VertexProvider")
