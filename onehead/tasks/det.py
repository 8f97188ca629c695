"""Anchor-free detection, CenterNet style, on the head's stride-8 map.

Channels: C heatmap logits (one per class) and 4 box channels (x/y centre offset within
the cell as sigmoid logits, log width and log height in cells). Targets are Gaussian
peaks at box centres; the loss is the penalty-reduced focal loss plus L1 on the box
channels at centre cells. Decoding keeps 3×3 local maxima of the heatmap, the top-K
over all classes, and maps boxes back to each image's original coordinates.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ..metrics import coco_map
from ..model.net import STRIDE, split_outputs

GAUSSIAN_ALPHA = 0.54  # TTFNet: sigma = alpha * box side / 6
BOX_WEIGHT = 1.0


def encode_targets(boxes: list[torch.Tensor], labels: list[torch.Tensor], num_classes: int,
                   feat_hw: tuple[int, int], stride: int = STRIDE) -> dict[str, torch.Tensor]:
    """Heatmaps B×C×h×w, box targets B×4×h×w and a centre mask B×h×w from xyxy input-pixel boxes."""
    h, w = feat_hw
    batch = len(boxes)
    heat = torch.zeros(batch, num_classes, h, w)
    box = torch.zeros(batch, 4, h, w)
    centre = torch.zeros(batch, h, w, dtype=torch.bool)
    ys, xs = torch.arange(h, dtype=torch.float32)[:, None], torch.arange(w, dtype=torch.float32)[None]
    for b, (bx, lb) in enumerate(zip(boxes, labels)):
        if len(bx) == 0:
            continue
        areas = (bx[:, 2] - bx[:, 0]) * (bx[:, 3] - bx[:, 1])
        for i in torch.argsort(areas, descending=True).tolist():  # small boxes win shared cells
            x0, y0, x1, y1 = (bx[i] / stride).tolist()
            bw, bh = max(x1 - x0, 1e-3), max(y1 - y0, 1e-3)
            cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
            ix, iy = min(int(cx), w - 1), min(int(cy), h - 1)
            sx, sy = max(GAUSSIAN_ALPHA * bw / 6, 0.3), max(GAUSSIAN_ALPHA * bh / 6, 0.3)
            g = torch.exp(-((xs - ix) ** 2) / (2 * sx ** 2) - ((ys - iy) ** 2) / (2 * sy ** 2))
            heat[b, lb[i]] = torch.maximum(heat[b, lb[i]], g)
            heat[b, lb[i], iy, ix] = 1.0
            box[b, :, iy, ix] = torch.tensor([cx - ix, cy - iy, math.log(bw), math.log(bh)])
            centre[b, iy, ix] = True
    return {"heatmap": heat, "box": box, "centre": centre}


def focal_loss(logits: torch.Tensor, target: torch.Tensor, alpha: float = 2, beta: float = 4) -> torch.Tensor:
    """CenterNet's penalty-reduced focal loss, normalised by the number of peaks."""
    pred = logits.sigmoid().clamp(1e-4, 1 - 1e-4)
    pos = target.eq(1).float()
    pos_loss = -(pred.log() * (1 - pred) ** alpha * pos)
    neg_loss = -((1 - pred).log() * pred ** alpha * (1 - target) ** beta * (1 - pos))
    return (pos_loss.sum() + neg_loss.sum()) / pos.sum().clamp(min=1)


def box_loss(box_raw: torch.Tensor, target: torch.Tensor, centre: torch.Tensor) -> torch.Tensor:
    """L1 on (sigmoid offsets, log sizes) at centre cells."""
    if not centre.any():
        return box_raw.sum() * 0
    pred = torch.cat([box_raw[:, :2].sigmoid(), box_raw[:, 2:]], dim=1)
    m = centre[:, None].expand_as(pred)
    return F.l1_loss(pred[m], target[m])


def loss(out: torch.Tensor, batch: dict, layout) -> dict[str, torch.Tensor]:
    parts = split_outputs(out, layout)
    t = encode_targets(batch["boxes"], batch["labels"], layout.det_classes, out.shape[-2:])
    t = {k: v.to(out.device) for k, v in t.items()}
    return {"det_focal": focal_loss(parts["det_heatmap"], t["heatmap"]),
            "det_box": BOX_WEIGHT * box_loss(parts["det_box"], t["box"], t["centre"])}


def distillation(student: torch.Tensor, teacher: torch.Tensor, layout, temperature: float) -> torch.Tensor:
    """Heatmap BCE against the teacher's probabilities (minus its minimum) plus L1 on the box
    channels weighted by where the teacher sees objects; 0 when student equals teacher."""
    s, t = split_outputs(student, layout), split_outputs(teacher, layout)
    t_heat = t["det_heatmap"].sigmoid()
    heat = F.binary_cross_entropy_with_logits(s["det_heatmap"], t_heat) \
        - F.binary_cross_entropy_with_logits(t["det_heatmap"], t_heat)
    weight = t_heat.amax(1, keepdim=True)
    box = (weight * (s["det_box"] - t["det_box"]).abs()).sum() / weight.sum().clamp(min=1e-6) / 4
    return heat + box


def classes_present(target: dict) -> set[int]:
    return {int(v) for v in target["labels"]}


def decode(heat_logits: torch.Tensor, box_raw: torch.Tensor, input_size: tuple[int, int],
           orig_sizes: list[tuple[int, int]], max_det: int = 100, stride: int = STRIDE) -> list[dict]:
    """Boxes (xyxy, original pixels), scores and labels per image from raw head outputs."""
    heat = heat_logits.sigmoid()
    peaks = heat * (F.max_pool2d(heat, 3, stride=1, padding=1) == heat)
    batch, classes, h, w = heat.shape
    scores, flat = peaks.reshape(batch, -1).topk(min(max_det, classes * h * w))
    labels, cell = flat // (h * w), flat % (h * w)
    iy, ix = cell // w, cell % w
    results = []
    for b in range(batch):
        raw = box_raw[b].reshape(4, -1)[:, cell[b]]
        cx = (ix[b].float() + raw[0].sigmoid()) * stride
        cy = (iy[b].float() + raw[1].sigmoid()) * stride
        bw, bh = raw[2].clamp(max=8).exp() * stride, raw[3].clamp(max=8).exp() * stride
        oh, ow = orig_sizes[b]
        sx, sy = ow / input_size[1], oh / input_size[0]
        boxes = torch.stack([(cx - bw / 2) * sx, (cy - bh / 2) * sy, (cx + bw / 2) * sx, (cy + bh / 2) * sy], 1)
        boxes[:, 0::2] = boxes[:, 0::2].clamp(0, ow)
        boxes[:, 1::2] = boxes[:, 1::2].clamp(0, oh)
        results.append({"boxes": boxes, "scores": scores[b], "labels": labels[b]})
    return results


def to_coco_results(dets: dict, image_id: int, category_ids: list[int]) -> list[dict]:
    out = []
    for (x0, y0, x1, y1), s, lab in zip(dets["boxes"].tolist(), dets["scores"].tolist(), dets["labels"].tolist()):
        if x1 > x0 and y1 > y0:
            out.append({"image_id": image_id, "category_id": category_ids[lab],
                        "bbox": [x0, y0, x1 - x0, y1 - y0], "score": s})
    return out


@torch.no_grad()
def evaluate(model, loader, dataset, device, max_det: int = 100) -> dict[str, float]:
    results = []
    for batch in loader:
        images = batch["image"].to(device)
        parts = split_outputs(model(images), model.layout)
        dets = decode(parts["det_heatmap"], parts["det_box"], images.shape[-2:], batch["orig_size"], max_det)
        for d, index in zip(dets, batch["index"]):
            results += to_coco_results({k: v.cpu() for k, v in d.items()}, dataset.image_ids[index],
                                       dataset.category_ids)
    return coco_map(dataset.coco, results, dataset.image_ids)
