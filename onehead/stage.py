"""`run_stage`: the one training stage behind stage1_seg / stage2_det / stage3_cls.

Loads the previous stage's checkpoint (or builds the pretrained model for stage 1),
trains only on this stage's dataset through the strategy hooks, evaluates every task
learned so far on val, and writes the checkpoint, metrics JSON and per-epoch log.
"""
from __future__ import annotations

import csv
import io
import math
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from . import config
from .checkpoint import check_compatible, load_checkpoint, model_from_checkpoint, save_checkpoint
from .data import build_dataset, class_names
from .data.common import collate
from .data.transforms import eval_transform, train_transform
from . import distributed
from .engine import TrainStep, evaluate, train_one_epoch
from .io import read_json, write_json, write_text
from .memory import build_task_memory
from .model.net import build_model
from .runtime import configure_threads, pick_device, plan_cpu, seed_everything
from .strategies import StageContext, build_strategy
from .tasks import TASK_ORDER

PREVIOUS = {"stage2_det": "stage1_seg", "stage3_cls": "stage2_det"}


def set_trainable(model, task: str, trainable: str) -> None:
    """Choose which weights train: all, neck and head, head, or only this task's output rows."""
    for name, p in model.named_parameters():
        part = name.split(".")[0]
        p.requires_grad_(trainable == "all" or (trainable == "neck_head" and part in ("neck", "head"))
                         or (trainable == "head" and part == "head"))
    if trainable == "task_slice":
        rows = model.head.out_conv
        rows.weights[task].requires_grad_(True)
        rows.biases[task].requires_grad_(True)


def stage_strategy(strategy_params: dict, learned: list[str], trainable: str) -> dict:
    """The strategy params a stage runs with: plain training when there is nothing to protect
    (stage 1) or nothing can harm earlier tasks (`task_slice`: only this task's rows train)."""
    if not learned or trainable == "task_slice":
        return {**strategy_params, "names": ["naive"]}
    return strategy_params


def make_optimizer(model, task: str, old_tasks: list[str], stage_params: dict, weight_decay: float,
                   total_steps: int):
    """AdamW with warm-up and cosine decay; the backbone and the head's output rows of this task
    and of the earlier tasks get their own scaled rates (a scale of 0 freezes them)."""
    rows = model.head.out_conv
    row_group = {id(p): "task_rows" for p in (rows.weights[task], rows.biases[task])}
    row_group.update({id(p): "old_rows" for t in old_tasks for p in (rows.weights[t], rows.biases[t])})
    lr = stage_params["lr"]
    scale = {"backbone": stage_params["backbone_lr_scale"], "task_rows": stage_params["task_rows_lr_scale"],
             "old_rows": stage_params["old_rows_lr_scale"], "rest": 1.0}
    groups = {name: [] for name in scale}
    for name, p in model.named_parameters():
        if p.requires_grad:
            groups[row_group.get(id(p), "backbone" if name.startswith("backbone.") else "rest")].append(p)
    optimizer = torch.optim.AdamW([{"params": ps, "lr": lr * scale[g]} for g, ps in groups.items() if ps],
                                  weight_decay=weight_decay)
    warmup = min(50, max(1, total_steps // 10))

    def warmup_cosine(s: int) -> float:
        return min(1.0, (s + 1) / warmup) * 0.5 * (1 + math.cos(math.pi * min(s, total_steps) / max(total_steps, 1)))
    return optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, warmup_cosine)


def evaluate_learned(model, learned: list[str], image_size: dict, data_root, device, split: str = "val",
                     max_det: int = 100) -> dict:
    """Metrics of every learned task on `split`, each at its own training resolution."""
    return {task: evaluate(model, task, build_dataset(task, data_root, split, eval_transform(image_size[task])),
                           device, max_det=max_det) for task in learned}


def _tsv(rows: list[dict]) -> str:
    fields = list(dict.fromkeys(k for row in rows for k in row))
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=fields, delimiter="\t", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def load_start(stage: str, params: dict, models_dir) -> tuple:
    """The model and history a stage starts from: the previous checkpoint, or the pretrained net."""
    if stage not in PREVIOUS:
        classes = read_json(Path(params["data"]["root"]) / "classes.json", "class list (run the download stage)")
        return build_model(params["model"], classes), classes, [], {}, {}, {}
    prev_path = Path(models_dir) / f"{PREVIOUS[stage]}.pt"
    ckpt = load_checkpoint(prev_path)
    check_compatible(ckpt, params["model"], prev_path)
    return (model_from_checkpoint(ckpt, prev_path), ckpt["classes"], list(ckpt["learned"]), dict(ckpt["memory"]),
            dict(ckpt["image_size"]), dict(ckpt["train_time_s"]))


def train_loader(train_set, stage: str, batch_size: int, workers: int, world: distributed.World, seed: int,
                 generator) -> DataLoader:
    """Shuffled batches; under torchrun each rank gets its shard and a share of the global batch."""
    sampler = distributed.sampler(train_set, world, seed)
    per_rank = distributed.per_rank_batch(batch_size, world, f"{stage}.batch_size")
    shard = len(train_set) // world.size
    return DataLoader(train_set, batch_size=per_rank, shuffle=sampler is None, sampler=sampler,
                      generator=generator, collate_fn=collate, drop_last=shard > per_rank,
                      num_workers=workers, persistent_workers=workers > 0)


def run_stage(stage: str, params_path: str = "params.yaml", models_dir: str = "models",
              metrics_dir: str = "metrics", plots_dir: str = "plots") -> dict:
    params = config.load_params(params_path)
    task, sp, tp = config.STAGE_TASK[stage], params[stage], params["train"]
    world = distributed.world_from_env()
    threads, workers = plan_cpu(tp["threads"], tp["workers"], world.local_size)
    configure_threads(threads)
    device = distributed.start(world, pick_device(tp["device"]))
    log = print if world.is_main else (lambda *a, **k: None)
    generator = seed_everything(tp["seed"])
    root = params["data"]["root"]

    model, classes, learned, memory, image_size, train_time = load_start(stage, params, models_dir)
    model.to(device)
    size = sp["image_size"]
    train_set = build_dataset(task, root, "train", train_transform(task, size))
    loader = train_loader(train_set, stage, sp["batch_size"], workers, world, tp["seed"], generator)
    set_trainable(model, task, sp["trainable"])
    strategy = build_strategy(stage_strategy(params["strategy"], learned, sp["trainable"]))
    ctx = StageContext(task=task, learned=learned, memory=memory, device=device, seed=tp["seed"])
    strategy.before_stage(model, ctx)
    trainer = distributed.wrap(TrainStep(model, task, strategy, device), world, device)
    total_steps = sp["epochs"] * len(loader)
    optimizer, scheduler = make_optimizer(model, task, learned, sp, tp["weight_decay"], total_steps)
    frozen_bn = tp["freeze_bn"] and bool(learned)
    image_size[task] = size
    now_learned = learned + [task]

    def evaluate_now():  # rank 0 scores; the others wait for it
        scores = evaluate_learned(model, now_learned, image_size, root, device, max_det=tp["det_max_per_image"]) \
            if world.is_main else None
        distributed.barrier(world)
        return scores

    train_rows, val_rows, step, start = [], [], 0, time.time()
    final = evaluate_now() if sp["epochs"] == 0 else None
    for epoch in range(1, sp["epochs"] + 1):
        if hasattr(loader.sampler, "set_epoch"):  # DistributedSampler: a new shuffle per epoch
            loader.sampler.set_epoch(epoch)
        losses, step = train_one_epoch(trainer, loader, optimizer, scheduler, step, frozen_bn,
                                       f"{stage} epoch {epoch}/{sp['epochs']}")
        losses = distributed.mean_over_ranks(losses, world)
        train_rows.append({"epoch": epoch, **{k: round(v, 5) for k, v in losses.items()}})
        line = " ".join(f"{k}={v:.4f}" for k, v in losses.items())
        if epoch % sp["eval_every"] == 0 or epoch == sp["epochs"]:
            final = evaluate_now()  # the last epoch is always evaluated: its scores are the stage's
            if world.is_main:
                val_rows.append({"epoch": epoch, **{f"val_{m}": round(v, 5) for t in now_learned for m, v in final[t].items()}})
                line += " " + " ".join(f"{k}={v:.4f}" for k, v in val_rows[-1].items() if k != "epoch")
        log(f"[{stage}] epoch {epoch}/{sp['epochs']} ({time.time() - start:.0f}s) {line}", flush=True)
    train_time[stage] = round(time.time() - start, 1)
    strategy.after_stage(model, ctx)
    del trainer  # DDP's gradient hooks must not fire for the Fisher's backward passes below

    if world.is_main:  # rank-0-only writes
        memory[task] = build_task_memory(model, build_dataset(task, root, "train"),
                                         build_dataset(task, root, "train", eval_transform(size)), task,
                                         params["memory"], size, tp["seed"], device)
        metrics = {"stage": stage, **final, "train_time_s": train_time[stage], "epochs": sp["epochs"]}
        save_checkpoint(Path(models_dir) / f"{stage}.pt", model.cpu(), stage=stage, model_params=params["model"],
                        classes=classes, learned=now_learned, image_size=image_size, memory=memory,
                        strategy=strategy.state_dict(), params=params, metrics=metrics, train_time_s=train_time,
                        world_size=world.size)
        write_json(Path(metrics_dir) / f"{stage}.json", metrics)
        write_text(Path(plots_dir) / stage / "train.tsv", _tsv(train_rows))
        write_text(Path(plots_dir) / stage / "val.tsv", _tsv(val_rows))
        summary = ", ".join(f"{t}.{m}={v:.4f}" for t in TASK_ORDER if t in final for m, v in final[t].items())
        log(f"[{stage}] done in {train_time[stage]:.0f}s: {summary}", flush=True)
    distributed.stop(world)
    return metrics if world.is_main else {}
