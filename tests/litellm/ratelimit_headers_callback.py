"""Restore LiteLLM's x-ratelimit-* headers on streaming responses (workaround for BerriAI/litellm#27748).

LiteLLM's v3 limiter computes the per-descriptor counters in its pre-call hook
but writes the headers only in its post-call success hook, which the streaming
branch never reaches before it sends the response head. The streaming branch
*does* call `async_post_call_response_headers_hook` on every CustomLogger before
it builds the stream headers, and the limiter's per-request stash (a ContextVar)
is still set at that point. This callback reads the stash and returns the same
`x-ratelimit-{descriptor}-{remaining|limit}-{requests|tokens}` names that the
non-streaming path emits.

Copy this file next to your proxy config and add to it:

    litellm_settings:
      callbacks: ratelimit_headers_callback.restore_ratelimit_headers

Tested with litellm[proxy]==1.106.12 by `ratecheck`'s end-to-end suite; measured on 1.90.0
and 1.110.2 too (tests/litellm/MEASURED.md).
"""

from litellm.integrations.custom_logger import CustomLogger
from litellm.proxy.hooks import parallel_request_limiter_v3 as v3


def _statuses(data=None):
    # 1.106.x and later keep the limiter's result in a per-request ContextVar stash; older
    # releases (1.90.0) have no stash and keep it in the request data instead.
    get_stash = getattr(v3, "get_request_stash", None)
    stash = get_stash() if get_stash is not None else None
    response = getattr(stash, "rate_limit_response", None) if stash is not None else None
    if not response and isinstance(data, dict):
        response = data.get("litellm_proxy_rate_limit_response")
    if not response:
        return []
    return response.get("statuses") or []


class RestoreRateLimitHeaders(CustomLogger):
    async def async_post_call_response_headers_hook(
        self, data, user_api_key_dict, response, request_headers=None, litellm_call_info=None
    ):
        headers = {}
        for status in _statuses(data):
            descriptor = status.get("descriptor_key")
            unit = status.get("rate_limit_type")
            remaining = status.get("limit_remaining")
            limit = status.get("current_limit")
            # A None counter would otherwise become the literal header value "None".
            if not descriptor or not unit or remaining is None or limit is None:
                continue
            prefix = f"x-ratelimit-{descriptor}"
            headers[f"{prefix}-remaining-{unit}"] = str(remaining)
            headers[f"{prefix}-limit-{unit}"] = str(limit)
        return headers or None


restore_ratelimit_headers = RestoreRateLimitHeaders()
