"""An in-process model for the ratecheck end-to-end proxy: no upstream, real streams.

LiteLLM's `mock_response` cannot stream on /v1/responses and answers /v1/messages
with JSON even when a stream is asked for, which would hide the very header drop
we test. A `CustomLLM` streams on chat, completions, responses and messages.
"""

import time

import litellm
from litellm import CustomLLM
from litellm.types.utils import Embedding, EmbeddingResponse, ModelResponse, Usage

WORDS = ["rate", "limits", "are", "fine"]


def _usage(prompt: int = 5) -> dict:
    return {"prompt_tokens": prompt, "completion_tokens": len(WORDS), "total_tokens": prompt + len(WORDS)}


class RatecheckLLM(CustomLLM):
    def completion(self, *args, **kwargs) -> ModelResponse:
        return litellm.completion(
            model="openai/ratecheck",
            messages=[{"role": "user", "content": "x"}],
            mock_response=" ".join(WORDS),
        )

    async def acompletion(self, *args, **kwargs) -> ModelResponse:
        return self.completion()

    def streaming(self, *args, **kwargs):
        for i, word in enumerate(WORDS):
            last = i == len(WORDS) - 1
            yield {
                "text": word + ("" if last else " "),
                "tool_use": None,
                "is_finished": last,
                "finish_reason": "stop" if last else "",
                "usage": _usage() if last else None,
                "index": 0,
            }

    async def astreaming(self, *args, **kwargs):
        for chunk in self.streaming():
            yield chunk

    def embedding(self, model, input, model_response, *args, **kwargs) -> EmbeddingResponse:
        items = input if isinstance(input, list) else [input]
        model_response.data = [Embedding(embedding=[0.1, 0.2, 0.3], index=i, object="embedding") for i, _ in enumerate(items)]
        model_response.model = model
        model_response.usage = Usage(prompt_tokens=len(items), completion_tokens=0, total_tokens=len(items))
        return model_response

    async def aembedding(self, model, input, model_response, *args, **kwargs) -> EmbeddingResponse:
        return self.embedding(model, input, model_response)


ratecheck_llm = RatecheckLLM()
