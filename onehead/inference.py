"""What one checkpoint predicts for single images, each task at the resolution it was trained at
and through its own eval transform (one forward pass per distinct view of the image; each pass
yields all three outputs, of which that task's are kept). Used by the `predict` command and the
report's qualitative grid.
"""
from __future__ import annotations

import torch

from .catalog import TASK_ORDER
from .data.transforms import eval_transform, eval_view
from .model.net import split_outputs
from .tasks import det, seg

# Boxes drawn from this score on: the F1-best threshold at IoU 0.5 on the detection *training* images
# (flat between 0.20 and 0.25 for the default model; heatmap peaks rarely pass 0.3).
SCORE_THRESHOLD = 0.2


@torch.no_grad()
def predict_image(model, ckpt, image: torch.Tensor, max_det: int = 100) -> dict:
    """Seg mask (original size), detections (original coordinates) and cls top-3 for a uint8 image."""
    model.eval()
    orig = tuple(image.shape[-2:])
    sizes = {task: ckpt.image_size.get(task, max(ckpt.image_size.values())) for task in TASK_ORDER}
    views = {task: eval_view(task, sizes[task]) for task in TASK_ORDER}
    outputs = {}
    for task, view in views.items():
        if view not in outputs:
            outputs[view] = model(eval_transform(task, view[0])(image)[None])
    seg_out, det_out, cls_out = (outputs[views[t]] for t in ("seg", "det", "cls"))
    det_parts = split_outputs(det_out, model.layout)
    dets = det.decode(det_parts["det_heatmap"], det_parts["det_box"], (sizes["det"],) * 2, [orig], max_det)[0]
    probs = split_outputs(cls_out, model.layout)["cls"].softmax(1)[0]
    top = probs.topk(min(3, len(probs)))
    return {"mask": seg.predict(seg_out, model.layout, image), "dets": dets,
            "top3": list(zip(top.indices.tolist(), top.values.tolist()))}
