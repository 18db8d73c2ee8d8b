"""Print the API's OpenAPI document (``make openapi`` writes it to ``openapi/openapi.json``)."""

from __future__ import annotations

import json
import sys
from typing import Any

from hitmachine.http.app import create_app
from hitmachine.settings import Settings


def document(settings: Settings | None = None) -> dict[str, Any]:
    # Without settings, create_app loads this process's one Settings from the environment.
    spec: dict[str, Any] = create_app(settings).openapi()
    return spec


def render() -> str:
    return json.dumps(document(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


if __name__ == "__main__":
    sys.stdout.write(render())
