-- gpuhealth 003: the domain tables of the original plan.
CREATE TABLE IF NOT EXISTS gpu_assets (
    uuid text PRIMARY KEY,
    serial text,
    model text,
    node text,
    datacenter text,
    rack text,
    purchase_date date,
    purchase_price_dollars double precision CHECK (purchase_price_dollars IS NULL OR purchase_price_dollars >= 0),
    status text NOT NULL DEFAULT 'active',
    owner text NOT NULL DEFAULT '',
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS gpu_failures (
    id bigserial PRIMARY KEY,
    uuid text NOT NULL,
    failed_at timestamptz NOT NULL,
    mode text NOT NULL,
    precursor boolean,
    source text NOT NULL DEFAULT 'operator',
    rma_status text,
    notes text,
    recorded_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (uuid, failed_at)
);

CREATE TABLE IF NOT EXISTS failure_predictions (
    time timestamptz NOT NULL,
    uuid text NOT NULL,
    horizon text NOT NULL,
    model text NOT NULL,
    probability double precision NOT NULL,
    remaining_useful_life_days double precision,
    factors jsonb
);
SELECT create_hypertable('failure_predictions', 'time', chunk_time_interval => interval '7 days',
                         if_not_exists => true);
CREATE INDEX IF NOT EXISTS failure_predictions_uuid_idx ON failure_predictions (uuid, time DESC);

CREATE TABLE IF NOT EXISTS recommendations (
    time timestamptz NOT NULL,
    uuid text NOT NULL,
    action text NOT NULL,
    market_value_dollars double precision,
    npv_keep double precision,
    npv_repair double precision,
    npv_sell double precision,
    npv_decommission double precision,
    drivers jsonb
);
SELECT create_hypertable('recommendations', 'time', chunk_time_interval => interval '7 days', if_not_exists => true);
CREATE INDEX IF NOT EXISTS recommendations_uuid_idx ON recommendations (uuid, time DESC);

CREATE TABLE IF NOT EXISTS model_versions (
    version text PRIMARY KEY,
    kind text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    trained_on text,
    metrics jsonb,
    features jsonb,
    path text
);
