"""``hub bench``: the hub's pipeline measured side by side with a raw Kafka relay on the
same broker, in one run, so that the ratios hold on a noisy machine (docs/performance.md)."""
