"""CAST-BCQ's update as a hot path of ``python -m common.bench --all --baseline REV`` (common/bench/baseline.py):
``step(device, size)`` builds one learner of ``n_seeds`` seeds on papers.cast_bcq.bench's synthetic tensors and
returns one update (minibatch draw included) as a callable. The benchmark worker loads THIS file in the current
tree and in the older commit's, where its imports resolve to that tree's modules; so it uses only API both trees
have (papers.cast_bcq.bench's CAST_SHAPES, CAST_SIZES and _cast_tensors, CASTBCQ and CASTConfig: unchanged since
issue 22).

size: task (CAST_SHAPES), size ("quick" or "code"), n_seeds, and CASTConfig fields that override the size's
(hidden_vae, hidden, batch_size: the --quick plumbing check); other keys are labels."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

_OVERRIDES = ("hidden_vae", "hidden", "batch_size")


def step(device: torch.device, size: dict[str, Any]) -> Callable[[], object]:
    from papers.cast_bcq.bench import CAST_SHAPES, CAST_SIZES, _cast_tensors  # noqa: PLC0415
    from papers.cast_bcq.cast_bcq import CASTBCQ, CASTConfig  # noqa: PLC0415

    shape, n = CAST_SHAPES[size["task"]], int(size["n_seeds"])
    over = {k: tuple(v) if isinstance(v, list) else v for k, v in size.items() if k in _OVERRIDES}
    cfg = CASTConfig(**{**CAST_SIZES[size["size"]], **over})
    lr = CASTBCQ(
        shape["obs_dims"], shape["act_dims"], shape["state_dim"], n, cfg, seeds=list(range(n)), device=device
    )
    data = lr.prepare_data(_cast_tensors(shape, 20_000, device))
    return lambda: lr.update(lr.sample_batch(data))
