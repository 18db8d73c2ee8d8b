"""The adapter's one seam to pseudonymisation.

Everything else in the adapter treats pseudonymisation as a black box: ``sync`` asks the
pseudonymiser which key version to publish under (``primary_version``), and the pipeline
hands it whole chunks of normalised identities (``pseudonymise(identities, version)``),
never one person at a time, so that a scheme with a round trip per call (a blind OPRF key
service) costs one round trip per chunk. Adding a scheme means adding a branch here and
nothing elsewhere: the keyring file names its scheme.
"""

from __future__ import annotations

from adapters.errors import AdapterUsageError
from hitmachine.domain.keyring import Keyring
from hitmachine.domain.pseudonym import HmacPseudonymiser, Pseudonymiser


def make_pseudonymiser(keyring: Keyring) -> Pseudonymiser:
    """The pseudonymiser for the keyring's scheme. Called once in the main process (for
    the key version) and once in each worker process (the keyring is what they inherit)."""
    if keyring.scheme == "hmac":
        return HmacPseudonymiser(keyring)
    raise AdapterUsageError(f"the keyring's scheme {keyring.scheme!r} is not supported by "
                            "this adapter version")


__all__ = ["Pseudonymiser", "make_pseudonymiser"]
