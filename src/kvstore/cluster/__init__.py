"""Cluster mode: the topology document, the views of it the command layer reads, and the
metadata store (etcd) that holds it. See docs/cluster.md."""
