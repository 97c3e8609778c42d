-- wrk script: GET /livez. Prints one summary line that load/run-livez.sh parses.
wrk.method = "GET"
wrk.path = "/livez"

done = function(summary, latency, requests)
  local secs = summary.duration / 1e6
  io.write(string.format("RESULT requests=%d rps=%.0f p50_us=%d p99_us=%d non2xx=%d errors=%d\n",
    summary.requests, summary.requests / secs, latency:percentile(50), latency:percentile(99),
    summary.errors.status, summary.errors.connect + summary.errors.read + summary.errors.write
    + summary.errors.timeout))
end
