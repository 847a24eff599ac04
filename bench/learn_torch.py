"""PyTorch yardstick for bench/learn.bench.ts: the same update shapes (batch 256), Debian's python3-torch on CPU.

IQL: Gaussian policy, V, twin Q + Polyak targets, Adam, 2x256 MLPs (LayerNorm in critics); in image mode each of
policy, Q, V has its own 3-conv encoder (32 filters, 3x3, stride 2, same) with zI (Dense-LN-tanh, 32) and zS
(mean/log-var, 16) heads, a domain classifier through gradient reversal and the KL term, plus a target Q encoder.
DAIB classifier: the same encoder with a 2x256 success head.
Usage: python3 bench/learn_torch.py THREADS QUICK [ONLY [WARMUP]]   (ONLY: comma-separated substrings of the workload
names; WARMUP: extra warm-up steps per workload, as learn.bench.ts --warmup)
Prints one JSON object: {"threads": n, "rows": [{"name", "medianMs", "p99Ms", "cpuMedianMs", "n"}]}.
"""
import json
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

threads = int(sys.argv[1]) if len(sys.argv) > 1 else torch.get_num_threads()
quick = len(sys.argv) > 2 and sys.argv[2] == "1"
torch.set_num_threads(threads)
torch.manual_seed(0)
B = 256


class Grl(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return x.view_as(x)

    @staticmethod
    def backward(ctx, g):
        return -g


class Encoder(nn.Module):
    def __init__(self, size):
        super().__init__()
        self.convs = nn.Sequential(
            nn.Conv2d(3, 32, 3, 2, 1), nn.ReLU(), nn.Conv2d(32, 32, 3, 2, 1), nn.ReLU(), nn.Conv2d(32, 32, 3, 2, 1), nn.ReLU(), nn.Flatten())
        flat = 32 * (size // 8) ** 2
        self.zi = nn.Sequential(nn.Linear(flat, 32), nn.LayerNorm(32, eps=1e-5), nn.Tanh())
        self.mu = nn.Linear(flat, 16)
        self.lv = nn.Linear(flat, 16)
        self.dom = nn.Sequential(nn.Linear(32, 128), nn.ReLU(), nn.Linear(128, 8))

    def forward(self, x, train=True):
        h = self.convs(x)
        zi, mu = self.zi(h), self.mu(h)
        if not train:
            return torch.cat([zi, mu], -1), 0.0, None
        lv = self.lv(h).clamp(-10, 4)
        zs = mu + torch.exp(0.5 * lv) * torch.randn_like(mu)
        kl = 0.5 * (mu ** 2 + lv.exp() - 1 - lv).sum(-1).mean()
        dom = F.cross_entropy(self.dom(Grl.apply(zi)), torch.randint(0, 8, (x.shape[0],)))
        return torch.cat([zi, zs], -1), 0.01 * dom + 1e-3 * kl, torch.cat([zi, mu], -1).detach()


def mlp(i, o, ln):
    layers = []
    for _ in range(2):
        layers += [nn.Linear(i, 256)] + ([nn.LayerNorm(256, eps=1e-5)] if ln else []) + [nn.ReLU()]
        i = 256
    return nn.Sequential(*layers, nn.Linear(i, o))


def iql(size, critics=2):
    """One IQL update function; size None = cached 48-d features. critics > 2: RLPD's ensemble (target: min of a random 2)."""
    F_ = 48
    P, A = 9, 3
    enc = {k: Encoder(size) for k in ("pi", "q", "v")} if size else None
    qt_enc = Encoder(size) if size else None
    pi, v = mlp(F_ + P, A, False), mlp(F_ + P, 1, True)
    qs = [mlp(F_ + P + A, 1, True) for _ in range(critics)]
    qts = [mlp(F_ + P + A, 1, True) for _ in range(critics)]
    for t, q in zip(qts, qs):
        t.load_state_dict(q.state_dict())
    log_std = nn.Parameter(torch.zeros(A))
    p_pi = list(pi.parameters()) + [log_std] + (list(enc["pi"].parameters()) if enc else [])
    p_v = list(v.parameters()) + (list(enc["v"].parameters()) if enc else [])
    p_q = [p for q in qs for p in q.parameters()] + (list(enc["q"].parameters()) if enc else [])
    o_pi, o_v, o_q = (torch.optim.Adam(p, lr=3e-4) for p in (p_pi, p_v, p_q))
    if size:
        obs, nobs = torch.rand(B, 3, size, size), torch.rand(B, 3, size, size)
    else:
        obs, nobs = torch.randn(B, F_), torch.randn(B, F_)
    prop, nprop = torch.randn(B, P), torch.randn(B, P)
    act, rew, done = torch.rand(B, A) * 2 - 1, torch.rand(B, 1), torch.zeros(B, 1)

    def feat(which, x, train):
        """(features, DAIB aux loss, deterministic features of the same pass (training only))."""
        if not size:
            return x, 0.0, x
        e = qt_enc if which == "qt" else enc[which]
        return e(x, train)

    def step():
        with torch.no_grad():
            zq, _, _ = feat("qt", obs, False)
            qin = torch.cat([zq, prop, act], -1)
            sub = torch.randperm(critics)[:2].tolist() if critics > 2 else range(critics)
            qt = torch.stack([qts[j](qin) for j in sub]).min(0).values
        # V's step first, as src/learn/iql.ts: its encoder pass also gives the advantages' V(s) (pre-update weights).
        z, aux, zv = feat("v", obs, True)
        d = qt - v(torch.cat([z, prop], -1))
        loss = (0.8 * F.relu(d) ** 2 + 0.2 * F.relu(-d) ** 2).mean() + aux
        with torch.no_grad():
            w = torch.exp(3 * (qt - v(torch.cat([zv, prop], -1)))).clamp(max=100)
        o_v.zero_grad(); loss.backward(); o_v.step()
        z, aux, _ = feat("pi", obs, True)
        mean = torch.tanh(pi(torch.cat([z, prop], -1)))
        logp = torch.distributions.Normal(mean, log_std.clamp(-5, 2).exp()).log_prob(act).sum(-1, keepdim=True)
        loss = -(w * logp).mean() + aux
        o_pi.zero_grad(); loss.backward(); o_pi.step()
        with torch.no_grad():
            zn, _, _ = feat("v", nobs, False)
            y = rew + 0.99 * (1 - done) * v(torch.cat([zn, nprop], -1))
        z, aux, _ = feat("q", obs, True)
        qi = torch.cat([z, prop, act], -1)
        loss = sum(((q(qi) - y) ** 2).mean() for q in qs) + aux
        o_q.zero_grad(); loss.backward(); o_q.step()
        with torch.no_grad():
            pairs = list(zip(qts, qs)) + ([(qt_enc, enc["q"])] if size else [])
            for t, s in pairs:
                for pt, ps in zip(t.parameters(), s.parameters()):
                    pt.mul_(0.995).add_(ps, alpha=0.005)
    return step


def daib(size):
    enc = Encoder(size)
    head = mlp(48, 1, False)
    opt = torch.optim.Adam(list(enc.parameters()) + list(head.parameters()), lr=3e-4)
    x, y = torch.rand(B, 3, size, size), torch.randint(0, 2, (B, 1)).float()

    def step():
        z, aux, _ = enc(x, True)
        loss = F.binary_cross_entropy_with_logits(head(z), y) + aux
        opt.zero_grad(); loss.backward(); opt.step()
    return step


def measure(name, fn, warmup, iters):
    for _ in range(warmup):
        fn()
    t, c = [], []
    for _ in range(iters):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        t.append((time.perf_counter() - t0) * 1000)
        c.append((time.process_time() - c0) * 1000)
    t.sort()
    c.sort()
    return {"name": name, "medianMs": t[len(t) // 2], "p99Ms": t[min(len(t) - 1, int(0.99 * len(t)))], "cpuMedianMs": c[len(c) // 2], "n": len(t)}


only = [w for w in sys.argv[3].split(",") if w] if len(sys.argv) > 3 else []
extra_warmup = int(sys.argv[4]) if len(sys.argv) > 4 else 0
workloads = [
    ("daib classifier 64x64", lambda: daib(64), 2, 2 if quick else 5),
    ("iql image encoders 32x32", lambda: iql(32), 2, 2 if quick else 5),
    ("iql image encoders 64x64", lambda: iql(64), 2, 2 if quick else 3),
    ("iql cached features (48-d)", lambda: iql(None), 10, 10 if quick else 40),
    ("iql features, 10 critics", lambda: iql(None, 10), 3, 4 if quick else 40),
]
rows = [measure(name, make(), w + extra_warmup, n) for name, make, w, n in workloads if not only or any(o in name for o in only)]
print(json.dumps({"threads": threads, "torch": torch.__version__, "rows": rows}))
