"""A synthetic, reproducible data set for replaying the Nijmegen Hitmachine test.

In the CityDeal experiment "Hitmachine Nijmegen" the Veiligheidshuis asked three municipal
services by hand about 145 households (239 individuals) from its Top-150: schuldhulp (debt
counselling, asked about adults), leerplicht (school attendance, asked about school-age
children) and the regieteams (care coordination, asked about everyone). For 77 of the 145
households none of the three knew anyone. The real data are of course not available, so
this generator invents people, caseloads and the professionals' manual answers such that
the machine's rules reproduce exactly those published figures.

Everything is derived from one ``random.Random(seed)`` and the fixed reference date
2011-03-01, so a seed always yields byte-identical files. Before writing, the generator
re-derives the machine's answers from the rows it is about to write, with the service's own
rules (``hitmachine.core``), and refuses to write if they differ from what it planned: the
figures hold by construction *and* by check.

A tool, not part of the installed service: it imports only ``hitmachine.core``, and the
service never imports it. The output is shipped as ``hitmachine/data/nijmegen``.

    python -m tools.synthetic --out hitmachine/data/nijmegen [--seed N]

Modules, in the order the generator uses them: ``constants`` (the figures to reproduce),
``names`` (+ ``names.json``), ``rules``, ``spelling``, ``people``, ``plan``, ``rows``,
``summary``, ``world``, ``readme``, ``write``, ``cli``.
"""

from __future__ import annotations

from tools.synthetic.cli import main
from tools.synthetic.constants import DEFAULT_SEED, GenerationError
from tools.synthetic.rules import bsn_is_valid, fold
from tools.synthetic.summary import SyntheticSummary
from tools.synthetic.world import World, build_world
from tools.synthetic.write import generate, write_world

__all__ = ["DEFAULT_SEED", "GenerationError", "SyntheticSummary", "World", "build_world",
           "bsn_is_valid", "fold", "generate", "main", "write_world"]
