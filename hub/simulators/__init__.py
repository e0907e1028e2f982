"""Partner simulators: small HTTP servers that speak the reference partner contracts, for
demos, flow tests and load tests on loopback."""
