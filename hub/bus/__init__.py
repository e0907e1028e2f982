"""The Kafka bus: topic names, the broker factory, the envelope codec and the embedded broker."""
