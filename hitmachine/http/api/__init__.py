"""The HTTP shell: FastAPI routers over ``hitmachine.services``. Build it with ``create_app``."""
