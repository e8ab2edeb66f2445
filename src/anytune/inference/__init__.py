"""The one inference seam: ``generate(prompts, params) -> generations`` and ``stream(prompt, params)``.

Engines: :class:`~anytune.inference.hf.TransformersEngine` (a local model folder or adapter, CPU or GPU) and
:class:`~anytune.inference.remote.ChatAPIEngine` (any OpenAI-compatible chat endpoint, including OpenAI's
fine-tuned ``ft:`` models). Evaluation, ``anytune chat`` and serving call an engine; none loads a model its
own way. Importing this package imports neither torch nor openai.
"""

from .engine import Engine, Generation, GenerationParams, Prompt

__all__ = ["Engine", "Generation", "GenerationParams", "Prompt"]
