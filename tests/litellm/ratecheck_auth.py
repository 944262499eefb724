"""Custom auth for the ratecheck end-to-end proxy: limits live in the key itself.

A key reads `sk-rc-<rpm>-<tpm>-<anything>`, or `sk-rc-<rpm>-<tpm>-p<max_parallel>-<anything>`
for a key that also caps requests in flight. Each distinct key gets its own
counters in LiteLLM's v3 limiter, so every test run uses fresh budgets without a
restart and without a database. Anything else is refused with 401.
"""

from fastapi import HTTPException, Request

from litellm.proxy._types import UserAPIKeyAuth


async def user_api_key_auth(request: Request, api_key: str) -> UserAPIKeyAuth:
    key = api_key.removeprefix("Bearer ").strip()
    parts = key.split("-")
    if len(parts) >= 5 and parts[0] == "sk" and parts[1] == "rc":
        try:
            rpm, tpm = int(parts[2]), int(parts[3])
        except ValueError:
            pass
        else:
            parallel = None
            if parts[4].startswith("p") and parts[4][1:].isdigit() and len(parts) >= 6:
                parallel = int(parts[4][1:])
            return UserAPIKeyAuth(
                api_key=key, rpm_limit=rpm, tpm_limit=tpm, max_parallel_requests=parallel
            )
    raise HTTPException(status_code=401, detail="unknown key: use sk-rc-<rpm>-<tpm>[-p<max_parallel>]-<suffix>")
