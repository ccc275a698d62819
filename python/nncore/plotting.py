"""Training-history plots. matplotlib is optional: ``pip install 'nncore[plot]'``."""
from __future__ import annotations

import os
from typing import Any, Dict, List, Optional, Sequence

__all__ = ["plot_history"]


def _history_dict(history: Any) -> Dict[str, List[float]]:
    h = getattr(history, "history", history)  # a History callback or its .history dict
    if not isinstance(h, dict):
        raise TypeError(f"plot_history: expected a History or a dict of per-epoch values, got {type(history).__name__}")
    return {str(k): [float(v) for v in vs] for k, vs in h.items()}


def plot_history(history: Any, path: str, metrics: Optional[Sequence[str]] = None) -> None:
    """Writes a PNG with one subplot per metric: the training curve and, when present, its ``val_`` curve.

    ``history`` is what ``fit`` returns (or its ``.history`` dict); ``metrics`` picks and orders the subplots
    (default: every non-``val_`` key, loss first).

    Example:
        >>> history = model.fit(x, y, epochs=10, validation_split=0.2)
        >>> nncore.plot_history(history, "history.png")
    """
    h = _history_dict(history)
    if metrics is None:
        metrics = [k for k in h if not k.startswith("val_")]
        metrics += [k[4:] for k in h if k.startswith("val_") and k[4:] not in h]  # validation-only keys
    else:
        metrics = list(metrics)
        missing = [m for m in metrics if m not in h and "val_" + m not in h]
        if missing:
            raise ValueError(f"plot_history: no values for {', '.join(missing)}; history has {', '.join(h) or 'none'}")
    if not metrics:
        raise ValueError("plot_history: the history holds no metrics")
    try:
        import matplotlib
    except ImportError as e:
        raise ImportError("plot_history needs matplotlib: pip install 'nncore[plot]'") from e
    # Agg renders to files without a display; an object-oriented Figure leaves pyplot's global state alone.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5 * len(metrics), 4))
    FigureCanvasAgg(fig)
    for i, name in enumerate(metrics):
        ax = fig.add_subplot(1, len(metrics), i + 1)
        for key, label in ((name, "train"), ("val_" + name, "validation")):
            if key in h:
                ax.plot(range(1, len(h[key]) + 1), h[key], marker="o", markersize=3, label=label)
        ax.set_title(name)
        ax.set_xlabel("epoch")
        ax.grid(True, alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(os.fspath(path), format="png")
