"""Keyed pseudonyms: the shared types and HMAC (base), blind OPRF (blind), the choice (factory)."""
