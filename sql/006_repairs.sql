-- gpuhealth 006: repairs and RMAs an operator recorded. A successful one starts the GPU's new life: the
-- analyzer judges it from the repair on (its prediction baseline resets) and training counts it as a new GPU.
CREATE TABLE IF NOT EXISTS gpu_repairs (
    id bigserial PRIMARY KEY,
    uuid text NOT NULL,
    repaired_at timestamptz NOT NULL,
    kind text NOT NULL CHECK (kind IN ('repair', 'rma')),
    mode text NOT NULL DEFAULT '',
    cost_dollars double precision CHECK (cost_dollars IS NULL OR cost_dollars >= 0),
    success boolean NOT NULL,
    notes text NOT NULL DEFAULT '',
    recorded_by text NOT NULL DEFAULT '',
    recorded_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (uuid, repaired_at)
);
CREATE INDEX IF NOT EXISTS gpu_repairs_time_idx ON gpu_repairs (repaired_at DESC);
