"""Print the API's OpenAPI document (``make openapi`` writes it to ``openapi/openapi.json``)."""

from __future__ import annotations

import json
import sys
from typing import Any

from hitmachine.api.app import create_app
from hitmachine.config import Settings


def document() -> dict[str, Any]:
    spec: dict[str, Any] = create_app(Settings()).openapi()
    return spec


def render() -> str:
    return json.dumps(document(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


if __name__ == "__main__":
    sys.stdout.write(render())
