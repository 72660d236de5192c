"""Application layer: the ``pyacq-etvr run`` pipeline, its configuration and supervision."""
