"""Reference outputs of the official SGPN networks on the importer's test fixtures.

Run once, outside this repository's build, in a throwaway Python environment with CPU PyTorch
(`pip install torch numpy`), against a checkout of the official release
(TencentYoutuResearch/FaceRestoration-sgpn, academic licence: its code is imported from that
checkout, never copied here):

    sgpn-train official-fixture --out-dir /tmp/fixture
    python train/official/reference.py --official /path/to/FaceRestoration-sgpn \
        --fixture /tmp/fixture --out train/tests/official/expected.json

The fixtures are loaded with `torch.load` and `load_state_dict(strict=True)`, so a name or shape
that differs from the official modules fails here. The inputs are closed-form patterns that
`train/tests/official_import.rs` computes the same way; the outputs are sampled (every 16th
pixel of the generator's, all 257 coefficients of the regressor's) to keep the file small.
"""

import argparse
import json
import math
import sys

import torch


def lq_pattern(n, c, size):
    y = torch.arange(size, dtype=torch.float64).view(-1, 1)
    x = torch.arange(size, dtype=torch.float64).view(1, -1)
    return 0.8 * torch.sin(0.031 * (c + 1) * x + 0.017 * y + 0.5 * n)


def render_pattern(n, c, size):
    y = torch.arange(size, dtype=torch.float64).view(-1, 1)
    x = torch.arange(size, dtype=torch.float64).view(1, -1)
    inside = ((x - size / 2) / (0.35 * size)) ** 2 + ((y - size / 2) / (0.45 * size)) ** 2 < 1.0
    value = 0.6 * torch.cos(0.023 * x - 0.029 * (c + 1) * y + n)
    return torch.where(inside, value, torch.full_like(value, -1.0))


def coeff_pattern(n, k):
    return 0.3 * math.sin(0.37 * k + n)


def images(pattern, batch, size):
    return torch.stack(
        [torch.stack([pattern(n, c, size) for c in range(3)]) for n in range(batch)]
    ).float()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--official", required=True)
    p.add_argument("--fixture", required=True)
    p.add_argument("--out", required=True)
    args = p.parse_args()
    sys.path.insert(0, args.official)
    from face_restoration.model_sgpn import FullGenerator_SGPN
    from face_d3dfr.d3dfr_pytorch import ReconNetWrapper

    torch.set_grad_enabled(False)
    gen = FullGenerator_SGPN().eval()
    gen.load_state_dict(torch.load(f"{args.fixture}/sgpn.pth", map_location="cpu"), strict=True)
    reg = ReconNetWrapper().eval()
    reg.load_state_dict(
        torch.load(f"{args.fixture}/d3dfr_finetune_ours.pth", map_location="cpu"), strict=True
    )

    batch = 2
    lq = images(lq_pattern, batch, 512)
    render = images(render_pattern, batch, 512)
    coeffs = torch.tensor(
        [[coeff_pattern(n, k) for k in range(257)] for n in range(batch)], dtype=torch.float32
    )
    restored = gen(im_LR=lq, im_D3D=render, coeff_D3D=coeffs).clamp(-1, 1)
    # The regressor's contract input is [-1, 1]; the official wrapper feeds `x * 0.5 + 0.5`.
    face = images(lq_pattern, batch, 224)
    coefficients = reg(face * 0.5 + 0.5)

    out = {
        "generator": {
            "batch": batch,
            "sample_stride": 16,
            "sample_offset": 8,
            "restored_samples": restored[:, :, 8::16, 8::16].reshape(-1).tolist(),
            "restored_channel_means": restored.mean(dim=(2, 3)).reshape(-1).tolist(),
        },
        "regressor": {"batch": batch, "coefficients": coefficients.reshape(-1).tolist()},
        "torch": torch.__version__,
    }
    with open(args.out, "w") as f:
        json.dump(out, f)
    print("restored range", restored.min().item(), restored.max().item(), "std", restored.std().item())
    print("coefficients range", coefficients.min().item(), coefficients.max().item())


if __name__ == "__main__":
    main()
