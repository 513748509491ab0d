-- wrk script for benchmarks/api_bench.py. One script for the four cases, configured by
-- environment variables (wrk passes no options to scripts other than trailing arguments, and
-- environment variables reach every thread's Lua state alike):
--   KASIR_BENCH_CASE        hello | check | create | status
--   KASIR_BENCH_API_KEY     the merchant's API key (check, create; status is public)
--   KASIR_BENCH_INVOICES    comma-separated invoice ids to rotate over (check, status)
--   KASIR_BENCH_AMOUNT_MIN, KASIR_BENCH_AMOUNT_MAX   amount range (create)
--   KASIR_BENCH_OUT         file that done() writes its JSON summary to

local case = os.getenv("KASIR_BENCH_CASE") or "hello"
local api_key = os.getenv("KASIR_BENCH_API_KEY") or ""
local amount_min = tonumber(os.getenv("KASIR_BENCH_AMOUNT_MIN") or "1000")
local amount_max = tonumber(os.getenv("KASIR_BENCH_AMOUNT_MAX") or "500000")

local fixed = {}
local next_index = 0
local create_headers = nil

local thread_count = 0
function setup(thread)
   thread_count = thread_count + 1
   thread:set("thread_id", thread_count)
end

function init(args)
   -- Each thread its own seed, or every thread would send the same amounts in the same order.
   math.randomseed(os.time() * 1000 + (thread_id or 0))
   if case == "hello" then
      fixed[1] = wrk.format("GET", "/hello")
   elseif case == "check" then
      -- Built once here, so a request costs wrk a table lookup, as the hello case does.
      for invoice in string.gmatch(os.getenv("KASIR_BENCH_INVOICES") or "", "[^,]+") do
         fixed[#fixed + 1] = wrk.format("GET", "/api/check-payment.php?invoice=" .. invoice, { ["X-API-Key"] = api_key })
      end
   elseif case == "status" then
      -- The pay page's poll, built once as check is; no X-API-Key: the pay page is public.
      for invoice in string.gmatch(os.getenv("KASIR_BENCH_INVOICES") or "", "[^,]+") do
         fixed[#fixed + 1] = wrk.format("GET", "/pay/status?invoice=" .. invoice)
      end
   elseif case == "create" then
      create_headers = { ["X-API-Key"] = api_key, ["Content-Type"] = "application/json" }
   else
      error("unknown KASIR_BENCH_CASE " .. case)
   end
end

function request()
   if create_headers then
      -- A fresh amount each time: one amount has only 999 unique codes.
      local body = '{"amount": ' .. math.random(amount_min, amount_max) .. '}'
      return wrk.format("POST", "/api/create-payment.php", create_headers, body)
   end
   next_index = next_index % #fixed + 1
   return fixed[next_index]
end

function done(summary, latency, requests)
   local out = assert(io.open(assert(os.getenv("KASIR_BENCH_OUT"), "KASIR_BENCH_OUT is not set"), "w"))
   local e = summary.errors
   out:write(string.format(
      '{"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, "max_us": %d, '
         .. '"status_errors": %d, "connect_errors": %d, "read_errors": %d, "write_errors": %d, "timeouts": %d}',
      summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), latency.max,
      e.status, e.connect, e.read, e.write, e.timeout
   ))
   out:close()
end
