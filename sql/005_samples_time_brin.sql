-- gpuhealth 005: the samples hypertable's time index becomes a BRIN index.
-- create_hypertable added a b-tree on (time DESC). Only time-range scans need it (the rollup refresh of
-- the last minutes, continuous aggregates); lookups by series use the unique (series_id, time) index.
-- Samples arrive in time order, so a BRIN index on time serves those scans at a fraction of the cost:
-- the b-tree took about 20 bytes per sample on disk and one more b-tree insertion per sample
-- (benchmarks/README.md "## Sink": about 10-20 % more ingest throughput without it).
-- Unsummarized ranges (the newest pages) always match a BRIN scan, so results stay exact; autosummarize
-- has autovacuum summarize each range once it fills.
DROP INDEX IF EXISTS samples_time_idx;
CREATE INDEX IF NOT EXISTS samples_time_brin ON samples USING brin (time) WITH (autosummarize = on);
