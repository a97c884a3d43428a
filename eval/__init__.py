"""The retrieval evaluation set and harness."""
