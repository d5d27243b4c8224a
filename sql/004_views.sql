-- gpuhealth 004: views that make a GPU's series easy to query by UUID and metric.
CREATE OR REPLACE VIEW gpu_series AS
    SELECT id AS series_id, uuid, metric, labels FROM series WHERE uuid IS NOT NULL;

CREATE OR REPLACE VIEW gpu_samples AS
    SELECT s.time, g.uuid, g.metric, s.value, g.series_id
    FROM samples s JOIN gpu_series g ON g.series_id = s.series_id;

CREATE OR REPLACE VIEW gpu_samples_1m AS
    SELECT r.bucket, g.uuid, g.metric, r.min, r.max, r.avg, r.last, r.count, g.series_id
    FROM samples_1m r JOIN gpu_series g ON g.series_id = r.series_id;

CREATE OR REPLACE VIEW gpu_samples_5m AS
    SELECT r.bucket, g.uuid, g.metric, r.min, r.max, r.avg, r.last, r.count, g.series_id
    FROM samples_5m r JOIN gpu_series g ON g.series_id = r.series_id;

CREATE OR REPLACE VIEW gpu_samples_1h AS
    SELECT r.bucket, g.uuid, g.metric, r.min, r.max, r.avg, r.last, r.count, g.series_id
    FROM samples_1h r JOIN gpu_series g ON g.series_id = r.series_id;
