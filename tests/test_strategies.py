"""Each strategy's mechanism: penalties vanish at the anchor, replay respects its caps."""
import pytest
import torch

from onehead.config import ModelParams, StrategyParams
from onehead.data.common import to_plain
from onehead.data.datasets import build_dataset
from onehead.checkpoint import TaskMemory
from onehead.memory import choose_replay
from onehead.model.net import build_model
from onehead.strategies.base import StageContext
from onehead.strategies.registry import build_strategy
from onehead.tasks import TASKS
from test_model import CLASSES

MODEL = ModelParams(backbone="efficientnet_lite0", pretrained=False, head="shared", channels=8, kernels=[3, 3],
                    context_for=[])
PARAMS = {"names": ["naive"], "replay_per_step": 10, "replay_weight": 1.0, "lwf_weight": 1.0,
          "lwf_temperature": 2.0, "lwf_replay_weight": 1.0, "kd_weight": 1.0, "kd_feature_weight": 1.0,
          "kd_temperature": 2.0, "ewc_lambda": 10.0, "ewc_decay": 1.0}


def strategy(**changes):
    return build_strategy(StrategyParams(**{**PARAMS, **changes}))


@pytest.fixture
def model():
    torch.manual_seed(0)
    return build_model(MODEL, CLASSES).eval()


def _ctx(memory, learned=("seg", "det")):
    return StageContext(task="cls", learned=list(learned), memory=memory, image_size={"seg": 64, "det": 64},
                        device=torch.device("cpu"))


def _nudge(model, scale):
    with torch.no_grad():
        for p in model.head.parameters():
            p.add_(scale)


def test_ewc_penalty_zero_at_anchor_and_grows_with_distance(model):
    fisher = {n: torch.rand_like(p) for n, p in model.named_parameters() if n.startswith("head.")}
    ewc = strategy(names=["ewc"])
    ewc.before_stage(model, _ctx({"seg": TaskMemory(replay=[], fisher=fisher)}, learned=["seg"]))
    assert ewc.penalty(model).item() == 0
    _nudge(model, 0.01)
    small = ewc.penalty(model).item()
    _nudge(model, 0.01)
    assert 0 < small < ewc.penalty(model).item()
    assert ewc.penalty(model).item() == pytest.approx(4 * small, rel=1e-4)  # quadratic


def test_online_ewc_decays_older_fishers(model):
    ones = {n: torch.ones_like(p) for n, p in model.named_parameters() if n == "head.out_conv.biases.det"}
    ewc = strategy(names=["ewc"], ewc_decay=0.5)
    ewc.before_stage(model, _ctx({"seg": TaskMemory(replay=[], fisher=ones), "det": TaskMemory(replay=[], fisher=ones)}))
    assert torch.allclose(ewc.fisher["head.out_conv.biases.det"], torch.full_like(ones["head.out_conv.biases.det"], 1.5))


@pytest.mark.parametrize("task", ["seg", "det", "cls"])
def test_distillation_is_zero_when_student_equals_teacher(model, task):
    out = model(torch.rand(2, 3, 64, 64))
    distillation = TASKS[task].distillation
    assert distillation(out, out.clone(), model.layout, 2.0).abs().item() < 1e-5
    assert distillation(out + torch.randn_like(out), out, model.layout, 2.0).item() > 1e-3


def test_lwf_and_kd_start_at_zero_and_react_to_change(model):
    images = torch.rand(2, 3, 64, 64)
    for name in ("lwf", "kd"):
        distil = strategy(names=[name])
        distil.before_stage(model, _ctx({}))
        terms = distil.extra_loss(model, model.run(images))
        assert set(terms) >= {f"{name}_seg", f"{name}_det"}
        assert all(abs(v.item()) < 1e-5 for v in terms.values())
        _nudge(model, 0.05)
        terms = distil.extra_loss(model, model.run(images))
        assert sum(v.item() for v in terms.values()) > 1e-4
        _nudge(model, -0.05)


def test_replay_respects_both_caps(data_root, model):
    seg = build_dataset("seg", data_root, "train")
    samples = choose_replay(seg, "seg", 10, seed=0) * 5  # 15 samples: more than any cap allows
    memory = {"seg": TaskMemory(replay=[to_plain(s) for s in samples], fisher={})}
    replay = strategy(names=["replay"], replay_per_step=10)
    replay.before_stage(model, _ctx(memory, learned=["seg"]))
    for step in range(3):
        (task, batch, weight), = replay.extra_batches(step)
        assert task == "seg" and batch["image"].shape[0] == 10 and weight == 1.0
        assert batch["mask"].shape[-2:] == (64, 64)


def test_choose_replay_caps_at_ten_and_covers_classes(data_root):
    seg = build_dataset("seg", data_root, "train")
    chosen = choose_replay(seg, "seg", 10, seed=0)
    assert len(chosen) == len(seg) == 3
    classes = set()
    for _, target in chosen:
        classes |= set(target["mask"].unique().tolist())
    assert {0, 15, 7, 8, 9} <= classes
    cls = build_dataset("cls", data_root, "train")
    picked = choose_replay(cls, "cls", 2, seed=0)
    assert {t["label"] for _, t in picked} == {0, 1}  # one per class before repeats


def test_combined_strategy_sums_terms(model):
    combo = strategy(names=["lwf", "kd"])
    combo.before_stage(model, _ctx({}))
    images = torch.rand(1, 3, 64, 64)
    _nudge(model, 0.05)
    terms = combo.extra_loss(model, model.run(images))
    assert any(k.startswith("lwf_") for k in terms) and any(k.startswith("kd_") for k in terms)


def test_training_step_distils_on_replayed_images(data_root, model):
    """replay + lwf: the replayed batch gets its task loss and the old tasks' distillation."""
    from onehead.engine import TrainStep

    seg = build_dataset("seg", data_root, "train")
    memory = {"seg": TaskMemory(replay=[to_plain(s) for s in choose_replay(seg, "seg", 10, seed=0)], fisher={})}
    combo = strategy(names=["replay", "lwf"])
    combo.before_stage(model, _ctx(memory, learned=["seg"]))
    step = TrainStep(model, "cls", combo, torch.device("cpu")).eval()
    batch = {"image": torch.rand(2, 3, 64, 64), "label": torch.tensor([0, 1])}
    terms = step(batch, step=0)
    assert set(terms) == {"cls_ce", "replay_seg_ce", "replay_seg_jaccard", "replay_seg_lwf_seg", "lwf_seg"}
    assert abs(terms["replay_seg_lwf_seg"].item()) < 1e-5  # student still equals the teacher
    _nudge(model, 0.05)
    assert step(batch, step=1)["replay_seg_lwf_seg"].item() > 1e-4
    combo.strategies[1].replay_weight = 0.0
    assert "replay_seg_lwf_seg" not in step(batch, step=2)
