"""A model that fails after admission: every call raises, as a failing upstream would.

The status comes from the model name: `ratecheck_failing/404` raises a 404, anything else
(`ratecheck_failing/any`) a 500. The limiter's pre-call hook has already counted the request
when this runs, so a failed request still uses the key's request quota (see MEASURED.md).
Registered by config-failing.yaml as provider `ratecheck_failing`.
"""

from litellm import CustomLLM
from litellm.llms.custom_llm import CustomLLMError

MESSAGE = "ratecheck: this model fails on purpose"


def _error(kwargs) -> CustomLLMError:
    name = str(kwargs.get("model") or "").rsplit("/", 1)[-1]
    status = int(name) if name.isdigit() and 400 <= int(name) <= 599 else 500
    return CustomLLMError(status_code=status, message=f"{MESSAGE} ({status})")


class FailingLLM(CustomLLM):
    def completion(self, *args, **kwargs):
        raise _error(kwargs)

    async def acompletion(self, *args, **kwargs):
        raise _error(kwargs)

    def streaming(self, *args, **kwargs):
        raise _error(kwargs)

    async def astreaming(self, *args, **kwargs):
        raise _error(kwargs)
        yield  # an async generator, like a real streaming handler


ratecheck_failing_llm = FailingLLM()
