"""policyqa: semantic search and extractive QA over Chinese government policy documents."""

__version__ = "0.1.0"
