"""The `predict` command: what one checkpoint predicts on your own images, drawn and as data.

    python -m onehead.predict --weights models/stage3_cls.pt img1.jpg img2.jpg --out predictions/
    python -m onehead.predict img1.jpg --json predictions/img1.json    # also JSON + segmentation PNGs

Figures go to `<out>/<image>.png`; with --json, `<out>/<image>_seg.png` (palette PNG at the
image's size) and the JSON file described in `onehead.export`.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .catalog import TASK_ORDER
from .checkpoint import load_checkpoint, model_from_checkpoint
from .cli import user_errors
from .data.common import read_rgb
from .data.wordnet import readable, readable_classes
from .deploy import fold_batchnorm
from .errors import DataError
from .export import CocoIds, image_record, write_predictions_json, write_segmentation_png
from .inference import SCORE_THRESHOLD, predict_image
from .report.draw import prediction_figure, save_png


def parse_args(argv):
    parser = argparse.ArgumentParser(description="Draw segmentation, boxes and class of each image; "
                                                 "with --json also write them as data.")
    parser.add_argument("images", nargs="+", type=Path, help="image files")
    parser.add_argument("--weights", default="models/stage3_cls.pt", help="checkpoint (default: the final one)")
    parser.add_argument("--out", default="predictions", type=Path,
                        help="output folder for <image>.png (and <image>_seg.png with --json; default predictions/)")
    parser.add_argument("--score", type=float, default=SCORE_THRESHOLD,
                        help=f"min box score to draw (default {SCORE_THRESHOLD})")
    parser.add_argument("--json", type=Path, metavar="OUT.json",
                        help="also write per image the detections (COCO results format, all ≤ 100 boxes), the "
                             "top-3 classes and a segmentation PNG")
    parser.add_argument("--data_root", "--dataroot", dest="data_root", default="data",
                        help="data the checkpoint was trained on, for --json's COCO category ids (default data)")
    return parser.parse_args(argv)


def check_distinct_names(images: list[Path]) -> None:
    """Outputs are named after the image: two images of one name would overwrite each other's."""
    seen = {}
    for path in images:
        if path.stem in seen:
            raise DataError(f"{path}: same name as {seen[path.stem]}; its outputs would overwrite the other's "
                            "(run them separately with different --out)")
        seen[path.stem] = path


def untrained_tasks(ckpt) -> list[str]:
    return [t for t in TASK_ORDER if t not in ckpt.learned]


def predict_one(path: Path, model, ckpt, args, ids: CocoIds | None) -> dict | None:
    """Draw one image's predictions; with --json also write its segmentation PNG and return its entry."""
    image = read_rgb(path)
    pred = predict_image(model, ckpt, image)
    figure = args.out / f"{path.stem}.png"
    untrained = untrained_tasks(ckpt)
    title = path.name + (f"  ({', '.join(untrained)}: not learned by this checkpoint)" if untrained else "")
    save_png(prediction_figure(image, pred, readable_classes(ckpt.classes), args.score, title=title),
             figure, dpi=100)
    top_class, top_prob = pred["top3"][0]
    print(f"predict: {path} -> {figure}  class: {readable(ckpt.classes['cls'][top_class])} ({top_prob:.2f}), "
          f"boxes ≥ {args.score}: {int((pred['dets']['scores'] >= args.score).sum())}")
    if ids is None:
        return None
    seg_png = args.out / f"{path.stem}_seg.png"
    write_segmentation_png(pred["mask"], seg_png)
    return image_record(path, pred, ids, ckpt.classes["cls"], seg_png, args.json.parent)


def main(argv=None) -> None:
    args = parse_args(argv)
    with user_errors("predict"):
        check_distinct_names(args.images)
        ckpt = load_checkpoint(args.weights)
        model = fold_batchnorm(model_from_checkpoint(ckpt, args.weights))
        ids = CocoIds(args.data_root, ckpt.classes["det"]) if args.json else None
        if untrained := untrained_tasks(ckpt):
            print(f"predict: note: {args.weights} has not learned {', '.join(untrained)}; those outputs are "
                  "untrained", file=sys.stderr)
        records = [predict_one(path, model, ckpt, args, ids) for path in args.images]
        if args.json:
            write_predictions_json(args.json, args.weights, ckpt, ids, records)
            print(f"predict: {len(records)} image(s) as data in {args.json}")


if __name__ == "__main__":
    main()
