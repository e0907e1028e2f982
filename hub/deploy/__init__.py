"""Deployment: the Kubernetes workloads and the Kafka principals and ACLs they run
under. It reads the connectors and the router's groups, so it sits above them."""
