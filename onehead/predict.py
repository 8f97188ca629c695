"""Predictions of one checkpoint on single images, and the `predict` command drawing them.

    python -m onehead.predict --weights models/stage3_cls.pt img1.jpg img2.jpg --out predictions/

Each task is run at the resolution it was trained at (one forward pass per distinct
resolution; each pass yields all three outputs, of which that task's are kept).
"""
from __future__ import annotations

import argparse
from pathlib import Path

import torch

from .checkpoint import load_checkpoint, model_from_checkpoint
from .data.common import read_rgb
from .data.transforms import eval_transform
from .model.net import split_outputs
from .tasks import det, seg

SCORE_THRESHOLD = 0.3


@torch.no_grad()
def predict_image(model, ckpt: dict, image: torch.Tensor, max_det: int = 100) -> dict:
    """Seg mask (original size), detections (original coordinates) and cls top-3 for a uint8 image."""
    model.eval()
    orig = tuple(image.shape[-2:])
    sizes = {task: ckpt["image_size"].get(task, max(ckpt["image_size"].values())) for task in ("seg", "det", "cls")}
    outputs = {}
    for size in set(sizes.values()):
        outputs[size] = model(eval_transform(size)(image)[None])
    seg_out, det_out, cls_out = (outputs[sizes[t]] for t in ("seg", "det", "cls"))
    det_parts = split_outputs(det_out, model.layout)
    dets = det.decode(det_parts["det_heatmap"], det_parts["det_box"], (sizes["det"],) * 2, [orig], max_det)[0]
    probs = split_outputs(cls_out, model.layout)["cls"].softmax(1)[0]
    top = probs.topk(min(3, len(probs)))
    return {"mask": seg.predict(seg_out, model.layout, orig), "dets": dets,
            "top3": list(zip(top.indices.tolist(), top.values.tolist()))}


def main(argv=None) -> None:
    from .cli import user_errors
    from .io import atomic_path
    import matplotlib.pyplot as plt

    from .report.draw import prediction_figure

    parser = argparse.ArgumentParser(description="Draw segmentation, boxes and class of each image.")
    parser.add_argument("images", nargs="+", help="image files")
    parser.add_argument("--weights", default="models/stage3_cls.pt", help="checkpoint (default: the final one)")
    parser.add_argument("--out", default="predictions", help="output folder for <image>.png (default predictions/)")
    parser.add_argument("--score", type=float, default=SCORE_THRESHOLD, help="min box score to draw (default 0.3)")
    args = parser.parse_args(argv)
    with user_errors("predict"):
        ckpt = load_checkpoint(args.weights)
        model = model_from_checkpoint(ckpt, args.weights)
        out_dir = Path(args.out)
        for path in map(Path, args.images):
            image = read_rgb(path)
            pred = predict_image(model, ckpt, image)
            fig = prediction_figure(image, pred, ckpt["classes"], args.score, title=path.name)
            with atomic_path(out_dir / f"{path.stem}.png") as tmp:
                fig.savefig(tmp, format="png", dpi=100)
            plt.close(fig)  # one figure per image: free it before the next
            print(f"predict: {path} -> {out_dir / (path.stem + '.png')}  "
                  f"class: {ckpt['classes']['cls'][pred['top3'][0][0]]} ({pred['top3'][0][1]:.2f}), "
                  f"boxes ≥ {args.score}: {int((pred['dets']['scores'] >= args.score).sum())}")


if __name__ == "__main__":
    main()
