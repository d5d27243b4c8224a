"""The remote-write protobuf messages, built at run time from their definitions (no protoc step).

1.0: prometheus.WriteRequest (prometheus/prompb/remote.proto, types.proto): timeseries = 1;
TimeSeries{labels = 1, samples = 2}; Label{name = 1, value = 2}; Sample{value = 1, timestamp = 2}.
Histograms (field 4 of TimeSeries) and metadata are declared so that they parse, and are ignored.
2.0: io.prometheus.write.v2.Request{symbols = 4, timeseries = 5}; TimeSeries{labels_refs = 1,
samples = 2, histograms = 3, exemplars = 4, metadata = 5, created_timestamp = 6 (older rc)};
Sample{value = 1, timestamp = 2, start_timestamp = 3}.
"""

from __future__ import annotations

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

F = descriptor_pb2.FieldDescriptorProto


def _msg(file: descriptor_pb2.FileDescriptorProto, name: str, fields: list[tuple]) -> None:
    m = file.message_type.add(name=name)
    for fname, number, ftype, label, type_name in fields:
        f = m.field.add(name=fname, number=number, type=ftype, label=label)
        if type_name:
            f.type_name = type_name


OPT, REP = F.LABEL_OPTIONAL, F.LABEL_REPEATED


def _build():
    pool = descriptor_pool.DescriptorPool()
    v1 = descriptor_pb2.FileDescriptorProto(name="gpuhealth_prw_v1.proto", package="prometheus", syntax="proto3")
    _msg(v1, "Label", [("name", 1, F.TYPE_STRING, OPT, None), ("value", 2, F.TYPE_STRING, OPT, None)])
    _msg(v1, "Sample", [("value", 1, F.TYPE_DOUBLE, OPT, None), ("timestamp", 2, F.TYPE_INT64, OPT, None)])
    _msg(v1, "Histogram", [])
    _msg(v1, "Exemplar", [])
    _msg(v1, "TimeSeries", [("labels", 1, F.TYPE_MESSAGE, REP, ".prometheus.Label"),
                            ("samples", 2, F.TYPE_MESSAGE, REP, ".prometheus.Sample"),
                            ("exemplars", 3, F.TYPE_MESSAGE, REP, ".prometheus.Exemplar"),
                            ("histograms", 4, F.TYPE_MESSAGE, REP, ".prometheus.Histogram")])
    _msg(v1, "MetricMetadata", [])
    _msg(v1, "WriteRequest", [("timeseries", 1, F.TYPE_MESSAGE, REP, ".prometheus.TimeSeries"),
                              ("metadata", 3, F.TYPE_MESSAGE, REP, ".prometheus.MetricMetadata")])
    pool.Add(v1)
    v2 = descriptor_pb2.FileDescriptorProto(name="gpuhealth_prw_v2.proto", package="io.prometheus.write.v2",
                                            syntax="proto3")
    p = ".io.prometheus.write.v2."
    _msg(v2, "Sample", [("value", 1, F.TYPE_DOUBLE, OPT, None), ("timestamp", 2, F.TYPE_INT64, OPT, None),
                        ("start_timestamp", 3, F.TYPE_INT64, OPT, None)])
    _msg(v2, "Histogram", [])
    _msg(v2, "Exemplar", [])
    _msg(v2, "Metadata", [("type", 1, F.TYPE_INT32, OPT, None), ("help_ref", 3, F.TYPE_UINT32, OPT, None),
                          ("unit_ref", 4, F.TYPE_UINT32, OPT, None)])
    _msg(v2, "TimeSeries", [("labels_refs", 1, F.TYPE_UINT32, REP, None),
                            ("samples", 2, F.TYPE_MESSAGE, REP, p + "Sample"),
                            ("histograms", 3, F.TYPE_MESSAGE, REP, p + "Histogram"),
                            ("exemplars", 4, F.TYPE_MESSAGE, REP, p + "Exemplar"),
                            ("metadata", 5, F.TYPE_MESSAGE, OPT, p + "Metadata"),
                            ("created_timestamp", 6, F.TYPE_INT64, OPT, None)])
    _msg(v2, "Request", [("symbols", 4, F.TYPE_STRING, REP, None),
                         ("timeseries", 5, F.TYPE_MESSAGE, REP, p + "TimeSeries")])
    pool.Add(v2)
    get = message_factory.GetMessageClass
    return (get(pool.FindMessageTypeByName("prometheus.WriteRequest")),
            get(pool.FindMessageTypeByName("io.prometheus.write.v2.Request")),
            get(pool.FindMessageTypeByName("prometheus.TimeSeries")))


WriteRequest, RequestV2, TimeSeries = _build()
