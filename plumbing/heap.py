"""Keep the garbage collector's full passes off the request path.

A service holds a few hundred thousand long-lived objects once it has started (pandas,
scikit-learn, pydantic, the model). CPython's full (gen 2) collection walks all of them,
and every request waiting in that process waits that long. py-spy and the bench showed
exactly such stalls in the latency tail. ``gc.freeze()`` moves what exists now to a
permanent generation that collections skip; objects made later are collected as usual.
"""

import gc


def freeze_startup_objects() -> None:
    """Collect once, then exempt every surviving object from later collections.

    Call it when start-up is done (and again after loading a model); the collection
    first keeps start-up garbage from being frozen with the rest.
    """
    gc.collect()
    gc.freeze()
