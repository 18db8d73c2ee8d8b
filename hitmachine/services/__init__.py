"""Use cases, each a short pipeline over the domain and the store. No web imports here."""
