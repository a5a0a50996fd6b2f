"""Expected numbers for tests/nn/test_optim.cpp, from PyTorch 1.13.1 (Debian's python3-torch).

    /usr/bin/python3 tests/nn/optim_expected.py

prints the C++ arrays that test_optim.cpp hardcodes. The problem (same formulas in the test):
    W [3, 4], b [4], X [5, 3], Y [5, 4]   (values from small integer formulas, exact in float32)
    loss = sum(((X.unsqueeze(2) * W).sum(1) + b - Y) ** 2)     (i.e. X @ W + b)
whose gradient is recomputed every step by hand, in float64 with a fixed order of operations
(set_grads below; test_optim.cpp has the same loops), then rounded to float32. So both sides feed
the optimizer bit-identical gradients and the comparison measures the optimizer alone.
optimizer.step() runs 6 times and the parameters after the last step are printed.
clip_grad_norm_ clips those same first gradients. The [37, 19] cases use autograd gradients.
"""
import math

import torch

STEPS = 6


def problem():
    W = torch.tensor([[0.1 * (i * 4 + j) - 0.55 for j in range(4)] for i in range(3)], requires_grad=True)
    b = torch.tensor([0.05 * j - 0.1 for j in range(4)], requires_grad=True)
    X = torch.tensor([[((n * 3 + k * 7) % 11) / 5.0 - 1.0 for k in range(3)] for n in range(5)])
    Y = torch.tensor([[((n * 5 + j * 3) % 7) / 4.0 - 0.7 for j in range(4)] for n in range(5)])
    return W, b, X, Y


def loss_of(W, b, X, Y):
    return (((X.unsqueeze(2) * W).sum(1) + b - Y) ** 2).sum()


def set_grads(W, b, X, Y):
    # r = X @ W + b - Y;  dL/dW = sum_n 2 X[n, k] r[n, j];  dL/db = sum_n 2 r[n, j]   (float64)
    w, bb, x, y = W.tolist(), b.tolist(), X.tolist(), Y.tolist()
    r = [[0.0] * 4 for _ in range(5)]
    for n in range(5):
        for j in range(4):
            acc = 0.0
            for k in range(3):
                acc += x[n][k] * w[k][j]
            r[n][j] = acc + bb[j] - y[n][j]
    gw = [[0.0] * 4 for _ in range(3)]
    gb = [0.0] * 4
    for k in range(3):
        for j in range(4):
            for n in range(5):
                gw[k][j] += 2.0 * x[n][k] * r[n][j]
    for j in range(4):
        for n in range(5):
            gb[j] += 2.0 * r[n][j]
    W.grad = torch.tensor(gw)
    b.grad = torch.tensor(gb)


def run(make_opt):
    W, b, X, Y = problem()
    opt = make_opt([W, b])
    for _ in range(STEPS):
        opt.zero_grad()
        set_grads(W, b, X, Y)
        opt.step()
    return W.detach().flatten().tolist() + b.detach().tolist()


def big_problem():
    # A [37, 19] parameter: long enough for the SIMD body of both PyTorch's and xgrad's kernels.
    n = 37 * 19
    P = torch.tensor([((i * 13) % 29) / 10.0 - 1.4 for i in range(n)]).reshape(37, 19).requires_grad_()
    T = torch.tensor([((i * 7) % 17) / 8.0 - 1.0 for i in range(n)]).reshape(37, 19)
    C = torch.tensor([((i * 5) % 11) / 4.0 + 0.25 for i in range(n)]).reshape(37, 19)
    return P, T, C


def run_big(make_opt):
    P, T, C = big_problem()
    opt = make_opt([P])
    for _ in range(STEPS):
        opt.zero_grad()
        (((P - T) ** 2) * C).sum().backward()
        opt.step()
    flat = P.detach().flatten()
    return [flat[i].item() for i in (0, 1, 7, 8, 100, 355, 600, 702)]


def cpp(name, values):
    return "const std::vector<double> %s = {%s};" % (name, ", ".join(repr(float(v)) for v in values))


O = torch.optim
configs = {
    "sgd_plain": lambda p: O.SGD(p, lr=0.01),
    "sgd_momentum": lambda p: O.SGD(p, lr=0.01, momentum=0.9),
    "sgd_nesterov": lambda p: O.SGD(p, lr=0.01, momentum=0.9, nesterov=True),
    "sgd_dampening_wd": lambda p: O.SGD(p, lr=0.01, momentum=0.9, dampening=0.3, weight_decay=0.1),
    "sgd_wd": lambda p: O.SGD(p, lr=0.01, weight_decay=0.1),
    "adam": lambda p: O.Adam(p, lr=0.05),
    "adam_wd": lambda p: O.Adam(p, lr=0.05, weight_decay=0.1),
    "adam_amsgrad": lambda p: O.Adam(p, lr=0.05, betas=(0.8, 0.99), amsgrad=True),
    "adamw": lambda p: O.AdamW(p, lr=0.05),
    "adamw_wd_amsgrad": lambda p: O.AdamW(p, lr=0.05, weight_decay=0.1, amsgrad=True),
}
for name, make in configs.items():
    print(cpp(name, run(make)))

print(cpp("big_sgd_nesterov", run_big(lambda p: O.SGD(p, lr=0.01, momentum=0.9, nesterov=True, weight_decay=0.01))))
print(cpp("big_adam", run_big(lambda p: O.Adam(p, lr=0.05, weight_decay=0.01))))
print(cpp("big_adamw_amsgrad", run_big(lambda p: O.AdamW(p, lr=0.05, amsgrad=True))))


def lrs(make_sched, base_lr, steps):
    p = torch.zeros(1, requires_grad=True)
    opt = O.SGD([p], lr=base_lr)
    sched = make_sched(opt)
    out = [opt.param_groups[0]["lr"]]
    for _ in range(steps):
        opt.step()
        sched.step()
        out.append(sched.get_last_lr()[0])
    return out


S = O.lr_scheduler
print(cpp("step_lr", lrs(lambda o: S.StepLR(o, step_size=7, gamma=0.5), 0.1, 50)))
print(cpp("cosine_lr", lrs(lambda o: S.CosineAnnealingLR(o, T_max=20, eta_min=0.001), 0.1, 50)))
print(cpp("linear_lr", lrs(lambda o: S.LinearLR(o, start_factor=0.25, total_iters=8), 0.1, 12)))

# clip_grad_norm_ on the problem's first gradients.
for norm_type in (2.0, 1.0, math.inf):
    W, b, X, Y = problem()
    set_grads(W, b, X, Y)
    total = torch.nn.utils.clip_grad_norm_([W, b], max_norm=1.0, norm_type=norm_type)
    tag = {2.0: "2", 1.0: "1", math.inf: "inf"}[norm_type]
    print(cpp("clip_norm_" + tag, [total.item()]))
    print(cpp("clipped_grads_" + tag, W.grad.flatten().tolist() + b.grad.tolist()))
