"""HTTP boundary: the public endpoints (client, health, readiness, status, rooms), the operator's
admin API and its bearer-token auth, and Prometheus ``/metrics``."""
