"""The adapter's one seam to pseudonymisation.

Everything else in the adapter treats pseudonymisation as a black box: ``sync`` asks the
pseudonymiser which key version to publish under (``primary_version``), and the pipeline
hands it whole chunks of normalised identities (``pseudonymise(identities, version)``),
never one person at a time, so that a scheme with a round trip per call (a blind OPRF key
service) costs one round trip per chunk. The keyring file names its scheme:

- ``hmac``: the keyring holds the key; pseudonyms are computed here.
- ``oprf``: the keyring holds no key, only version numbers and the key service's URL. Each
  chunk's identifiers are blinded here, evaluated by the key service (which sees only random
  group elements), and unblinded here (``hitmachine.core.pseudonym.blind``). The adapter
  authenticates to the key service with its own token (``--keyservice-token-file``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from hitmachine.core.errors import AuthenticationFailed, HitmachineError, Unavailable
from hitmachine.core.keyring import SCHEMES, Keyring
from hitmachine.core.pseudonym.base import Pseudonymiser
from hitmachine.core.pseudonym.factory import make_pseudonymiser as _for_keyring
from hitmachine_adapter.errors import (
    AdapterAuthError,
    AdapterError,
    AdapterServerError,
    AdapterUsageError,
)

KEYSERVICE_TOKEN_FILE = "keyservice.token"  # default: beside the keyring


@dataclass(frozen=True)
class KeyAccess:
    """An oprf keyring with how to reach its key service: what the workers inherit."""

    keyring: Keyring
    keyservice_url: str
    token: str
    verify: bool | str = True
    timeout: float = 120.0


Keys = Keyring | KeyAccess


def key_access(keyring: Keyring, keyring_path: Path, *, scheme: str | None,
               keyservice_url: str | None, token_file: Path | None,
               verify: bool | str = True) -> Keys:
    """What the pseudonymiser needs for this keyring, checked against ``--scheme``."""
    from hitmachine_adapter.config import read_token_file

    if scheme is not None and scheme not in SCHEMES:
        raise AdapterUsageError(f"--scheme must be one of {', '.join(SCHEMES)}")
    primary = keyring.primary.scheme
    if scheme is not None and scheme != primary:
        raise AdapterUsageError(f"--scheme is {scheme}, but keyring {keyring_path} is for "
                                f"{primary}; ask the Veiligheidshuis for a keyring exported "
                                "after its move to " + scheme)
    if primary == "hmac":
        return keyring
    url = keyservice_url or keyring.keyservice_url
    if not url:
        raise AdapterUsageError("an oprf keyring needs the key service's URL: --keyservice")
    token = read_token_file(token_file or keyring_path.parent / KEYSERVICE_TOKEN_FILE)
    return KeyAccess(keyring, url, token, verify)


class _AdapterEvaluator:
    """The key service client, its failures turned into the adapter's exit codes."""

    def __init__(self, access: KeyAccess) -> None:
        from hitmachine.core.keyservice_client import KeyServiceClient

        self._client = KeyServiceClient(access.keyservice_url, access.token,
                                        timeout=access.timeout, verify=access.verify)

    def evaluate(self, version: int, blinded: Sequence[bytes]) -> list[bytes]:
        try:
            return self._client.evaluate(version, blinded)
        except AuthenticationFailed as exc:
            raise AdapterAuthError(f"the key service refused the token: {exc.detail}") from None
        except Unavailable as exc:
            raise AdapterServerError(exc.detail) from None
        except HitmachineError as exc:
            raise AdapterError(exc.detail) from None


def make_pseudonymiser(keys: Keys) -> Pseudonymiser:
    """The pseudonymiser for the keyring's scheme. Called once in the main process (for
    the key version) and once in each worker process (``keys`` is what they inherit)."""
    if isinstance(keys, KeyAccess):
        return _for_keyring(keys.keyring, _AdapterEvaluator(keys))
    if keys.scheme == "hmac" and {v.scheme for v in keys.versions} == {"hmac"}:
        return _for_keyring(keys)
    raise AdapterUsageError(f"the keyring's scheme {keys.scheme!r} needs the key service "
                            "(--keyservice-token-file)")


__all__ = ["KEYSERVICE_TOKEN_FILE", "KeyAccess", "Keys", "Pseudonymiser", "key_access",
           "make_pseudonymiser"]
