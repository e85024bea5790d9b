"""A Castle client generated from proto/ by protoc: creates a topic, produces structured
records (key, value, headers, null key) and reads them back with a structured fetch.
Usage: client_roundtrip.py GENERATED_DIR HOST:PORT TOPIC. Prints one JSON object."""
import json
import sys

sys.path.insert(0, sys.argv[1])
import grpc  # noqa: E402
from castle.v1 import admin_pb2, admin_pb2_grpc, broker_pb2, broker_pb2_grpc, records_pb2  # noqa: E402

target, topic = sys.argv[2], sys.argv[3]
channel = grpc.insecure_channel(target)
admin = admin_pb2_grpc.AdminStub(channel)
broker = broker_pb2_grpc.BrokerStub(channel)

created = admin.CreateTopics(admin_pb2.CreateTopicsRequest(topics=[admin_pb2.CreatableTopic(name=topic, num_partitions=2, replication_factor=1)]))
bad = admin.CreateTopics(admin_pb2.CreateTopicsRequest(topics=[admin_pb2.CreatableTopic(name="bad name!", num_partitions=1, replication_factor=1)]))

records = [
    records_pb2.Record(key=b"k1", value=b"hello", headers=[records_pb2.RecordHeader(key="h", value=b"v")]),
    records_pb2.Record(key=b"k2", value=b"world"),
    records_pb2.Record(value=b"no key"),
]
produced = broker.Produce(broker_pb2.ProduceRequest(acks=-1, timeout_ms=5000, topics=[
    broker_pb2.TopicProduceData(name=topic, partitions=[broker_pb2.PartitionProduceData(partition=1, records=records)])]))
fetched = broker.Fetch(broker_pb2.FetchRequest(replica_id=-1, max_wait_ms=100, min_bytes=1, max_bytes=1 << 20,
    format=records_pb2.RECORD_FORMAT_STRUCTURED,
    topics=[broker_pb2.FetchTopic(name=topic, partitions=[broker_pb2.FetchPartition(partition=1, fetch_offset=0, partition_max_bytes=1 << 20)])]))
offsets = broker.ListOffsets(broker_pb2.ListOffsetsRequest(topics=[broker_pb2.ListOffsetsTopic(name=topic, partitions=[
    broker_pb2.ListOffsetsPartition(partition=1, timestamp=-2), broker_pb2.ListOffsetsPartition(partition=1, timestamp=-1)])]))

part = fetched.topics[0].partitions[0]
print(json.dumps({
    "created_error": created.topics[0].error_code,
    "bad_name_error": bad.topics[0].error_code,
    "produce_error": produced.topics[0].partitions[0].error_code,
    "base_offset": produced.topics[0].partitions[0].base_offset,
    "fetch_error": part.error_code,
    "high_watermark": part.high_watermark,
    "records": [{
        "offset": r.offset,
        "key": r.key.decode() if r.HasField("key") else None,
        "value": r.value.decode() if r.HasField("value") else None,
        "headers": {h.key: h.value.decode() for h in r.headers},
    } for r in part.records],
    "offsets": [p.offset for p in offsets.topics[0].partitions],
}))
