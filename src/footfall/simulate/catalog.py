"""The simulator's world: pages, browsers, countries, traffic sources, each with what a
correct analytics backend must report for it (GA4's names and channel rules).

These expectations are stated here independently of footfall's pipeline: the end-to-end tests
compare footfall's reports with them.
"""

from __future__ import annotations

import msgspec

SITE = "shop.example.com"


class Page(msgspec.Struct, frozen=True):
    path: str
    title: str
    weight: float


PAGES = [
    Page("/", "Home", 10),
    Page("/pricing", "Pricing", 4),
    Page("/products", "All products", 6),
    Page("/products/kettle", "Kettle", 3),
    Page("/products/teapot", "Teapot", 3),
    Page("/blog", "Blog", 2),
    Page("/blog/brewing-guide", "How to brew", 3),
    Page("/blog/green-tea", "Green tea, explained", 2),
    Page("/about", "About us", 1),
    Page("/contact", "Contact", 1),
    Page("/cart", "Cart", 2),
]


class Agent(msgspec.Struct, frozen=True):
    user_agent: str
    browser: str
    os: str
    device: str  # GA4 deviceCategory
    weight: float


AGENTS = [
    Agent(
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/130.0.0.0 Safari/537.36",
        "Chrome",
        "Windows",
        "desktop",
        30,
    ),
    Agent(
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/130.0.0.0 Safari/537.36 Edg/130.0.2849.68",
        "Edge",
        "Windows",
        "desktop",
        8,
    ),
    Agent(
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:132.0) Gecko/20100101 Firefox/132.0",
        "Firefox",
        "Windows",
        "desktop",
        5,
    ),
    Agent(
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Version/18.1 Safari/605.1.15",
        "Safari",
        "Macintosh",
        "desktop",
        10,
    ),
    Agent(
        "Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0",
        "Firefox",
        "Linux",
        "desktop",
        3,
    ),
    Agent(
        "Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/130.0.0.0 Safari/537.36",
        "Chrome",
        "Chrome OS",
        "desktop",
        2,
    ),
    Agent(
        "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Version/18.1 Mobile/15E148 Safari/604.1",
        "Safari",
        "iOS",
        "mobile",
        18,
    ),
    Agent(
        "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/130.0.6723.102 Mobile Safari/537.36",
        "Chrome",
        "Android",
        "mobile",
        14,
    ),
    Agent(
        "Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) "
        "SamsungBrowser/26.0 Chrome/122.0.0.0 Mobile Safari/537.36",
        "Samsung Internet",
        "Android",
        "mobile",
        4,
    ),
    Agent(
        "Mozilla/5.0 (iPad; CPU OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Version/18.1 Mobile/15E148 Safari/604.1",
        "Safari",
        "iOS",
        "tablet",
        4,
    ),
    Agent(
        "Mozilla/5.0 (Linux; Android 13; SM-X710) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/130.0.0.0 Safari/537.36",
        "Chrome",
        "Android",
        "tablet",
        2,
    ),
]

# never counted: crawlers, scripts and headless browsers
BOT_AGENTS = [
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
    "Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/130.0.0.0 Safari/537.36",
    "curl/8.5.0",
    "python-requests/2.32.3",
]


class Country(msgspec.Struct, frozen=True):
    prefix: str  # first two octets; the simulator varies the last two
    third_octets: tuple[int, ...]
    country_id: str
    name: str
    weight: float


# blocks checked against the bundled country database (tests/test_simulate.py keeps them honest)
COUNTRIES = [
    Country("23.20", (0,), "US", "United States", 30),
    Country("86.128", (0,), "GB", "United Kingdom", 10),
    Country("85.214", (0,), "DE", "Germany", 9),
    Country("90.0", (0,), "FR", "France", 7),
    Country("126.0", (0,), "JP", "Japan", 6),
    Country("177.0", (0,), "BR", "Brazil", 6),
    Country("49.36", (0,), "IN", "India", 8),
    Country("24.48", (0,), "CA", "Canada", 5),
    Country("1.120", (0,), "AU", "Australia", 4),
    Country("41.0", (0,), "ZA", "South Africa", 2),
    Country("10.20", (0, 1, 2, 3), "", "(not set)", 2),  # a private address: no country
]


class Language(msgspec.Struct, frozen=True):
    code: str
    name: str
    weight: float


LANGUAGES = [
    Language("en-us", "English", 45),
    Language("en-gb", "English", 10),
    Language("de-de", "German", 10),
    Language("fr-fr", "French", 8),
    Language("ja-jp", "Japanese", 6),
    Language("pt-br", "Portuguese", 6),
]


class Source(msgspec.Struct, frozen=True):
    referrer: str  # "" for none
    query: str  # added to the landing page URL
    source: str
    medium: str
    campaign: str
    channel: str
    weight: float


SOURCES = [
    Source("", "", "(direct)", "(none)", "(direct)", "Direct", 25),
    Source("https://www.google.com/", "", "google", "organic", "(organic)", "Organic Search", 22),
    Source(
        "https://www.bing.com/search?q=teapot",
        "",
        "bing",
        "organic",
        "(organic)",
        "Organic Search",
        4,
    ),
    Source(
        "https://duckduckgo.com/", "", "duckduckgo", "organic", "(organic)", "Organic Search", 3
    ),
    Source(
        "https://l.facebook.com/l.php?u=x",
        "",
        "l.facebook.com",
        "referral",
        "(referral)",
        "Organic Social",
        5,
    ),
    Source("https://t.co/AbCd", "", "t.co", "referral", "(referral)", "Organic Social", 3),
    Source(
        "https://www.youtube.com/watch?v=abc",
        "",
        "youtube.com",
        "referral",
        "(referral)",
        "Organic Video",
        2,
    ),
    Source(
        "https://news.tea-lovers.org/best-of-2026",
        "",
        "news.tea-lovers.org",
        "referral",
        "(referral)",
        "Referral",
        6,
    ),
    Source(
        "",
        "utm_source=newsletter&utm_medium=email&utm_campaign=winter_sale",
        "newsletter",
        "email",
        "winter_sale",
        "Email",
        6,
    ),
    Source(
        "https://www.google.com/",
        "utm_source=google&utm_medium=cpc&utm_campaign=brand",
        "google",
        "cpc",
        "brand",
        "Paid Search",
        6,
    ),
    Source(
        "https://www.google.com/", "gclid=Cj0KCQiA", "google", "cpc", "(not set)", "Paid Search", 3
    ),
    Source(
        "https://l.facebook.com/",
        "utm_source=facebook&utm_medium=paid_social&utm_campaign=launch",
        "facebook",
        "paid_social",
        "launch",
        "Paid Social",
        3,
    ),
    Source(
        "",
        "utm_source=dv360&utm_medium=display&utm_campaign=retarget",
        "dv360",
        "display",
        "retarget",
        "Display",
        2,
    ),
    Source(
        "",
        "utm_source=partnerblog&utm_medium=affiliate&utm_campaign=reviews",
        "partnerblog",
        "affiliate",
        "reviews",
        "Affiliates",
        2,
    ),
    Source(
        "",
        "utm_source=qr&utm_medium=print&utm_campaign=flyer",
        "qr",
        "print",
        "flyer",
        "Unassigned",
        1,
    ),
]

# a new property's key events, as GA4 sets them (the app ones never occur on this web site)
KEY_EVENTS = ("purchase", "first_open", "in_app_purchase")
