"""funfisher/train/optim.py: our AdamW and LR schedule against torch.optim's, bit for bit.

Bit-identity (torch.equal, no tolerance) is the claim the module makes: the same tensor ops in the
same order with the same Python-float scalars, so runs and checkpoints made before the module
existed (with torch.optim.AdamW + LambdaLR) continue exactly."""
from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from funfisher.train.optim import AdamW, LRSchedule

STEPS = 12


def linear(total: int):
    return lambda s: max(0.0, 1.0 - s / total)


def make_params(seed: int = 0) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    shapes = [(7, 5), (5,), (3, 7), (1,)]
    return [torch.randn(s, generator=g).requires_grad_() for s in shapes]


def grads_for(step: int, params: list[torch.Tensor]) -> list[torch.Tensor | None]:
    """Deterministic gradients; parameter 2 is frozen until step 4 (grad None: a unit unfrozen later),
    parameter 3 gets a gradient on even steps only."""
    g = torch.Generator().manual_seed(100 + step)
    out: list[torch.Tensor | None] = [torch.randn(p.shape, generator=g) * 10 ** (i - 2) for i, p in enumerate(params)]
    if step < 4:
        out[2] = None
    if step % 2:
        out[3] = None
    return out


def run_steps(opt, schedule, params, steps: range) -> list[float]:
    lrs = []
    for step in steps:
        for p, grad in zip(params, grads_for(step, params)):
            p.grad = None if grad is None else grad.clone()
        lrs.append(schedule.get_last_lr()[0])
        opt.step()
        schedule.step()
        opt.zero_grad(set_to_none=True)
    return lrs


def torch_pair(params, lr=1e-3, wd=0.01, total=STEPS):
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=wd)
    return opt, torch.optim.lr_scheduler.LambdaLR(opt, linear(total))


def our_pair(params, lr=1e-3, wd=0.01, total=STEPS):
    opt = AdamW(params, lr=lr, weight_decay=wd)
    return opt, LRSchedule(opt, linear(total))


@pytest.mark.parametrize("wd", [0.0, 0.01])
def test_steps_are_bit_identical_to_torch_adamw(wd):
    theirs, ours = make_params(), make_params()
    their_lrs = run_steps(*torch_pair(theirs, wd=wd), theirs, range(STEPS))
    our_lrs = run_steps(*our_pair(ours, wd=wd), ours, range(STEPS))
    assert our_lrs == their_lrs  # the same Python floats
    assert their_lrs[0] == 1e-3 and their_lrs[-1] == pytest.approx(1e-3 / STEPS)
    for a, b in zip(theirs, ours):
        assert torch.equal(a, b)
    assert not torch.equal(theirs[0], make_params()[0])  # they did move


def test_a_parameter_without_gradient_is_left_alone():
    params = make_params()
    before = params[2].detach().clone()
    opt, schedule = our_pair(params, wd=0.5)
    run_steps(opt, schedule, params, range(4))  # parameter 2 has no gradient in steps 0-3
    assert torch.equal(params[2], before)  # not even weight decay
    assert params[2] not in opt.state
    run_steps(opt, schedule, params, range(4, 5))
    assert opt.state[params[2]]["step"].item() == 1.0  # its first update: fresh moments, t = 1


@pytest.mark.parametrize("direction", ["torch->ours", "ours->torch"])
def test_state_dicts_interchange_and_resume_exactly(direction):
    """Half the steps with one implementation, its state_dicts loaded into the other, the rest there:
    the same parameters as the whole run with torch (old checkpoints resume; new ones are torch's format)."""
    reference = make_params()
    run_steps(*torch_pair(reference), reference, range(STEPS))

    params = make_params()
    first, second = (torch_pair, our_pair) if direction == "torch->ours" else (our_pair, torch_pair)
    opt, schedule = first(params)
    run_steps(opt, schedule, params, range(STEPS // 2))
    saved_opt, saved_schedule = opt.state_dict(), schedule.state_dict()
    # a checkpoint is torch.save'd: the resumed run sees copies, never the live tensors
    saved_opt = {"state": {i: {k: v.clone() for k, v in s.items()} for i, s in saved_opt["state"].items()},
                 "param_groups": saved_opt["param_groups"]}
    resumed = [p.detach().clone().requires_grad_() for p in params]
    opt2, schedule2 = second(resumed, lr=1e-3)
    opt2.load_state_dict(saved_opt)
    schedule2.load_state_dict(saved_schedule)
    run_steps(opt2, schedule2, resumed, range(STEPS // 2, STEPS))
    for a, b in zip(reference, resumed):
        assert torch.equal(a, b)


def test_schedule_state_dict_keys_match_lambdalr():
    params = make_params()
    _, theirs = torch_pair(params)
    _, ours = our_pair(make_params())
    for _ in range(3):
        theirs.optimizer.step()
        theirs.step()
        ours.step()
    t, o = theirs.state_dict(), ours.state_dict()
    assert {k: o[k] for k in o} == {k: t[k] for k in o}  # every key we write, with torch's value


def test_load_refuses_another_parameter_count():
    opt = AdamW(make_params(), lr=1e-3)
    other = AdamW(make_params()[:2], lr=1e-3)
    with pytest.raises(ValueError, match="2 parameters, this one 4"):
        opt.load_state_dict(other.state_dict())


def test_no_compiler_stack_is_imported():
    """The reason the module exists beside torch.optim: building and stepping it leaves torch._dynamo
    (about 67 MiB resident) unimported. A fresh interpreter, since this one may have imported it."""
    code = ("import sys, torch\n"
            "from funfisher.train.optim import AdamW, LRSchedule\n"
            "p = torch.nn.Linear(3, 2)\n"
            "opt = AdamW(list(p.parameters()), lr=0.1); s = LRSchedule(opt, lambda i: 1.0)\n"
            "p(torch.ones(1, 3)).sum().backward(); opt.step(); s.step(); opt.zero_grad()\n"
            "print('torch._dynamo' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
