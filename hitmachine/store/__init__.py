"""Persistence: the SQLAlchemy schema, the database handle and one module per table group."""
