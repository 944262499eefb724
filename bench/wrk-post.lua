-- wrk: the same minimal chat request ratecheck load and oha send.
wrk.method = "POST"
wrk.headers["content-type"] = "application/json"
wrk.body = '{"model":"m","messages":[{"role":"user","content":"Reply with OK."}],"max_tokens":16}'
