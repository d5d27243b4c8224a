-- gpuhealth 002 (Apache edition): rollups as hypertables, refreshed incrementally by the sink's
-- maintenance loop (continuous aggregates are not available under the Apache license).
CREATE TABLE IF NOT EXISTS rollup_state (
    table_name      text PRIMARY KEY,
    refreshed_until timestamptz NOT NULL
);
DO $$
DECLARE
    t text;
    chunk interval;
BEGIN
    FOREACH t IN ARRAY ARRAY['samples_1m', 'samples_5m', 'samples_1h'] LOOP
        EXECUTE format('CREATE TABLE IF NOT EXISTS %I (
            bucket    timestamptz      NOT NULL,
            series_id bigint           NOT NULL,
            min       double precision NOT NULL,
            max       double precision NOT NULL,
            avg       double precision NOT NULL,
            last      double precision NOT NULL,
            count     bigint           NOT NULL,
            PRIMARY KEY (series_id, bucket))', t);
        chunk := CASE t WHEN 'samples_1h' THEN interval '30 days' ELSE interval '7 days' END;
        PERFORM create_hypertable(t, 'bucket', chunk_time_interval => chunk, if_not_exists => true);
    END LOOP;
END $$;
