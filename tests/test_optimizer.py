"""Which weights train and how fast: trainable sets and per-group learning rates."""
import torch

from onehead.config import StageParams
from onehead.model.net import build_model
from onehead.stage import make_optimizer
from test_model import CLASSES
from test_strategies import MODEL

STAGE = StageParams(epochs=1, image_size=64, batch_size=2, lr=0.01, task_rows_lr_scale=5.0,
                    eval_every=1, imagenet_teacher=0.0, copy_paste=0.0)


def test_the_task_rows_get_their_scaled_rate_and_the_rest_the_stage_rate():
    torch.manual_seed(0)
    model = build_model(MODEL, CLASSES)
    model.set_trainable("cls", own_only=False)
    optimizer, scheduler = make_optimizer(model, "cls", STAGE, 0.01, total_steps=100)
    rows = model.head.out_conv
    lr_of = {id(p): g["initial_lr"] for g in optimizer.param_groups for p in g["params"]}  # before warm-up
    assert lr_of[id(rows.weights["cls"])] == 0.05 and lr_of[id(rows.weights["det"])] == 0.01
    assert lr_of[id(model.neck.fuse.weight)] == 0.01
    assert all(id(p) not in lr_of for p in model.backbone.parameters())  # frozen: not optimised
    before = {t: rows.weights[t].detach().clone() for t in ("seg", "det", "cls")}
    for _ in range(3):
        model(torch.rand(2, 3, 64, 64)).square().mean().backward()
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad()
    assert all(not torch.equal(rows.weights[t], before[t]) for t in ("seg", "det", "cls"))


def test_own_only_trains_the_task_groups_and_rows_of_the_progressive_head():
    model = build_model(MODEL.model_copy(update={"head": "progressive", "channels": {"seg": 8, "det": 8, "cls": 8}}),
                        CLASSES)
    model.set_trainable("det", own_only=True)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable and all(n.endswith(".det") or ".det." in n for n in trainable)
    assert {"head.out_conv.weights.det", "head.out_conv.biases.det", "neck.fuse.weights.det"} <= trainable
