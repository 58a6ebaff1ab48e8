-- wrk script for footfall's collector: every request is one visitor's page worth of events.
--
--   wrk -t2 -c32 -d20s -s bench/collect.lua 'http://127.0.0.1:PORT/v1/collect?measurement_id=G-...'
--
-- Each request is POST /v1/collect with a JSON body of EVENTS_PER_REQUEST events for one visitor
-- (page_view, scroll, an interaction, user_engagement, and the next page_view), a browser
-- User-Agent and a public X-Forwarded-For address (the server must run with
-- FOOTFALL_TRUST_FORWARDED_FOR=true to use it). Visitors come from a per-thread pool, so the same
-- visitor returns during the run and the processor has to extend stored sessions, as on a real site.
--
-- event_id = <run id>-t<thread>-<request counter>-<event index>: unique across threads and runs
-- (the run id comes from BENCH_RUN_ID, else from the clock and a random draw).
--
-- done() prints machine-readable lines for bench/run.sh:
--   BENCH requests=... events=... accepted=... non200=... socket_errors=... rps=... eps=...
--         p50_ms=... p90_ms=... p99_ms=... max_ms=... mean_ms=... duration_s=...
--   BENCH_STATUS 200=... 503=...

local EVENTS_PER_REQUEST = 5
local VISITORS_PER_THREAD = tonumber(os.getenv("BENCH_VISITORS") or "") or 5000
local SITE = "https://shop.example.com"

local PAGES = {
  { "/", "Home" },
  { "/pricing", "Pricing" },
  { "/products", "All products" },
  { "/products/kettle", "Kettle" },
  { "/products/teapot", "Teapot" },
  { "/products/tea-cups", "Tea cups" },
  { "/blog", "Blog" },
  { "/blog/brewing-guide", "How to brew" },
  { "/blog/green-tea", "Green tea, explained" },
  { "/about", "About us" },
  { "/contact", "Contact" },
  { "/cart", "Cart" },
  { "/search", "Search" },
  { "/account/orders", "Your orders" },
}

local AGENTS = {
  "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36",
  "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36 Edg/130.0.2849.68",
  "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:132.0) Gecko/20100101 Firefox/132.0",
  "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
  "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36",
  "Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0",
  "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
  "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.6723.102 Mobile Safari/537.36",
  "Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/26.0 Chrome/122.0.0.0 Mobile Safari/537.36",
  "Mozilla/5.0 (iPad; CPU OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
}

-- first two octets of public blocks (United States, United Kingdom, Germany, France, Japan,
-- Brazil, India, Canada, Australia, South Africa); the last two vary per visitor
local NETWORKS = {
  "23.20", "86.128", "85.214", "90.0", "126.0", "177.0", "49.36", "24.48", "1.120", "41.0",
}

local REFERRERS = {
  "", "", "",
  "https://www.google.com/",
  "https://www.bing.com/search?q=teapot",
  "https://duckduckgo.com/",
  "https://l.facebook.com/l.php?u=x",
  "https://t.co/AbCd",
  "https://news.tea-lovers.org/best-of-2026",
}

local LANGUAGES = { "en-us", "en-gb", "de-de", "fr-fr", "ja-jp", "pt-br" }

-- main thread: give every thread its number -------------------------------------------------

local threads = {}

function setup(thread)
  thread:set("tid", #threads + 1)
  table.insert(threads, thread)
end

-- each thread ------------------------------------------------------------------------------

local run_id, counter
local visitors = {}
-- globals, so that done() can read them from each thread with thread:get()
requests_ok, non200, accepted = 0, 0, 0
statuses = {}

function init(args)
  run_id = os.getenv("BENCH_RUN_ID") or string.format("%x%04x", os.time(), math.random(0, 65535))
  math.randomseed(os.time() * 1000 + tid * 7919 + math.floor((os.clock() * 1e6) % 1e6))
  counter = 0
end

local function pick(list)
  return list[math.random(#list)]
end

local function visitor(n)
  local v = visitors[n]
  if v == nil then
    local net = pick(NETWORKS)
    v = {
      client_id = string.format("%d.%d%05d", math.random(100000000, 999999999), tid, n),
      session_id = tostring(os.time() - math.random(0, 600)),
      agent = pick(AGENTS),
      ip = string.format("%s.%d.%d", net, math.random(0, 255), math.random(1, 254)),
      language = pick(LANGUAGES),
      page = math.random(#PAGES),
    }
    visitors[n] = v
  end
  return v
end

local function event(name, id, params)
  local parts = {}
  for i = 1, #params, 2 do
    local value = params[i + 1]
    if type(value) == "string" then
      value = '"' .. value .. '"'
    end
    parts[#parts + 1] = '"' .. params[i] .. '":' .. value
  end
  return '{"name":"' .. name .. '","event_id":"' .. id .. '","params":{' .. table.concat(parts, ",") .. "}}"
end

local function interaction(path)
  if path:find("^/products/") then
    return "add_to_cart", { "item_name", path:match("[^/]+$"), "value", 29.5, "currency", "USD" }
  elseif path == "/cart" then
    return "begin_checkout", { "value", math.random(15, 240) + 0.5, "currency", "USD" }
  elseif path == "/contact" then
    return "generate_lead", { "form_id", "contact" }
  elseif path == "/search" then
    return "search", { "search_term", pick({ "teapot", "green tea", "kettle", "cups" }) }
  end
  return "click", { "link_domain", "tea-lovers.org", "outbound", "true" }
end

function request()
  counter = counter + 1
  local v = visitor(math.random(VISITORS_PER_THREAD))
  local prefix = string.format("%s-t%d-%d-", run_id, tid, counter)
  local from = PAGES[v.page]
  v.page = math.random(#PAGES)
  local to = PAGES[v.page]
  local url = SITE .. from[1]
  local next_url = SITE .. to[1]
  local referrer = pick(REFERRERS)
  local common = { "page_location", url, "page_title", from[2], "session_id", v.session_id, "language", v.language }
  local function with(extra)
    local out = {}
    for _, x in ipairs(common) do out[#out + 1] = x end
    for _, x in ipairs(extra) do out[#out + 1] = x end
    return out
  end
  local view = with({ "engagement_time_msec", math.random(100, 15000) })
  if referrer ~= "" then
    view[#view + 1] = "page_referrer"
    view[#view + 1] = referrer
  end
  local name, params = interaction(from[1])
  local events = {
    event("page_view", prefix .. "1", view),
    event("scroll", prefix .. "2", with({ "percent_scrolled", 90 })),
    event(name, prefix .. "3", with(params)),
    event("user_engagement", prefix .. "4", with({ "engagement_time_msec", math.random(2000, 60000) })),
    event("page_view", prefix .. "5", {
      "page_location", next_url, "page_title", to[2], "page_referrer", url,
      "session_id", v.session_id, "language", v.language,
      "engagement_time_msec", math.random(100, 15000),
    }),
  }
  local body = '{"client_id":"' .. v.client_id .. '","events":[' .. table.concat(events, ",") .. "]}"
  return wrk.format("POST", wrk.path, {
    ["Content-Type"] = "application/json",
    ["User-Agent"] = v.agent,
    ["X-Forwarded-For"] = v.ip,
    ["Accept-Language"] = v.language,
  }, body)
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
  if status == 200 then
    requests_ok = requests_ok + 1
    accepted = accepted + (tonumber(body:match('"accepted":(%d+)')) or 0)
  else
    non200 = non200 + 1
  end
end

-- main thread again: add up the threads and print the summary -----------------------------

function done(summary, latency, requests)
  local ok, bad, acc = 0, 0, 0
  local by_status = {}
  for _, thread in ipairs(threads) do
    ok = ok + thread:get("requests_ok")
    bad = bad + thread:get("non200")
    acc = acc + thread:get("accepted")
    for status, n in pairs(thread:get("statuses")) do
      by_status[status] = (by_status[status] or 0) + n
    end
  end
  local e = summary.errors
  local seconds = summary.duration / 1e6
  local responses = ok + bad
  io.write(string.format(
    "BENCH requests=%d events=%d accepted=%d non200=%d socket_errors=%d timeouts=%d "
      .. "rps=%.1f eps=%.1f p50_ms=%.2f p90_ms=%.2f p99_ms=%.2f max_ms=%.2f mean_ms=%.2f "
      .. "duration_s=%.2f events_per_request=%d\n",
    responses, responses * EVENTS_PER_REQUEST, acc, bad, e.connect + e.read + e.write, e.timeout,
    responses / seconds, acc / seconds,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000,
    latency.max / 1000, latency.mean / 1000, seconds, EVENTS_PER_REQUEST
  ))
  local parts = {}
  for status, n in pairs(by_status) do
    parts[#parts + 1] = string.format("%d=%d", status, n)
  end
  table.sort(parts)
  io.write("BENCH_STATUS " .. table.concat(parts, " ") .. "\n")
end
