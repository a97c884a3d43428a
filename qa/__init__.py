"""Question in, ranked cited passages and extractive answers out."""
