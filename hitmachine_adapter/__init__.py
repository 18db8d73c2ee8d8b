"""The Hitmachine adapter: runs at a partner agency, publishes pseudonyms only.

source → normalise (``hitmachine.core.identity``, the very code the query path uses) →
pseudonymise locally → numbered batches → HTTPS to the Veiligheidshuis. It imports the
domain, never the server's store or API.
"""
