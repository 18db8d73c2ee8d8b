"""Developer tools kept out of the installed service: they import only ``hitmachine.core``."""
