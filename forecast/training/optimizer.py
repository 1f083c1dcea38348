"""The optimiser of GraphCast training: AdamW, linear warm-up then cosine decay, norm clipping.

GraphCast (Lam et al. 2023, §4 and supplement) trains with AdamW (β₁ = 0.9, β₂ = 0.95,
weight decay 0.1), a linear warm-up from 0 to the peak learning rate, a cosine (half-period)
decay, and gradients clipped to global norm 32. Defaults follow it; a phase of training
(e.g. 1-step, then multi-step fine-tuning) gets its own schedule.
"""

from __future__ import annotations

import optax

from forecast.errors import InvalidInputError


def learning_rate_schedule(
    *, peak: float, warmup_steps: int, total_steps: int, end_fraction: float = 0.01
) -> optax.Schedule:
    """Linear warm-up 0 → `peak` over `warmup_steps`, then cosine decay to `end_fraction·peak`.

    Args:
        peak: peak learning rate.
        warmup_steps: steps of the linear ramp (0 starts at the peak).
        total_steps: length of the whole phase, warm-up included.
        end_fraction: final learning rate as a fraction of the peak.

    Raises:
        InvalidInputError: non-positive peak/total, or a warm-up longer than the phase.
    """
    if peak <= 0 or total_steps <= 0:
        raise InvalidInputError(f"learning rate {peak} and steps {total_steps} must be positive")
    if not 0 <= warmup_steps <= total_steps:
        raise InvalidInputError(f"warmup_steps {warmup_steps} must lie in [0, {total_steps}]")
    return optax.warmup_cosine_decay_schedule(
        init_value=0.0,
        peak_value=peak,
        warmup_steps=warmup_steps,
        decay_steps=total_steps,
        end_value=peak * end_fraction,
    )


def make_optimizer(
    schedule: optax.Schedule,
    *,
    weight_decay: float = 0.1,
    b1: float = 0.9,
    b2: float = 0.95,
    clip_norm: float = 32.0,
) -> optax.GradientTransformation:
    """Gradient clipping by global norm, then AdamW with the given schedule."""
    return optax.chain(
        optax.clip_by_global_norm(clip_norm),
        optax.adamw(schedule, b1=b1, b2=b2, weight_decay=weight_decay),
    )
