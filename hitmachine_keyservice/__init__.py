"""The OPRF key service: the one place the blind-pseudonym key lives.

A separate small ASGI app (``hitmachine keyservice serve``), with its own directory (key
file, token file, audit log), never the HMAC keyring and never a database. It evaluates
batches of blinded elements for authenticated adapters (and for the Veiligheidshuis's query
path), audits each batch as a count per adapter, and rate-limits every token.
"""
