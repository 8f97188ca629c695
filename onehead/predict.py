"""The `predict` command: draw what one checkpoint predicts on your own images.

    python -m onehead.predict --weights models/stage3_cls.pt img1.jpg img2.jpg --out predictions/
"""
from __future__ import annotations

import argparse
from pathlib import Path

from .checkpoint import load_checkpoint, model_from_checkpoint
from .cli import user_errors
from .data.common import read_rgb
from .inference import SCORE_THRESHOLD, predict_image
from .report.draw import prediction_figure, save_png


def main(argv=None) -> None:
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
            fig = prediction_figure(image, pred, ckpt.classes, args.score, title=path.name)
            save_png(fig, out_dir / f"{path.stem}.png", dpi=100)
            print(f"predict: {path} -> {out_dir / (path.stem + '.png')}  "
                  f"class: {ckpt.classes['cls'][pred['top3'][0][0]]} ({pred['top3'][0][1]:.2f}), "
                  f"boxes ≥ {args.score}: {int((pred['dets']['scores'] >= args.score).sum())}")


if __name__ == "__main__":
    main()
