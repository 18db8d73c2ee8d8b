"""Choosing the pseudonymiser for a keyring by the schemes of its versions.

This sits above both schemes (``pseudonym`` for HMAC and the shared types,
``oprf_pseudonym`` for the blind scheme) so that neither has to import the other's
module to pick one: the schemes stay a layer below the choice between them.
"""

from __future__ import annotations

from hitmachine.core.errors import Conflict
from hitmachine.core.keyring import Keyring
from hitmachine.core.pseudonym.base import HmacPseudonymiser, KeyringPseudonymiser, Pseudonymiser
from hitmachine.core.pseudonym.blind import BlindEvaluator, OprfPseudonymiser


def make_pseudonymiser(keyring: Keyring, evaluator: BlindEvaluator | None = None
                       ) -> Pseudonymiser:
    """The pseudonymiser for a keyring: plain HMAC when it holds only HMAC versions, else
    per version (OPRF versions need ``evaluator``, a client of the key service)."""
    schemes = {v.scheme for v in keyring.versions}
    if schemes == {"hmac"}:
        return HmacPseudonymiser(keyring)
    if evaluator is None:
        raise Conflict("this keyring has oprf key versions, but no key service is configured "
                       "(HITMACHINE_KEYSERVICE_URL and HITMACHINE_KEYSERVICE_TOKEN_FILE)")
    by_scheme: dict[str, Pseudonymiser] = {"oprf": OprfPseudonymiser(keyring, evaluator)}
    if "hmac" in schemes:
        by_scheme["hmac"] = HmacPseudonymiser(keyring)
    return KeyringPseudonymiser(keyring, by_scheme)


__all__ = ["make_pseudonymiser"]
