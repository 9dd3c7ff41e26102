"""AdamW and the LR schedule of a run, written out (paper Table 3: AdamW, linear decay to 0, no warmup).

Why our own and not torch.optim: the update is the method's last line of arithmetic, and a reader
should see it. It is also lighter: building any torch.optim optimizer imports torch._dynamo (its
`add_param_group` is wrapped by torch's dynamo guard, which imports the compiler stack on first
call): about 67 MiB of resident memory and a second of start-up, for a loop of element-wise ops.

Numerics: `AdamW.step` is the same sequence of tensor ops as torch's single-tensor AdamW (the path
torch takes for CPU tensors, `torch.optim.adam._single_tensor_adam` with decoupled weight decay), with
the same Python-float scalars, so the two give bit-identical parameters step after step
(tests/train/test_optim.py). Both `state_dict` formats are torch's (`Optimizer.state_dict` and
`LambdaLR.state_dict`, the keys we use), so checkpoints written before and after this module load
in either.

The update, for a parameter p with gradient g at step t (Loshchilov & Hutter, "Decoupled Weight
Decay Regularization", Algorithm 2):

    p   <- p * (1 - lr * wd)                       decoupled weight decay
    m   <- beta1 * m + (1 - beta1) * g             first moment  (lerp)
    v   <- beta2 * v + (1 - beta2) * g^2           second moment
    p   <- p - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)

A parameter whose .grad is None (frozen, or not unfrozen yet) is skipped entirely: no state, no
weight decay. Its moments start at zero and its t at 1 on its first update, which is what
"a newly unfrozen unit starts fresh" means in recipe.py.
"""
from __future__ import annotations

from typing import Any, Callable

import torch


class AdamW:
    """AdamW over one group of parameters (torch.optim.AdamW's defaults: betas (0.9, 0.999), eps 1e-8).

    `param_groups` has torch's shape (a list with one dict holding "params", "lr", ...) because the
    fp16 GradScaler and the LR schedule read and write it there."""

    def __init__(self, params: list[torch.Tensor], lr: float, weight_decay: float = 0.01,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8):
        self.param_groups: list[dict[str, Any]] = [
            {"params": list(params), "lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay}]
        self.state: dict[torch.Tensor, dict[str, torch.Tensor]] = {}  # per parameter: step, exp_avg, exp_avg_sq

    @torch.no_grad()
    def step(self) -> None:
        group = self.param_groups[0]
        lr, (beta1, beta2), eps, wd = group["lr"], group["betas"], group["eps"], group["weight_decay"]
        for p in group["params"]:
            if p.grad is None:
                continue
            grad = p.grad
            state = self.state.get(p)
            if state is None:  # first update of this parameter: fresh moments
                state = self.state[p] = {"step": torch.tensor(0.0), "exp_avg": torch.zeros_like(p),
                                         "exp_avg_sq": torch.zeros_like(p)}
            m, v = state["exp_avg"], state["exp_avg_sq"]
            state["step"] += 1  # a float32 tensor, as torch keeps it (exact for any step count we reach)
            t = state["step"].item()
            if wd != 0:
                p.mul_(1 - lr * wd)
            m.lerp_(grad, 1 - beta1)
            v.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
            step_size = lr / (1 - beta1 ** t)
            denom = (v.sqrt() / (1 - beta2 ** t) ** 0.5).add_(eps)
            p.addcdiv_(m, denom, value=-step_size)

    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self.param_groups[0]["params"]:
            if set_to_none:
                p.grad = None
            elif p.grad is not None:
                p.grad.zero_()

    def state_dict(self) -> dict[str, Any]:
        """torch's layout: parameters by their index in the group, hyperparameters beside them."""
        group = self.param_groups[0]
        index = {id(p): i for i, p in enumerate(group["params"])}
        return {"state": {index[id(p)]: dict(s) for p, s in self.state.items()},
                "param_groups": [{**{k: v for k, v in group.items() if k != "params"},
                                  "params": list(range(len(group["params"])))}]}

    def load_state_dict(self, saved: dict[str, Any]) -> None:
        """Read a state_dict of this class or of torch.optim.AdamW (one group of the same size)."""
        group = self.param_groups[0]
        params = group["params"]
        (saved_group,) = saved["param_groups"]  # ValueError if not exactly one group
        if len(saved_group["params"]) != len(params):
            raise ValueError(f"the saved optimizer has {len(saved_group['params'])} parameters, this one {len(params)}")
        for key in ("lr", "betas", "eps", "weight_decay"):
            group[key] = tuple(saved_group[key]) if key == "betas" else saved_group[key]
        self.state = {}
        for i, s in saved["state"].items():
            p = params[saved_group["params"].index(int(i))]
            if s["exp_avg"].shape != p.shape:
                raise ValueError(f"saved optimizer state {i} has shape {tuple(s['exp_avg'].shape)}, "
                                 f"the parameter {tuple(p.shape)}")
            self.state[p] = {"step": s["step"].detach().clone().float().cpu(),
                             "exp_avg": s["exp_avg"].to(p.device, p.dtype),
                             "exp_avg_sq": s["exp_avg_sq"].to(p.device, p.dtype)}


class LRSchedule:
    """lr at step s = base lr * factor(s), set in the optimizer's group; `step()` after every update.

    As torch's LambdaLR computes it (and with its state_dict keys): the factor of step 0 is applied
    at construction, so the first update uses lr * factor(0)."""

    def __init__(self, optimizer: AdamW, factor: Callable[[int], float]):
        self.optimizer, self.factor = optimizer, factor
        self.base_lr = optimizer.param_groups[0]["lr"]
        self.last_epoch = 0  # LambdaLR's name for the number of step() calls so far
        self._set()

    def _set(self) -> None:
        self.optimizer.param_groups[0]["lr"] = self.base_lr * self.factor(self.last_epoch)

    def step(self) -> None:
        self.last_epoch += 1
        self._set()

    def get_last_lr(self) -> list[float]:
        return [self.optimizer.param_groups[0]["lr"]]

    def state_dict(self) -> dict[str, Any]:
        return {"base_lrs": [self.base_lr], "last_epoch": self.last_epoch, "_step_count": self.last_epoch + 1,
                "_last_lr": self.get_last_lr(), "lr_lambdas": [None]}  # None: a plain function, as LambdaLR writes it

    def load_state_dict(self, saved: dict[str, Any]) -> None:
        (self.base_lr,) = saved["base_lrs"]
        self.last_epoch = int(saved["last_epoch"])
        self._set()


__all__ = ["AdamW", "LRSchedule"]
