-- footfall embedded store, schema version 2 (migrate.py brings older files here). Statements
-- are idempotent; applied at open.

CREATE TABLE IF NOT EXISTS meta (
    key VARCHAR PRIMARY KEY,
    value VARCHAR NOT NULL
);

-- accounts, properties, streams, API secrets and API keys, one msgpack document each;
-- lookup is the second unique key (measurement id, key or secret prefix) or empty
CREATE TABLE IF NOT EXISTS tenancy (
    kind VARCHAR NOT NULL,
    id VARCHAR NOT NULL,
    lookup VARCHAR NOT NULL,
    account_id VARCHAR NOT NULL,
    property_id VARCHAR NOT NULL,
    doc BLOB NOT NULL,
    PRIMARY KEY (kind, id)
);
-- no two records of a kind share a lookup (NULLs, the records without one, never clash)
CREATE UNIQUE INDEX IF NOT EXISTS tenancy_lookup ON tenancy (kind, nullif(lookup, ''));

-- usage per property per hour: requests, bytes, events accepted, rejected (by reason), ...
CREATE TABLE IF NOT EXISTS usage (
    property_id VARCHAR NOT NULL,
    hour BIGINT NOT NULL,
    metric VARCHAR NOT NULL,
    value BIGINT NOT NULL,
    PRIMARY KEY (property_id, hour, metric)
);

-- every decoded event as received (bots included), so history can be re-processed;
-- the client address is kept in its own column and cleared after the raw retention window
CREATE TABLE IF NOT EXISTS raw_events (
    property_id VARCHAR NOT NULL,
    event_id VARCHAR NOT NULL,
    received_at BIGINT NOT NULL,
    event_time BIGINT NOT NULL,
    ip VARCHAR,
    payload BLOB NOT NULL,
    PRIMARY KEY (property_id, event_id)
);

CREATE TABLE IF NOT EXISTS events (
    property_id VARCHAR NOT NULL,
    event_id VARCHAR NOT NULL,
    event_name VARCHAR NOT NULL,
    event_time BIGINT NOT NULL,
    received_at BIGINT NOT NULL,
    event_date DATE NOT NULL,
    event_hour TINYINT NOT NULL,
    visitor_id VARCHAR NOT NULL,
    client_id VARCHAR,
    user_id VARCHAR,
    client_session_id VARCHAR,
    session_key VARCHAR NOT NULL,
    page_location VARCHAR NOT NULL,
    page_host VARCHAR NOT NULL,
    page_path VARCHAR NOT NULL,
    page_title VARCHAR NOT NULL,
    page_referrer VARCHAR NOT NULL,
    source VARCHAR NOT NULL,
    medium VARCHAR NOT NULL,
    campaign VARCHAR NOT NULL,
    campaign_id VARCHAR NOT NULL,
    term VARCHAR NOT NULL,
    content VARCHAR NOT NULL,
    click_id VARCHAR NOT NULL,
    click_id_type VARCHAR NOT NULL,
    channel_group VARCHAR NOT NULL,
    country_id VARCHAR NOT NULL,
    country VARCHAR NOT NULL,
    device_category VARCHAR NOT NULL,
    browser VARCHAR NOT NULL,
    browser_version VARCHAR NOT NULL,
    os VARCHAR NOT NULL,
    os_version VARCHAR NOT NULL,
    language_code VARCHAR NOT NULL,
    language VARCHAR NOT NULL,
    screen_resolution VARCHAR NOT NULL,
    engagement_time_ms BIGINT NOT NULL,
    is_key_event BOOLEAN NOT NULL,
    value_micros BIGINT, -- integer micros of the property's currency; NULL: no value or no rate
    currency VARCHAR NOT NULL,
    flags VARCHAR NOT NULL,
    params MAP(VARCHAR, VARCHAR) NOT NULL,
    generation INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (property_id, generation, event_id)
);

CREATE TABLE IF NOT EXISTS sessions (
    property_id VARCHAR NOT NULL,
    session_key VARCHAR NOT NULL,
    visitor_id VARCHAR NOT NULL,
    client_session_id VARCHAR,
    start_time BIGINT NOT NULL,
    end_time BIGINT NOT NULL,
    event_count INTEGER NOT NULL,
    page_views INTEGER NOT NULL,
    engagement_ms BIGINT NOT NULL,
    key_events INTEGER NOT NULL,
    engaged BOOLEAN NOT NULL,
    landing_page VARCHAR NOT NULL,
    source VARCHAR NOT NULL,
    medium VARCHAR NOT NULL,
    campaign VARCHAR NOT NULL,
    channel_group VARCHAR NOT NULL,
    generation INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (property_id, generation, session_key)
);

-- each visitor's first event (by time, then event_id): the event that makes a new user
CREATE TABLE IF NOT EXISTS visitors (
    property_id VARCHAR NOT NULL,
    visitor_id VARCHAR NOT NULL,
    first_time BIGINT NOT NULL,
    first_event_id VARCHAR NOT NULL,
    generation INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (property_id, generation, visitor_id)
);

CREATE TABLE IF NOT EXISTS dead_letters (
    property_id VARCHAR NOT NULL,
    event_id VARCHAR NOT NULL,
    reason VARCHAR NOT NULL,
    detail VARCHAR NOT NULL,
    received_at BIGINT NOT NULL,
    payload BLOB NOT NULL,
    generation INTEGER NOT NULL DEFAULT 0
);

-- derived data (events, sessions, visitors, dead letters) is tagged with a generation: reports
-- and the processor use each property's live one (0 when it has no row here); a rebuild writes
-- the next beside it and switches this row in one transaction
CREATE TABLE IF NOT EXISTS generations (
    property_id VARCHAR PRIMARY KEY,
    live INTEGER NOT NULL
);

-- each property's latest rebuild; the cursor and counts advance in the transaction that writes
-- the rows they cover, so a rebuild resumes exactly where it stopped
CREATE TABLE IF NOT EXISTS rebuilds (
    property_id VARCHAR PRIMARY KEY,
    generation INTEGER NOT NULL,
    state VARCHAR NOT NULL,
    after_received_at BIGINT,
    after_event_id VARCHAR,
    raw_read BIGINT NOT NULL,
    raw_total BIGINT NOT NULL,
    started_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    finished_at BIGINT,
    last_error VARCHAR NOT NULL,
    settled_at BIGINT
);

-- exchange rates loaded by the operator: units of currency per unit of base, exact decimal text
CREATE TABLE IF NOT EXISTS exchange_rates (
    base VARCHAR NOT NULL,
    currency VARCHAR NOT NULL,
    day DATE NOT NULL,
    rate VARCHAR NOT NULL,
    PRIMARY KEY (base, currency, day)
);
