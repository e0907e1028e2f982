"""The connector runtime: everything a connector does not do itself."""
