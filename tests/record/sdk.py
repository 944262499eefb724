"""What the official openai SDK gets from a gateway, as JSON on stdout.

    python sdk.py BASE_URL [TTFT_STREAMS]

Sends one non-streaming and one streaming chat completion (model `ratecheck-model`) and prints
each one's result (text, finish reason, model, chunk count) and the rate-limit headers the SDK
received. With TTFT_STREAMS, also times that many streams: milliseconds from the call to the
first chunk with content. The key comes from OPENAI_API_KEY.
"""

import json
import sys
import time

import openai

base = sys.argv[1]
streams = int(sys.argv[2]) if len(sys.argv) > 2 else 0
client = openai.OpenAI(base_url=base, max_retries=0, timeout=60)
messages = [{"role": "user", "content": "Say OK"}]


def rate_headers(headers):
    return {k: v for k, v in headers.items() if "ratelimit" in k.lower()}


raw = client.chat.completions.with_raw_response.create(
    model="ratecheck-model", messages=messages, max_tokens=8
)
done = raw.parse()
out = {
    "non_stream": {
        "text": done.choices[0].message.content,
        "finish_reason": done.choices[0].finish_reason,
        "model": done.model,
        "headers": rate_headers(raw.headers),
    }
}

with client.chat.completions.with_streaming_response.create(
    model="ratecheck-model", messages=messages, max_tokens=8, stream=True
) as resp:
    text, chunks, finish = "", 0, None
    for chunk in resp.parse():
        chunks += 1
        if chunk.choices:
            text += chunk.choices[0].delta.content or ""
            finish = chunk.choices[0].finish_reason or finish
    out["stream"] = {
        "text": text,
        "finish_reason": finish,
        "chunks": chunks,
        "headers": rate_headers(resp.headers),
    }

ttft = []
for _ in range(streams):
    started = time.perf_counter()
    stream = client.chat.completions.create(
        model="ratecheck-model", messages=messages, max_tokens=8, stream=True
    )
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            ttft.append((time.perf_counter() - started) * 1000.0)
            break
    stream.close()
out["ttft_ms"] = ttft
print(json.dumps(out))
