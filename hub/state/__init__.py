"""State the hub keeps: processed event ids, case state, and (later) consent and audit."""
