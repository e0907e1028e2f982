"""The bottom layer: errors, topic and group names, the record type and the shape of a
subject. It imports nothing of the hub; everything else may import it."""
