-- wrk script: POST /v1/sms with a unique X-Nonce and a fresh X-Timestamp on
-- every request (the replay window refuses anything else). The token comes
-- from SMS_LOAD_TOKEN. Prints one RESULT line for load/run-sms.sh.
local token = os.getenv("SMS_LOAD_TOKEN") or ""
local body = '{"to":"+919800000001","message":"Your OTP is 000000. It expires in 5 minutes.","type":"otp"}'
local counter = 0

-- Nonces must never repeat, not even across runs against the same Redis:
-- the tag mixes the start time with a random number per thread.
math.randomseed(os.time())
function setup(thread)
  thread:set("tag", string.format("%x%08x", os.time(), math.random(0, 0x7fffffff)))
end

request = function()
  counter = counter + 1
  local headers = {
    ["Authorization"] = "Bearer " .. token,
    ["Content-Type"] = "application/json",
    ["X-Timestamp"] = tostring(os.time()),
    ["X-Nonce"] = string.format("load-%s-%012d", tag, counter),
  }
  return wrk.format("POST", "/v1/sms", headers, body)
end

done = function(summary, latency, requests)
  local secs = summary.duration / 1e6
  io.write(string.format("RESULT requests=%d rps=%.0f p50_us=%d p99_us=%d non2xx=%d errors=%d\n",
    summary.requests, summary.requests / secs, latency:percentile(50), latency:percentile(99),
    summary.errors.status, summary.errors.connect + summary.errors.read + summary.errors.write
    + summary.errors.timeout))
end
