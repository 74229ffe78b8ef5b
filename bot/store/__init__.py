"""Persistence: the database, its models and migrations, files under DATA_DIR."""
