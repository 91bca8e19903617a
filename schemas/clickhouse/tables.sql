-- Splitstream event tables. One table per topic family (see schemas/topics.json "table").
-- $database is a string.Template placeholder filled from settings (schemas.registry.table_ddl).
-- Each statement ends with a semicolon at the end of a line (comments contain none), so code can split them.
-- The same SQL runs on chDB and on a ClickHouse server.
-- Every table: ReplacingMergeTree ORDER BY event_id, so re-delivered copies of one event collapse
-- (query with FINAL or GROUP BY event_id for exact counts). non_replicated_deduplication_window
-- makes a re-inserted batch with the same insert_deduplication_token a no-op.
-- Nested objects are flattened: features.* -> location/total_sqft/bath/bhk, reply_to.* -> reply_topic/reply_partition,
-- timings.* -> queued_ms/predict_ms/batch_size, other objects <name>.<field> -> <name>_<field>.
-- Free-form objects (metrics, inputs, statistics, thresholds, headers) are JSON text in String columns.

CREATE DATABASE IF NOT EXISTS $database;

CREATE TABLE IF NOT EXISTS $database.requests
(
    event_id String,
    event_type LowCardinality(String),
    schema_version UInt16,
    occurred_at DateTime64(3, 'UTC'),
    request_id String,
    experiment_id String,
    variant LowCardinality(String),
    assignment LowCardinality(String),
    split_key Nullable(String),
    slot LowCardinality(String),
    shadow Bool,
    source LowCardinality(String),
    location String,
    total_sqft Float64,
    bath UInt8,
    bhk UInt8,
    reply_topic String,
    reply_partition UInt32,
    deadline_at DateTime64(3, 'UTC'),
    _topic LowCardinality(String),
    _partition UInt32,
    _offset UInt64,
    _ingested_at DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(occurred_at)
ORDER BY event_id
SETTINGS non_replicated_deduplication_window = 1000;

CREATE TABLE IF NOT EXISTS $database.replies
(
    event_id String,
    event_type LowCardinality(String),
    schema_version UInt16,
    occurred_at DateTime64(3, 'UTC'),
    request_id String,
    experiment_id String,
    variant LowCardinality(String),
    slot LowCardinality(String),
    shadow Bool,
    model_version Nullable(String),
    status LowCardinality(String),
    price_lakhs Nullable(Float64),
    error_code Nullable(String),
    error_message Nullable(String),
    error_field Nullable(String),
    predictor_id String,
    queued_ms Float64,
    predict_ms Float64,
    batch_size UInt32,
    _topic LowCardinality(String),
    _partition UInt32,
    _offset UInt64,
    _ingested_at DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(occurred_at)
ORDER BY event_id
SETTINGS non_replicated_deduplication_window = 1000;

CREATE TABLE IF NOT EXISTS $database.score_requests
(
    event_id String,
    event_type LowCardinality(String) DEFAULT 'score.request',
    schema_version UInt16 DEFAULT 1,
    occurred_at DateTime64(3, 'UTC'),
    id String,
    key Nullable(String),
    location String,
    total_sqft Float64,
    bath UInt8,
    bhk UInt8,
    _topic LowCardinality(String),
    _partition UInt32,
    _offset UInt64,
    _ingested_at DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(occurred_at)
ORDER BY event_id
SETTINGS non_replicated_deduplication_window = 1000;

CREATE TABLE IF NOT EXISTS $database.score_results
(
    event_id String,
    event_type LowCardinality(String),
    schema_version UInt16,
    occurred_at DateTime64(3, 'UTC'),
    id String,
    request_id String,
    experiment_id String,
    variant LowCardinality(String),
    model_version Nullable(String),
    status LowCardinality(String),
    price_lakhs Nullable(Float64),
    error_code Nullable(String),
    error_message Nullable(String),
    error_field Nullable(String),
    _topic LowCardinality(String),
    _partition UInt32,
    _offset UInt64,
    _ingested_at DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(occurred_at)
ORDER BY event_id
SETTINGS non_replicated_deduplication_window = 1000;

CREATE TABLE IF NOT EXISTS $database.feedback
(
    event_id String,
    event_type LowCardinality(String),
    schema_version UInt16,
    occurred_at DateTime64(3, 'UTC'),
    request_id String,
    actual_price_lakhs Nullable(Float64),
    source LowCardinality(String),
    feedback_type LowCardinality(Nullable(String)),
    note Nullable(String),
    _topic LowCardinality(String),
    _partition UInt32,
    _offset UInt64,
    _ingested_at DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(occurred_at)
ORDER BY event_id
SETTINGS non_replicated_deduplication_window = 1000;

CREATE TABLE IF NOT EXISTS $database.model_events
(
    event_id String,
    event_type LowCardinality(String),
    schema_version UInt16,
    occurred_at DateTime64(3, 'UTC'),
    model_version Nullable(String),
    generation Nullable(UInt64),
    predictor_id Nullable(String),
    slot LowCardinality(Nullable(String)),
    ok Nullable(Bool),
    experiment_id Nullable(String),
    variant LowCardinality(Nullable(String)),
    kind LowCardinality(Nullable(String)),
    actor_kind LowCardinality(Nullable(String)),
    actor_name Nullable(String),
    payload String,
    _topic LowCardinality(String),
    _partition UInt32,
    _offset UInt64,
    _ingested_at DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(occurred_at)
ORDER BY event_id
SETTINGS non_replicated_deduplication_window = 1000;

CREATE TABLE IF NOT EXISTS $database.commands
(
    event_id String,
    event_type LowCardinality(String),
    schema_version UInt16,
    occurred_at DateTime64(3, 'UTC'),
    command_id Nullable(String),
    action LowCardinality(Nullable(String)),
    operator Nullable(String),
    outcome LowCardinality(Nullable(String)),
    ledger_sequence Nullable(UInt64),
    payload String,
    _topic LowCardinality(String),
    _partition UInt32,
    _offset UInt64,
    _ingested_at DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(occurred_at)
ORDER BY event_id
SETTINGS non_replicated_deduplication_window = 1000;

CREATE TABLE IF NOT EXISTS $database.ledger
(
    event_id String,
    event_type LowCardinality(String),
    schema_version UInt16,
    occurred_at DateTime64(3, 'UTC'),
    sequence UInt64,
    experiment_id Nullable(String),
    action LowCardinality(String),
    actor_kind LowCardinality(String),
    actor_name String,
    reasons Array(String),
    inputs String,
    statistics String,
    thresholds String,
    slots_before_best Nullable(String),
    slots_before_candidate Nullable(String),
    slots_before_previous_best Nullable(String),
    slots_before_generation UInt64,
    slots_after_best Nullable(String),
    slots_after_candidate Nullable(String),
    slots_after_previous_best Nullable(String),
    slots_after_generation UInt64,
    etag_before Nullable(String),
    etag_after Nullable(String),
    missing_acks Array(String),
    _topic LowCardinality(String),
    _partition UInt32,
    _offset UInt64,
    _ingested_at DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(occurred_at)
ORDER BY event_id
SETTINGS non_replicated_deduplication_window = 1000;

CREATE TABLE IF NOT EXISTS $database.deadletters
(
    event_id String,
    event_type LowCardinality(String),
    schema_version UInt16,
    occurred_at DateTime64(3, 'UTC'),
    source_topic LowCardinality(String),
    source_partition UInt32,
    source_offset UInt64,
    consumer LowCardinality(String),
    reason String,
    error_type LowCardinality(String),
    payload String,
    payload_encoding LowCardinality(String),
    payload_truncated Bool,
    payload_bytes UInt64,
    headers String,
    _topic LowCardinality(String),
    _partition UInt32,
    _offset UInt64,
    _ingested_at DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(occurred_at)
ORDER BY event_id
SETTINGS non_replicated_deduplication_window = 1000;
