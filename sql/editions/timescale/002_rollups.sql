-- gpuhealth 002 (Timescale-licensed edition): the same rollups as continuous aggregates with
-- refresh, compression and retention policies. Same names and columns as the Apache edition.
CREATE TABLE IF NOT EXISTS rollup_state (
    table_name      text PRIMARY KEY,
    refreshed_until timestamptz NOT NULL
);
CREATE MATERIALIZED VIEW IF NOT EXISTS samples_1m WITH (timescaledb.continuous) AS
    SELECT time_bucket('1 minute', time) AS bucket, series_id, min(value) AS min, max(value) AS max,
           avg(value) AS avg, last(value, time) AS last, count(*) AS count
    FROM samples GROUP BY 1, 2 WITH NO DATA;
CREATE MATERIALIZED VIEW IF NOT EXISTS samples_5m WITH (timescaledb.continuous) AS
    SELECT time_bucket('5 minutes', time) AS bucket, series_id, min(value) AS min, max(value) AS max,
           avg(value) AS avg, last(value, time) AS last, count(*) AS count
    FROM samples GROUP BY 1, 2 WITH NO DATA;
CREATE MATERIALIZED VIEW IF NOT EXISTS samples_1h WITH (timescaledb.continuous) AS
    SELECT time_bucket('1 hour', time) AS bucket, series_id, min(value) AS min, max(value) AS max,
           avg(value) AS avg, last(value, time) AS last, count(*) AS count
    FROM samples GROUP BY 1, 2 WITH NO DATA;
SELECT add_continuous_aggregate_policy('samples_1m', start_offset => interval '1 hour',
                                       end_offset => interval '1 minute', schedule_interval => interval '1 minute',
                                       if_not_exists => true);
SELECT add_continuous_aggregate_policy('samples_5m', start_offset => interval '3 hours',
                                       end_offset => interval '5 minutes', schedule_interval => interval '5 minutes',
                                       if_not_exists => true);
SELECT add_continuous_aggregate_policy('samples_1h', start_offset => interval '1 day',
                                       end_offset => interval '1 hour', schedule_interval => interval '1 hour',
                                       if_not_exists => true);
ALTER TABLE samples SET (timescaledb.compress, timescaledb.compress_segmentby = 'series_id',
                         timescaledb.compress_orderby = 'time');
SELECT add_compression_policy('samples', interval '2 days', if_not_exists => true);
SELECT add_retention_policy('samples', interval '30 days', if_not_exists => true);
SELECT add_retention_policy('samples_1m', interval '90 days', if_not_exists => true);
SELECT add_retention_policy('samples_5m', interval '1 year', if_not_exists => true);
SELECT add_retention_policy('samples_1h', interval '5 years', if_not_exists => true);
