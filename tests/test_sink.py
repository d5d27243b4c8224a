"""The remote-write sink: protocol 1.0 and 2.0, status codes, bad input, dedup, migrations, rollups, retention."""

from __future__ import annotations

import math
import struct
import threading
from datetime import UTC, datetime, timedelta

import cramjam
import numpy as np
import psycopg
import pytest
import requests
from hypothesis import given, settings
from hypothesis import strategies as st

from gpuhealth.sink.decode import MAX_TS_MS, Limits, RequestError, decode, decode_full, decompress, protocol_version
from gpuhealth.sink.dsn import redact
from gpuhealth.sink.maintenance import RETENTION_POLICY, apply_retention, refresh_rollups, set_retention
from gpuhealth.sink.migrate import SQL_DIR, migrate
from gpuhealth.sink.proto import TimeSeries
from gpuhealth.sink.server import serve
from gpuhealth.sink.writer import Writer
from tests.sinkutil import V1_HEADERS, V2_HEADERS, v1_body, v2_body

STALE = struct.unpack("<d", struct.pack("<Q", 0x7FF0000000000002))[0]
NOW_MS = 1_790_000_000_000


def _series(name="DCGM_FI_DEV_GPU_TEMP", uuid="GPU-1", n=3, start=NOW_MS, **extra):
    labels = sorted([("__name__", name), ("UUID", uuid), ("job", "gpuhealth"), *extra.items()])
    return labels, [(start + 15000 * i, 40.0 + i) for i in range(n)]


@pytest.fixture
def sink(postgres):
    migrate(postgres)
    server, metrics = serve(Writer(postgres), "127.0.0.1:0")
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.url + "/api/v1/write", postgres, metrics
    server.shutdown()


def _count(dsn: str) -> int:
    with psycopg.connect(dsn) as conn:
        return conn.execute("SELECT count(*) FROM samples").fetchone()[0]


@pytest.mark.integration
def test_v1_and_v2_are_stored_and_a_resent_batch_adds_nothing(sink):
    url, dsn, _ = sink
    body = v1_body([_series(uuid="GPU-1"), _series(name="DCGM_FI_DEV_POWER_USAGE", uuid="GPU-1")])
    r = requests.post(url, data=body, headers=V1_HEADERS, timeout=10)
    assert r.status_code == 204 and _count(dsn) == 6
    assert requests.post(url, data=body, headers=V1_HEADERS, timeout=10).status_code == 204
    assert _count(dsn) == 6  # re-sent after a timeout: no duplicates
    overlap = v1_body([_series(uuid="GPU-1", n=4), _series(uuid="GPU-1", n=4)])  # 3 stored + 1 new, twice over
    assert requests.post(url, data=overlap, headers=V1_HEADERS, timeout=10).status_code == 204
    assert _count(dsn) == 7  # only the new sample, once
    r = requests.post(url, data=v2_body([_series(uuid="GPU-2", n=4)]), headers=V2_HEADERS, timeout=10)
    assert r.status_code == 204 and r.headers["X-Prometheus-Remote-Write-Samples-Written"] == "4"
    assert r.headers["X-Prometheus-Remote-Write-Histograms-Written"] == "0"
    with psycopg.connect(dsn) as conn:
        q = "SELECT metric, value FROM gpu_samples WHERE uuid = %s ORDER BY time"
        rows = conn.execute(q, ("GPU-2",)).fetchall()
    assert rows == [("DCGM_FI_DEV_GPU_TEMP", 40.0 + i) for i in range(4)]


@pytest.mark.integration
def test_stale_markers_special_values_and_out_of_order(sink):
    url, dsn, _ = sink
    labels, _ = _series()
    samples = [(NOW_MS + 30000, 1.0), (NOW_MS, 2.0), (NOW_MS + 15000, STALE), (NOW_MS + 45000, math.nan),
               (NOW_MS + 60000, math.inf), (NOW_MS + 75000, -math.inf)]
    assert requests.post(url, data=v1_body([(labels, samples)]), headers=V1_HEADERS, timeout=10).status_code == 204
    with psycopg.connect(dsn) as conn:
        values = [r[0] for r in conn.execute("SELECT value FROM samples ORDER BY time")]
    assert len(values) == 5  # the stale marker is not a value
    assert values[0] == 2.0 and values[1] == 1.0 and math.isnan(values[2]) and values[3:] == [math.inf, -math.inf]


def _million_series() -> bytes:
    ts = v1_body([_series(n=1)], compress=False)  # one WriteRequest holding one series: field 1 + length + body
    return bytes(cramjam.snappy.compress_raw(ts * 1_000_000))


BAD = [
    ("corrupt snappy", b"\xff\x00garbage" * 10, V1_HEADERS, 400),
    ("truncated protobuf", bytes(cramjam.snappy.compress_raw(v1_body([_series()], compress=False)[:-3])),
     V1_HEADERS, 400),
    ("v2 bytes declared as v1 with a bad symbol table", v2_body([_series()]), {**V2_HEADERS}, None),
    ("JSON body", b'{"series": []}', {**V1_HEADERS, "Content-Type": "application/json"}, 415),
    ("gzip encoding", b"\x1f\x8b", {**V1_HEADERS, "Content-Encoding": "gzip"}, 415),
    ("unknown proto", v1_body([_series()]), {**V1_HEADERS, "Content-Type": "application/x-protobuf;proto=x.Y"}, 415),
    ("empty label name", v1_body([([("", "x"), ("__name__", "m")], [(NOW_MS, 1.0)])]), V1_HEADERS, 400),
    ("unsorted labels", v1_body([([("job", "x"), ("__name__", "m")], [(NOW_MS, 1.0)])]), V1_HEADERS, 400),
    ("duplicate labels", v1_body([([("__name__", "m"), ("a", "1"), ("a", "2")], [(NOW_MS, 1.0)])]), V1_HEADERS, 400),
    ("100 kB label value", v1_body([([("__name__", "m"), ("a", "x" * 100_000)], [(NOW_MS, 1.0)])]), V1_HEADERS, 400),
    ("a million series", None, V1_HEADERS, 413),
    ("timestamp past year 9999", v1_body([(sorted([("__name__", "m"), ("a", "1")]), [(10**17, 1.0)])]), V1_HEADERS,
     400),
    ("negative timestamp", v1_body([(sorted([("__name__", "m"), ("a", "1")]), [(-(10**17), 1.0)])]), V1_HEADERS, 400),
]


@pytest.mark.integration
@pytest.mark.parametrize(("what", "body", "headers", "status"), BAD, ids=[b[0] for b in BAD])
def test_bad_input_gets_the_right_status_and_stored_data_stays_intact(sink, what, body, headers, status):
    url, dsn, _ = sink
    good = v1_body([_series(uuid="GPU-keep")])
    assert requests.post(url, data=good, headers=V1_HEADERS, timeout=10).status_code == 204
    before = _count(dsn)
    if body is None:
        body = _million_series()
    r = requests.post(url, data=body, headers=headers, timeout=60)
    if status is None:
        assert r.status_code in (204, 400)
    else:
        assert r.status_code == status, r.text
        assert r.text.strip(), "an error must say what was wrong"
    if r.status_code >= 400:
        assert _count(dsn) == before
    # the sink keeps serving
    assert requests.post(url, data=v1_body([_series(uuid="GPU-after")]), headers=V1_HEADERS,
                         timeout=10).status_code == 204


@pytest.mark.integration
def test_sql_metacharacters_in_label_values_are_stored_verbatim(sink):
    url, dsn, _ = sink
    nasty = "x'); DROP TABLE samples; --\"\\"
    labels = sorted([("__name__", "DCGM_FI_DEV_GPU_TEMP"), ("UUID", nasty), ("job", "gpuhealth")])
    assert requests.post(url, data=v1_body([(labels, [(NOW_MS, 1.0)])]), headers=V1_HEADERS,
                         timeout=10).status_code == 204
    with psycopg.connect(dsn) as conn:
        assert conn.execute("SELECT uuid FROM series").fetchone()[0] == nasty
        assert conn.execute("SELECT count(*) FROM samples").fetchone()[0] == 1


@pytest.mark.integration
def test_binary_arrays_reach_postgresql_exactly(postgres):
    """The sample arrays the writer sends decode in PostgreSQL to the same instants, ids and values."""
    from gpuhealth.sink.pgarray import register
    from gpuhealth.sink.writer import sample_arrays

    times = [0, NOW_MS, MAX_TS_MS, 946_684_800_001]
    values = [1.5, -0.0, math.inf, math.nan]
    with psycopg.connect(postgres) as conn:
        register(conn)
        rows = conn.execute("SELECT * FROM unnest(%b, %b, %b)",
                            sample_arrays([7, -2, 2**62], [0, 2, 1, 2], times, values)).fetchall()
    assert [r[0] for r in rows] == [datetime.fromtimestamp(t / 1000, UTC) for t in times]
    assert [r[1] for r in rows] == [7, 2**62, -2, 2**62]
    assert rows[:3] == [(rows[i][0], rows[i][1], values[i]) for i in range(3)] and math.isnan(rows[3][2])
    assert math.copysign(1, rows[1][2]) == -1


def test_unavailable_database_answers_503_with_retry_after():
    server, _ = serve(Writer("postgresql://nobody:s3cretpw@127.0.0.1:1/none"), "127.0.0.1:0")
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        r = requests.post(server.url + "/api/v1/write", data=v1_body([_series()]), headers=V1_HEADERS, timeout=20)
        assert r.status_code == 503 and int(r.headers["Retry-After"]) > 0
        assert "s3cretpw" not in r.text
    finally:
        server.shutdown()


def test_redact_hides_passwords():
    assert "s3cret" not in redact("postgresql://u:s3cret@h:5432/db failed")
    assert "s3cret" not in redact("host=h password=s3cret dbname=x")
    assert "s3cret" not in redact("connection to server failed: s3cret", "postgresql://u:s3cret@h/db")


label_text = st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), min_size=1,
                     max_size=20)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.dictionaries(st.from_regex(r"[a-zA-Z_][a-zA-Z0-9_]{0,10}", fullmatch=True),
                                          label_text, min_size=0, max_size=5),
                          st.lists(st.tuples(st.integers(0, MAX_TS_MS), st.floats(allow_nan=False)), max_size=5)),
                max_size=8),
       st.sampled_from([1, 2]))
def test_decoder_round_trips_what_a_sender_encodes(series, version):
    built = [(sorted([("__name__", "m"), *labels.items()]), samples) for labels, samples in series]
    body = (v1_body if version == 1 else v2_body)(built)
    batch = decode(decompress(body, "snappy", Limits()), version, Limits())
    assert [list(s) for s in batch.series] == [labels for labels, _ in built]
    assert batch.samples == [samples for _, samples in built]


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=300))
def test_decoder_never_crashes_on_garbage(data):
    for version in (1, 2):
        try:
            decode(decompress(bytes(cramjam.snappy.compress_raw(data)), "snappy", Limits()), version, Limits())
        except RequestError as exc:
            assert exc.status in (400, 413)


def _outcome(raw: bytes, known: dict | None = None):
    """What decoding gives: the error, or the labels, samples (values as bits, NaN-safe) and counts."""
    by_id = {i: k for k, i in (known or {}).items()}
    fast = known is not None
    try:
        batch = decode(raw, 1, Limits(), known) if fast else decode_full(raw, 1, Limits())
    except RequestError as exc:
        return ("error", exc.status, exc.message)
    labels = [s if i is None else tuple((lb.name, lb.value) for lb in TimeSeries.FromString(by_id[i]).labels)
              for i, s in zip(batch.ids, batch.series, strict=True)]
    bits = [[(t, struct.pack("<d", v)) for t, v in s] for s in batch.samples]
    return (labels, bits, batch.stale, batch.histograms, batch.exemplars)


sample_value = st.one_of(st.floats(), st.just(STALE), st.just(0.0))
v1_series = st.lists(st.tuples(st.dictionaries(st.from_regex(r"[a-zA-Z_][a-zA-Z0-9_]{0,10}", fullmatch=True),
                                               label_text, min_size=0, max_size=4),
                               st.lists(st.tuples(st.one_of(st.integers(0, MAX_TS_MS), st.just(NOW_MS)),
                                                  sample_value), max_size=3)),
                     max_size=6)


@settings(max_examples=60, deadline=None)
@given(v1_series)
def test_fast_and_full_decoders_agree_on_valid_requests(series):
    """The wire walk (with and without known series) gives what the protobuf decoder gives."""
    raw = v1_body([(sorted([("__name__", "m"), *labels.items()]), samples) for labels, samples in series],
                  compress=False)
    full = _outcome(raw)
    assert _outcome(raw, {}) == full
    known = {k: i for i, k in enumerate(decode(raw, 1, Limits()).keys)}  # every series now known
    assert _outcome(raw, known) == full


@settings(max_examples=100, deadline=None)
@given(v1_series, st.lists(st.tuples(st.integers(-40, 10**6), st.integers(0, 255), st.sampled_from("fit")),
                           min_size=1, max_size=3))
def test_fast_and_full_decoders_refuse_damaged_requests_alike(series, damage):
    """Flipped, inserted or cut bytes in a request: the same error or the same result on both paths."""
    raw = bytearray(v1_body([(sorted([("__name__", "m"), *labels.items()]), samples) for labels, samples in series],
                            compress=False))
    known = {k: i for i, k in enumerate(decode(bytes(raw), 1, Limits()).keys)}
    for where, byte, how in damage:
        at = where % (len(raw) + 1) if where >= 0 else max(0, len(raw) + where)  # < 0: near the samples at the end
        if how == "f" and at < len(raw):
            raw[at] = byte
        elif how == "i":
            raw.insert(at, byte)
        else:
            del raw[at:]
    raw = bytes(raw)
    full = _outcome(raw)
    assert _outcome(raw, {}) == full
    assert _outcome(raw, known) == full


def test_fast_and_full_decoders_agree_on_every_byte_of_a_damaged_sample():
    """Every value of every byte of each known series' sample field, tag and length: the same outcome.

    The series hold a value, a stale marker and 0.0 (whose value field a sender leaves out)."""
    raw = v1_body([_series(n=1), (_series(uuid="GPU-2")[0], [(NOW_MS, STALE)]),
                   (_series(uuid="GPU-3")[0], [(NOW_MS, 0.0)])], compress=False)
    known = {k: i for i, k in enumerate(decode(raw, 1, Limits()).keys)}
    batch = decode(raw, 1, Limits(), known)
    assert len(known) == 3 and batch.series == [None] * 3 and batch.stale == 1  # the fast path reads it
    assert isinstance(batch.times, np.ndarray) and list(batch.values) == [40.0, 0.0]
    positions, p = [], 0
    while p < len(raw):  # each series: its tag, its length (one byte here) and its last 18 bytes
        end = p + 2 + raw[p + 1]
        positions += [p, p + 1, *range(end - 18, end)]
        p = end
    for at in positions:
        for byte in range(256):
            damaged = raw[:at] + bytes([byte]) + raw[at + 1:]
            assert _outcome(damaged, known) == _outcome(damaged), (at, byte)


@pytest.mark.parametrize("known", [False, True])
def test_fast_path_keeps_the_series_limit_exactly(known):
    raw = v1_body([_series(uuid=f"GPU-{i}", n=1) for i in range(3)], compress=False)
    cache = {k: i for i, k in enumerate(decode(raw, 1, Limits()).keys)} if known else {}
    assert len(decode(raw, 1, Limits(max_series=3), cache).keys) == 3
    with pytest.raises(RequestError) as info:
        decode(raw, 1, Limits(max_series=2), cache)
    assert info.value.status == 413 and "3 series" in info.value.message


def test_content_type_negotiation():
    assert protocol_version("application/x-protobuf") == 1
    assert protocol_version("application/x-protobuf;proto=prometheus.WriteRequest") == 1
    assert protocol_version("application/x-protobuf; proto=io.prometheus.write.v2.Request") == 2
    with pytest.raises(RequestError) as info:
        protocol_version("text/plain")
    assert info.value.status == 415


@pytest.mark.integration
def test_migrate_is_idempotent_and_records_its_version(postgres):
    v1 = migrate(postgres)
    assert migrate(postgres) == v1 >= 4
    with psycopg.connect(postgres) as conn:
        rows = conn.execute("SELECT version, edition FROM schema_migrations ORDER BY version").fetchall()
        tables = {r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
    assert [r[0] for r in rows] == [1, 2, 3, 4, 5, 6] and rows[0][1] == "apache"
    assert {"series", "samples", "samples_1m", "samples_5m", "samples_1h", "gpu_assets", "gpu_failures",
            "failure_predictions", "recommendations", "model_versions", "gpu_repairs"} <= tables


@pytest.mark.integration
def test_licensed_edition_sql_parses_and_fails_only_on_the_license(postgres):
    migrate(postgres)
    sql = (SQL_DIR / "editions" / "timescale" / "002_rollups.sql").read_text()
    statements = [s for s in sql.split(";\n") if s.strip() and not s.strip().startswith("--")]
    with psycopg.connect(postgres, autocommit=True) as conn:
        for stmt in statements:
            if "rollup_state" in stmt:
                continue
            with pytest.raises(psycopg.Error) as info:
                conn.execute("BEGIN")
                try:
                    conn.execute(stmt.replace("IF NOT EXISTS samples_", "IF NOT EXISTS parse_check_"))
                finally:
                    conn.execute("ROLLBACK")
            err = info.value
            assert err.sqlstate != "42601", f"syntax error in licensed SQL: {stmt[:80]}"
            assert "license" in str(err).lower() or err.sqlstate == "0A000", str(err)


@pytest.mark.integration
def test_licensed_retention_policies_parse_and_fail_only_on_the_license(postgres):
    """--retention.* replaces the policies on the licensed edition; here that SQL must reach the license check."""
    migrate(postgres)
    with psycopg.connect(postgres, autocommit=True) as conn:
        for statement in RETENTION_POLICY:
            with pytest.raises(psycopg.Error) as info, conn.transaction():
                conn.execute(statement, {"table": "samples_1m", "keep": timedelta(days=7)})
            assert "license" in str(info.value) and info.value.sqlstate == "0A000", str(info.value)
        with pytest.raises(psycopg.Error, match="license"), conn.transaction():
            set_retention(conn, {"samples": timedelta(days=7)}, licensed=True)
        set_retention(conn, {"samples": timedelta(days=7)})  # asks the database: Apache, so the table only
        assert conn.execute("SELECT keep FROM retention WHERE table_name = 'samples'").fetchone()[0] == \
            timedelta(days=7)


@pytest.mark.integration
def test_rollups_and_retention_on_the_apache_edition(postgres):
    migrate(postgres)
    writer = Writer(postgres)
    now = datetime(2026, 11, 20, 12, 0, 30, tzinfo=UTC)
    base = int((now - timedelta(minutes=3)).timestamp() * 1000)
    old = int((now - timedelta(days=45)).timestamp() * 1000)
    labels, _ = _series()
    from gpuhealth.sink.decode import Batch
    batch = Batch.of(1, [tuple(labels)], [[(base + 15000 * i, float(i)) for i in range(8)] + [(old, 99.0)]])
    assert writer.write(batch) == 9
    with psycopg.connect(postgres, autocommit=True) as conn:
        refresh_rollups(conn, now=now)
        rows = conn.execute("SELECT bucket, min, max, avg, last, count FROM samples_1m ORDER BY bucket").fetchall()
        minute = [r for r in rows if r[0] >= now - timedelta(minutes=5)]
        # samples every 15 s from 11:57:30 to 11:59:15; the 12:00 minute is not complete and is left out
        assert [r[5] for r in minute] == [2, 4, 2]
        assert minute[1][1:5] == (2.0, 5.0, 3.5, 5.0)
        # refreshing again is idempotent
        refresh_rollups(conn, now=now)
        assert conn.execute("SELECT sum(count) FROM samples_1m").fetchone()[0] == 9
        set_retention(conn, {"samples": timedelta(days=30)})
        dropped = apply_retention(conn)
        assert dropped["samples"] >= 1
        assert conn.execute("SELECT count(*) FROM samples WHERE value = 99").fetchone()[0] == 0
        assert conn.execute("SELECT count(*) FROM samples_1m WHERE max = 99").fetchone()[0] == 1  # rollup kept


@pytest.mark.integration
def test_histograms_are_not_acknowledged_as_written(sink):
    """A partial write (floats stored, native histograms not) must not get a 2xx."""
    from gpuhealth.sink.proto import WriteRequest

    url, dsn, _ = sink
    req = WriteRequest()
    ts = req.timeseries.add()
    for k, v in sorted([("__name__", "m"), ("UUID", "GPU-h")]):
        ts.labels.add(name=k, value=v)
    ts.samples.add(timestamp=NOW_MS, value=1.0)
    ts.histograms.add()
    r = requests.post(url, data=bytes(cramjam.snappy.compress_raw(req.SerializeToString())), headers=V1_HEADERS,
                      timeout=10)
    assert r.status_code == 400 and "histograms" in r.text
    assert r.headers["X-Prometheus-Remote-Write-Samples-Written"] == "1" and _count(dsn) == 1


@pytest.mark.integration
def test_a_late_backlog_reaches_the_rollups(postgres):
    """Samples older than the usual look-back (re-sent after a long outage) are aggregated on the next pass."""
    from gpuhealth.sink.decode import Batch
    from gpuhealth.sink.maintenance import Maintenance

    migrate(postgres)
    writer = Writer(postgres)
    labels, _ = _series()
    now = datetime.now(UTC)
    recent = int((now - timedelta(minutes=3)).timestamp() * 1000)
    writer.write(Batch.of(1, [tuple(labels)], [[(recent, 1.0)]]))
    maintenance = Maintenance(postgres, writer=writer)
    maintenance.run_once()
    # the backlog of a 2-hour outage: two samples 15 s apart in one minute (10 s and 25 s past it)
    late = (int((now - timedelta(hours=2)).timestamp()) // 60 * 60 + 10) * 1000
    writer.write(Batch.of(1, [tuple(labels)], [[(late, 5.0), (late + 15000, 7.0)]]))
    maintenance.run_once()
    with psycopg.connect(postgres) as conn:
        rows = conn.execute("SELECT max, count FROM samples_1m WHERE max > 1").fetchall()
    assert rows == [(7.0, 2)]
