-- Splitstream analysis views over the event tables of tables.sql (schemas.registry.view_ddl).
-- $database is a string.Template placeholder filled from settings. Each statement ends with a
-- semicolon at the end of a line (comments contain none), so code can split them.
-- CREATE OR REPLACE: starting the sink again brings every view up to this file.
-- The same SQL runs on chDB and on a ClickHouse server (tests run it on chDB).
--
-- Duplicates never count twice: a re-delivered event (same event_id) or a second reply to one
-- request collapses with LIMIT 1 BY request_id (the earliest request, reply and feedback with
-- a price). Feedback counts once per request: the first priced one; later ones are
-- corrections, kept and listed by v_feedback_corrections, never counted (a later writer cannot
-- replace the evidence). Shadow rows (mirrored prod requests scored by the candidate) are
-- never served, so they are left out of every served count and only v_paired reads them.
--
-- v_served_requests  one row per served request: its first reply, latency, first feedback.
-- v_variant_summary  per experiment and variant: requests, errors, latency, feedback, MAE, RMSE.
-- v_variant_hourly   the same per hour of the request.
-- v_srm              per experiment: sample-ratio-mismatch chi-square p-value (a parameterized
--                    view: SELECT * FROM v_srm(candidate_share = 0.2)).
-- v_paired           per experiment: |prod error| - |candidate error| on shadow-scored requests.
-- v_drift_bins       per served request and feature: its bin and the training shares (drift's base).
-- v_drift_psi        per experiment, variant, model version and feature: PSI against training.
-- v_drift_psi_hourly the same per hour of the request.
-- v_feedback_corrections  priced feedback after the first for the same request: not counted.

CREATE OR REPLACE VIEW $database.v_served_requests AS
SELECT
    q.experiment_id AS experiment_id,
    q.variant AS variant,
    q.request_id AS request_id,
    q.occurred_at AS occurred_at,
    q.source AS source,
    q.location AS location,
    q.total_sqft AS total_sqft,
    q.bath AS bath,
    q.bhk AS bhk,
    r.has_reply = 1 AS replied,
    if(r.has_reply = 1, r.reply_status, NULL) AS status,
    r.reply_model_version AS model_version,
    r.reply_price_lakhs AS price_lakhs,
    if(r.has_reply = 1, toFloat64(toUnixTimestamp64Milli(r.replied_at) - toUnixTimestamp64Milli(q.occurred_at)), NULL) AS latency_ms,
    if(r.has_reply = 1, r.reply_predict_ms, NULL) AS predict_ms,
    r.has_reply = 0 AND q.deadline_at < now64(3) AS timed_out,
    (r.has_reply = 1 AND r.reply_status != 'ok') OR (r.has_reply = 0 AND q.deadline_at < now64(3)) AS is_error,
    f.feedback_price_lakhs AS actual_price_lakhs,
    if(r.reply_status = 'ok', abs(r.reply_price_lakhs - f.feedback_price_lakhs), NULL) AS abs_error
FROM
(
    SELECT request_id, experiment_id, variant, occurred_at, deadline_at, source, location, total_sqft, bath, bhk
    FROM $database.requests
    WHERE NOT shadow
    ORDER BY request_id, occurred_at, event_id
    LIMIT 1 BY request_id
) AS q
LEFT JOIN
(
    SELECT
        request_id,
        toUInt8(1) AS has_reply,
        occurred_at AS replied_at,
        status AS reply_status,
        model_version AS reply_model_version,
        price_lakhs AS reply_price_lakhs,
        predict_ms AS reply_predict_ms
    FROM $database.replies
    WHERE NOT shadow
    ORDER BY request_id, occurred_at, event_id
    LIMIT 1 BY request_id
) AS r ON r.request_id = q.request_id
LEFT JOIN
(
    SELECT request_id, actual_price_lakhs AS feedback_price_lakhs
    FROM $database.feedback
    WHERE actual_price_lakhs IS NOT NULL
    ORDER BY request_id, occurred_at, event_id
    LIMIT 1 BY request_id
) AS f ON f.request_id = q.request_id;

-- errors: replies with status error, plus requests with no reply past their deadline (the
-- client got a 504). Latency: reply occurred_at minus request occurred_at, in ms (end to end as
-- the predictor saw it). feedback counts requests answered ok that have feedback with a price:
-- abs_error_sum and abs_error_sq_sum are the promoter's sufficient statistics.
CREATE OR REPLACE VIEW $database.v_variant_summary AS
SELECT * EXCEPT (latency_ms_quantiles)
FROM
(
    SELECT
        experiment_id,
        variant,
        arrayStringConcat(arraySort(groupUniqArrayIf(assumeNotNull(model_version), model_version IS NOT NULL)), ',') AS model_versions,
        min(occurred_at) AS first_request_at,
        max(occurred_at) AS last_request_at,
        count() AS requests,
        countIf(replied) AS replies,
        countIf(timed_out) AS timeouts,
        countIf(is_error) AS errors,
        errors / requests AS error_rate,
        quantilesExactInclusive(0.5, 0.95, 0.99)(latency_ms) AS latency_ms_quantiles,
        latency_ms_quantiles[1] AS latency_ms_p50,
        latency_ms_quantiles[2] AS latency_ms_p95,
        latency_ms_quantiles[3] AS latency_ms_p99,
        coalesce(sum(latency_ms), 0) AS latency_ms_sum,
        quantileExactInclusive(0.95)(predict_ms) AS predict_ms_p95,
        count(abs_error) AS feedback,
        coalesce(sum(abs_error), 0) AS abs_error_sum,
        coalesce(sum(abs_error * abs_error), 0) AS abs_error_sq_sum,
        if(feedback > 0, abs_error_sum / feedback, NULL) AS mae,
        if(feedback > 0, sqrt(abs_error_sq_sum / feedback), NULL) AS rmse
    FROM $database.v_served_requests
    GROUP BY experiment_id, variant
);

CREATE OR REPLACE VIEW $database.v_variant_hourly AS
SELECT * EXCEPT (latency_ms_quantiles)
FROM
(
    SELECT
        experiment_id,
        variant,
        toStartOfHour(occurred_at) AS hour,
        count() AS requests,
        countIf(replied) AS replies,
        countIf(timed_out) AS timeouts,
        countIf(is_error) AS errors,
        errors / requests AS error_rate,
        quantilesExactInclusive(0.5, 0.95, 0.99)(latency_ms) AS latency_ms_quantiles,
        latency_ms_quantiles[1] AS latency_ms_p50,
        latency_ms_quantiles[2] AS latency_ms_p95,
        latency_ms_quantiles[3] AS latency_ms_p99,
        coalesce(sum(latency_ms), 0) AS latency_ms_sum,
        count(abs_error) AS feedback,
        coalesce(sum(abs_error), 0) AS abs_error_sum,
        coalesce(sum(abs_error * abs_error), 0) AS abs_error_sq_sum,
        if(feedback > 0, abs_error_sum / feedback, NULL) AS mae,
        if(feedback > 0, sqrt(abs_error_sq_sum / feedback), NULL) AS rmse
    FROM $database.v_served_requests
    GROUP BY experiment_id, variant, hour
);

-- The expected split is not in the events, so it is a parameter: the gateway's candidate_share
-- (settings, or control/split.json when an operator changed it). Pearson chi-square over the two
-- variants (1 degree of freedom): p = erfc(sqrt(chi2 / 2)). An experiment named <prefix>:prod-only
-- (no candidate, pricing.split.experiment_id_for) expects no candidate traffic: p is NULL.
-- Requests are distinct request ids of served (non-shadow) requests.
CREATE OR REPLACE VIEW $database.v_srm AS
SELECT
    experiment_id,
    prod_requests,
    candidate_requests,
    prod_requests + candidate_requests AS requests,
    if(endsWith(experiment_id, ':prod-only'), 0., {candidate_share:Float64}) AS expected_candidate_share,
    candidate_requests / requests AS observed_candidate_share,
    requests * expected_candidate_share AS expected_candidate,
    requests - expected_candidate AS expected_prod,
    if(expected_candidate > 0 AND expected_prod > 0, pow(candidate_requests - expected_candidate, 2) / expected_candidate + pow(prod_requests - expected_prod, 2) / expected_prod, NULL) AS chi2,
    erfc(sqrt(chi2 / 2)) AS p_value
FROM
(
    SELECT
        experiment_id,
        uniqExactIf(request_id, variant = 'prod') AS prod_requests,
        uniqExactIf(request_id, variant = 'candidate') AS candidate_requests
    FROM $database.requests
    WHERE NOT shadow
    GROUP BY experiment_id
);

-- Paired differences on shadow-scored requests: prod answered the client (variant prod, not
-- shadow), the candidate scored a mirrored copy (shadow), and feedback has the true price.
-- diff = |prod error| - |candidate error|: positive means the candidate was closer.
-- pairs, diff_sum and diff_sq_sum are the paired test's sufficient statistics.
CREATE OR REPLACE VIEW $database.v_paired AS
SELECT
    experiment_id,
    arrayStringConcat(arraySort(groupUniqArray(prod_version)), ',') AS prod_versions,
    arrayStringConcat(arraySort(groupUniqArray(candidate_version)), ',') AS candidate_versions,
    count() AS pairs,
    sum(prod_abs_error) AS prod_abs_error_sum,
    sum(candidate_abs_error) AS candidate_abs_error_sum,
    sum(diff) AS diff_sum,
    sum(diff * diff) AS diff_sq_sum,
    diff_sum / pairs AS diff_mean
FROM
(
    SELECT
        p.experiment_id AS experiment_id,
        p.prod_version AS prod_version,
        c.candidate_version AS candidate_version,
        p.prod_abs_error AS prod_abs_error,
        abs(c.candidate_price - p.actual) AS candidate_abs_error,
        prod_abs_error - candidate_abs_error AS diff
    FROM
    (
        SELECT
            experiment_id,
            request_id,
            assumeNotNull(model_version) AS prod_version,
            assumeNotNull(actual_price_lakhs) AS actual,
            assumeNotNull(abs_error) AS prod_abs_error
        FROM $database.v_served_requests
        WHERE variant = 'prod' AND abs_error IS NOT NULL
    ) AS p
    INNER JOIN
    (
        SELECT
            request_id,
            assumeNotNull(model_version) AS candidate_version,
            assumeNotNull(price_lakhs) AS candidate_price
        FROM $database.replies
        WHERE shadow AND slot = 'candidate' AND status = 'ok'
        ORDER BY request_id, occurred_at, event_id
        LIMIT 1 BY request_id
    ) AS c ON c.request_id = p.request_id
)
GROUP BY experiment_id;

-- Population stability index of served requests answered ok, per model version, against the
-- training_distribution of that version's model.candidate_published event (model_events.payload).
-- Numeric features: bins [edges[i], edges[i+1]), the last one closed, values outside the training
-- range in the first or last bin (as trainer.dataset.training_distribution). Location: its share
-- in the listed categories, any other name in other. PSI = sum over bins of (a - e) * ln(a / e),
-- a the live share and e the training share, both floored at 0.0001 so an empty bin stays finite.
-- Rule of thumb: below 0.1 stable, 0.1 to 0.25 moderate shift, above 0.25 large shift. Small
-- samples inflate PSI (empty bins, noise of about bins / requests): read it from a few hundred
-- requests per model version on.
CREATE OR REPLACE VIEW $database.v_drift_bins AS
SELECT
    s.experiment_id AS experiment_id,
    s.variant AS variant,
    s.model_version AS model_version,
    s.occurred_at AS occurred_at,
    toStartOfHour(s.occurred_at) AS hour,
    f.1 AS feature,
    f.2 AS bin,
    f.3 AS expected
FROM
(
    SELECT experiment_id, variant, assumeNotNull(model_version) AS model_version, occurred_at, lowerUTF8(trimBoth(location)) AS location, total_sqft, bath, bhk
    FROM $database.v_served_requests
    WHERE status = 'ok' AND model_version IS NOT NULL
) AS s
INNER JOIN
(
    SELECT
        version,
        JSONExtract(payload, 'training_distribution', 'total_sqft', 'edges', 'Array(Float64)') AS sqft_edges,
        JSONExtract(payload, 'training_distribution', 'total_sqft', 'shares', 'Array(Float64)') AS sqft_shares,
        JSONExtract(payload, 'training_distribution', 'bath', 'edges', 'Array(Float64)') AS bath_edges,
        JSONExtract(payload, 'training_distribution', 'bath', 'shares', 'Array(Float64)') AS bath_shares,
        JSONExtract(payload, 'training_distribution', 'bhk', 'edges', 'Array(Float64)') AS bhk_edges,
        JSONExtract(payload, 'training_distribution', 'bhk', 'shares', 'Array(Float64)') AS bhk_shares,
        JSONExtract(payload, 'training_distribution', 'location', 'categories', 'Array(String)') AS location_categories,
        JSONExtract(payload, 'training_distribution', 'location', 'shares', 'Array(Float64)') AS location_shares
    FROM
    (
        SELECT assumeNotNull(model_version) AS version, argMax(payload, occurred_at) AS payload
        FROM $database.model_events
        WHERE event_type = 'model.candidate_published' AND model_version IS NOT NULL
        GROUP BY version
    )
) AS d ON d.version = s.model_version
ARRAY JOIN arrayFilter(x -> length(x.3) > 0, [
    ('total_sqft', toUInt64(1 + arrayCount(e -> e <= s.total_sqft, arraySlice(d.sqft_edges, 2, length(d.sqft_edges) - 2))), d.sqft_shares),
    ('bath', toUInt64(1 + arrayCount(e -> e <= s.bath, arraySlice(d.bath_edges, 2, length(d.bath_edges) - 2))), d.bath_shares),
    ('bhk', toUInt64(1 + arrayCount(e -> e <= s.bhk, arraySlice(d.bhk_edges, 2, length(d.bhk_edges) - 2))), d.bhk_shares),
    ('location', toUInt64(if(has(d.location_categories, s.location), indexOf(d.location_categories, s.location), indexOf(d.location_categories, 'other'))), d.location_shares)
]) AS f;

CREATE OR REPLACE VIEW $database.v_drift_psi AS
SELECT
    experiment_id,
    variant,
    model_version,
    feature,
    count() AS requests,
    any(expected) AS training_shares,
    sumForEach(arrayMap(i -> toUInt64(i = bin), arrayEnumerate(expected))) AS bin_requests,
    arrayMap(n -> n / requests, bin_requests) AS live_shares,
    length(training_shares) AS bins,
    arraySum(arrayMap((a, e) -> (greatest(a, 0.0001) - greatest(e, 0.0001)) * log(greatest(a, 0.0001) / greatest(e, 0.0001)), live_shares, training_shares)) AS psi
FROM $database.v_drift_bins
GROUP BY experiment_id, variant, model_version, feature;

-- The same per hour of the request: what drifted when, and what the promoter alerts on (the
-- last complete hour, once it holds the policy's drift_min_requests).
CREATE OR REPLACE VIEW $database.v_drift_psi_hourly AS
SELECT
    experiment_id,
    variant,
    model_version,
    feature,
    hour,
    count() AS requests,
    any(expected) AS training_shares,
    sumForEach(arrayMap(i -> toUInt64(i = bin), arrayEnumerate(expected))) AS bin_requests,
    arrayMap(n -> n / requests, bin_requests) AS live_shares,
    length(training_shares) AS bins,
    arraySum(arrayMap((a, e) -> (greatest(a, 0.0001) - greatest(e, 0.0001)) * log(greatest(a, 0.0001) / greatest(e, 0.0001)), live_shares, training_shares)) AS psi
FROM $database.v_drift_bins
GROUP BY experiment_id, variant, model_version, feature, hour;

-- Corrections: every priced feedback after the first one of its request (re-delivered copies of
-- one event collapse first). counted_price_lakhs is the price the statistics use.
CREATE OR REPLACE VIEW $database.v_feedback_corrections AS
SELECT
    c.request_id AS request_id,
    c.event_id AS event_id,
    c.occurred_at AS occurred_at,
    c.source AS source,
    c.actual_price_lakhs AS corrected_price_lakhs,
    f.actual_price_lakhs AS counted_price_lakhs,
    f.occurred_at AS counted_at
FROM
(
    SELECT request_id, event_id, occurred_at, source, actual_price_lakhs
    FROM $database.feedback
    WHERE actual_price_lakhs IS NOT NULL
    ORDER BY request_id, occurred_at, event_id
    LIMIT 1 BY event_id
) AS c
INNER JOIN
(
    SELECT request_id, event_id, occurred_at, actual_price_lakhs
    FROM $database.feedback
    WHERE actual_price_lakhs IS NOT NULL
    ORDER BY request_id, occurred_at, event_id
    LIMIT 1 BY request_id
) AS f ON f.request_id = c.request_id
WHERE c.event_id != f.event_id;
