"""``hub bench``: the hub's pipeline measured side by side with the I/O floor (one intake's
I/O and no logic) and a raw Kafka relay on the same broker, in one run, so that the
ratios hold on a noisy machine (docs/performance.md)."""
