"""`run_stage`: the one training stage behind stage1_seg / stage2_det / stage3_cls.

Loads the previous stage's checkpoint (or builds the pretrained model for stage 1),
trains only on this stage's dataset through the strategy hooks, evaluates every task
learned so far on val, and writes the checkpoint, metrics JSON and per-epoch log.

    python stages/stage2_det.py
"""
from __future__ import annotations

import csv
import io
import math
import time
from dataclasses import dataclass, replace
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from . import distributed
from .catalog import STAGE_INFO, TASK_ORDER, reference_name, stage_of_task
from .checkpoint import check_compatible, load_checkpoint, model_from_checkpoint, save_checkpoint
from .cli import user_errors
from .config import ModelParams, Params, StageParams, load_params
from .data.common import collate
from .data.datasets import build_dataset, build_training_set
from .data.transforms import eval_transform, train_transform
from .engine import TrainStep, score_tasks, train_one_epoch
from .io import read_json, write_json, write_text
from .memory import build_task_memory
from .model.net import build_model
from .runtime import configure_threads, peak_memory_gib, pick_device, plan_cpu, seed_everything
from .strategies.base import StageContext, Strategy
from .teacher import build_teacher


@dataclass(frozen=True)
class Run:
    """One training run: a pipeline stage, or one task trained alone (its reference)."""
    name: str                  # its outputs: models/<name>.pt, metrics/<name>.json, plots/<name>/
    task: str
    previous: str | None       # the run whose checkpoint it starts from; None: the pretrained network
    settings: StageParams
    model: ModelParams         # the network it trains
    leaves_memory: bool        # replay samples and Fisher for the stages after it
    seed: int


def pipeline_run(stage: str, params: Params) -> Run:
    info = STAGE_INFO[stage]
    return Run(stage, info.task, info.previous, params.stage(stage), params.model, leaves_memory=True,
               seed=params.train.seed)


def reference_run(task: str, params: Params) -> Run:
    """`task` alone from the pretrained network, with its stage's settings. Its seed is `reference.seed`,
    not `train.seed`: the yardsticks stay fixed while the pipeline's seed varies."""
    return Run(reference_name(task), task, None, params.stage(stage_of_task(task)), params.model,
               leaves_memory=False, seed=params.reference.seed)


@dataclass
class Start:
    """What a stage starts from: the model and the history of the stages before it."""
    model: torch.nn.Module
    classes: dict[str, list[str]]
    learned: list[str]
    memory: dict
    image_size: dict[str, int]
    train_time: dict[str, float]


def load_start(run: Run, params: Params, models_dir) -> Start:
    """The previous run's checkpoint, or the pretrained network."""
    if run.previous is None:
        classes = read_json(Path(params.data.root) / "classes.json", "class list (run the download stage)")
        return Start(build_model(run.model, classes), classes, [], {}, {}, {})
    path = Path(models_dir) / f"{run.previous}.pt"
    ckpt = load_checkpoint(path)
    check_compatible(ckpt, run.model, path)
    return Start(model_from_checkpoint(ckpt, path), ckpt.classes, list(ckpt.learned), dict(ckpt.memory),
                 dict(ckpt.image_size), dict(ckpt.train_time_s))


def needs_strategy(learned: list[str], model: ModelParams) -> bool:
    """Earlier tasks need protecting: there are some, and training can change their outputs (in the
    progressive head a stage trains only its own task's channel groups: plain training)."""
    return bool(learned) and model.head == "shared"


def make_optimizer(model, task: str, old_tasks: list[str], sp, weight_decay: float, total_steps: int):
    """AdamW with warm-up and cosine decay; the head's output rows of this task and of the earlier
    tasks get their own scaled rates (a scale of 0 freezes them)."""
    scale = {"task_rows": sp.task_rows_lr_scale, "old_rows": sp.old_rows_lr_scale, "shared": 1.0}
    groups = model.parameter_groups(task, old_tasks)
    optimizer = torch.optim.AdamW([{"params": ps, "lr": sp.lr * scale[g]} for g, ps in groups.items() if ps],
                                  weight_decay=weight_decay)
    warmup = min(50, max(1, total_steps // 10))

    def warmup_cosine(s: int) -> float:
        return min(1.0, (s + 1) / warmup) * 0.5 * (1 + math.cos(math.pi * min(s, total_steps) / max(total_steps, 1)))
    return optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, warmup_cosine)


def train_loader(train_set, stage: str, batch_size: int, workers: int, world: distributed.World, seed: int,
                 generator) -> DataLoader:
    """Shuffled batches; under torchrun each rank gets its shard and a share of the global batch."""
    sampler = distributed.sampler(train_set, world, seed)
    per_rank = distributed.per_rank_batch(batch_size, world, f"{stage}.batch_size")
    shard = len(train_set) // world.size
    return DataLoader(train_set, batch_size=per_rank, shuffle=sampler is None, sampler=sampler,
                      generator=generator, collate_fn=collate, drop_last=shard > per_rank,
                      num_workers=workers, persistent_workers=workers > 0)


@dataclass
class History:
    """Per-epoch loss terms and val metrics, and the stage's final val metrics. While a stage
    cannot change the earlier tasks' outputs, only its own task is scored before the last epoch."""
    train_rows: list[dict]
    val_rows: list[dict]
    final: dict | None
    peak_memory_gib: float | None = None  # set when the run was adopted: the training run's peak


def train_epochs(stage: str, trainer, loader, optimizer, scheduler, evaluate_now, epochs: int, eval_every: int,
                 frozen_bn: bool, world, log) -> History:
    """The stage's epochs; val metrics every `eval_every` epochs and always after the last."""
    history = History([], [], evaluate_now(last=True) if epochs == 0 else None)
    step, start = 0, time.time()
    for epoch in range(1, epochs + 1):
        if hasattr(loader.sampler, "set_epoch"):  # DistributedSampler: a new shuffle per epoch
            loader.sampler.set_epoch(epoch)
        losses, step = train_one_epoch(trainer, loader, optimizer, scheduler, step, frozen_bn,
                                       f"{stage} epoch {epoch}/{epochs}")
        losses = distributed.mean_over_ranks(losses, world)
        history.train_rows.append({"epoch": epoch, **{k: round(v, 5) for k, v in losses.items()}})
        line = " ".join(f"{k}={v:.4f}" for k, v in losses.items())
        if epoch % eval_every == 0 or epoch == epochs:
            history.final = evaluate_now(last=epoch == epochs)
            if world.is_main:
                history.val_rows.append({"epoch": epoch, **{f"val_{m}": round(v, 5) for scores in
                                                            history.final.values() for m, v in scores.items()}})
                line += " " + " ".join(f"{k}={v:.4f}" for k, v in history.val_rows[-1].items() if k != "epoch")
        log(f"[{stage}] epoch {epoch}/{epochs} ({time.time() - start:.0f}s) {line}", flush=True)
    return history


def _tsv(rows: list[dict]) -> str:
    fields = list(dict.fromkeys(k for row in rows for k in row))
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=fields, delimiter="\t", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def write_outputs(run: Run, model, start: Start, history: History, params: Params, world_size: int,
                  dirs: dict[str, Path]) -> dict:
    """Checkpoint, metrics JSON and per-epoch logs of a finished run (rank 0 only)."""
    stage = run.name
    peak = history.peak_memory_gib or round(peak_memory_gib(), 2)
    metrics = {"stage": stage, **history.final, "train_time_s": start.train_time[stage],
               "epochs": run.settings.epochs, "peak_memory_gib": peak}
    save_checkpoint(dirs["models"] / f"{stage}.pt", model.cpu(), stage=stage, model_params=run.model,
                    classes=start.classes, learned=start.learned, image_size=start.image_size, memory=start.memory,
                    params=params.model_dump(), metrics=metrics, train_time_s=start.train_time,
                    history={"train": history.train_rows, "val": history.val_rows}, world_size=world_size)
    write_json(dirs["metrics"] / f"{stage}.json", metrics)
    write_text(dirs["plots"] / stage / "train.tsv", _tsv(history.train_rows))
    write_text(dirs["plots"] / stage / "val.tsv", _tsv(history.val_rows))
    return metrics


def start_process(tp) -> tuple[distributed.World, torch.device, int]:
    """This process's place among torchrun's, its threads and device, and its loader workers."""
    world = distributed.world_from_env()
    threads, workers = plan_cpu(tp.threads, tp.workers, world.local_size)
    configure_threads(threads)
    return world, distributed.start(world, pick_device(tp.device)), workers


def run_stage(stage: str, build_strategy=None, params_path: str = "params.yaml", models_dir: str = "models",
              metrics_dir: str = "metrics", plots_dir: str = "plots") -> dict:
    """Train pipeline `stage`; `build_strategy` (params -> Strategy) protects the earlier tasks."""
    params = load_params(params_path)
    return train(pipeline_run(stage, params), params, build_strategy, models_dir, metrics_dir, plots_dir)


def run_reference(task: str, params_path: str = "params.yaml", models_dir: str = "models",
                  metrics_dir: str = "metrics", plots_dir: str = "plots") -> dict:
    """Train `task` alone from the pretrained network: the single-task reference."""
    params = load_params(params_path)
    return train(reference_run(task, params), params, None, models_dir, metrics_dir, plots_dir)


def train(run: Run, params: Params, build_strategy, models_dir, metrics_dir, plots_dir) -> dict:
    world, device, workers = start_process(params.train)
    log = print if world.is_main else (lambda *a, **k: None)
    generator = seed_everything(run.seed)
    start = load_start(run, params, models_dir)
    reference = same_run_done(run, params, models_dir)
    if reference is not None:
        log(f"[{run.name}] the same run as {reference.stage} (same settings, from the pretrained network): "
            "its weights are taken, not trained again")
        model, history = adopt(reference, run, start)
    else:
        model, history = fit(run, params, build_strategy, start, world, device, workers, generator, log)
    metrics = {}
    if world.is_main:  # rank-0-only writes
        if run.leaves_memory:
            root, size = params.data.root, run.settings.image_size
            start.memory[run.task] = build_task_memory(model, build_dataset(run.task, root, "train"),
                                                       build_dataset(run.task, root, "train",
                                                                     eval_transform(run.task, size)),
                                                       run.task, params.memory, run.seed, device)
        dirs = {"models": Path(models_dir), "metrics": Path(metrics_dir), "plots": Path(plots_dir)}
        metrics = write_outputs(run, model, start, history, params, world.size, dirs)
        summary = ", ".join(f"{t}.{m}={v:.4f}" for t in TASK_ORDER if t in history.final
                            for m, v in history.final[t].items())
        log(f"[{run.name}] done in {start.train_time[run.name]:.0f}s: {summary}", flush=True)
    distributed.stop(world)
    return metrics


def fit(run: Run, params: Params, build_strategy, start: Start, world, device, workers, generator, log):
    """Train `run` from `start`; returns the model and its history (`start` gains the task)."""
    task, sp, tp, root = run.task, run.settings, params.train, params.data.root
    model = start.model.to(device)
    train_set = build_training_set(task, root, train_transform(task, sp.image_size), sp.copy_paste)
    loader = train_loader(train_set, run.name, sp.batch_size, workers, world, run.seed, generator)
    earlier = list(start.learned)
    model.set_trainable(task, own_only=run.model.head == "progressive" and run.previous is not None)
    strategy = build_strategy(params.strategy) if needs_strategy(earlier, run.model) else Strategy()
    ctx = StageContext(task=task, learned=earlier, memory=start.memory, image_size=start.image_size,
                       device=device, seed=run.seed)
    strategy.before_stage(model, ctx)
    teacher = build_teacher(task, sp.imagenet_teacher, params.model, start.classes)
    trainer = distributed.wrap(TrainStep(model, task, strategy, device, teacher), world, device)
    optimizer, scheduler = make_optimizer(model, task, earlier, sp, tp.weight_decay, sp.epochs * len(loader))
    start.image_size[task] = sp.image_size
    start.learned.append(task)

    def evaluate_now(last: bool):  # rank 0 scores; the others wait for it
        tasks = start.learned if last or needs_strategy(earlier, run.model) else [task]
        scores = score_tasks(model, tasks, start.image_size, root, "val", device, tp.det_max_per_image) \
            if world.is_main else None
        distributed.barrier(world)
        return scores

    began = time.time()
    history = train_epochs(run.name, trainer, loader, optimizer, scheduler, evaluate_now, sp.epochs, sp.eval_every,
                           tp.freeze_bn and bool(earlier), world, log)
    start.train_time[run.name] = round(time.time() - began, 1)
    strategy.after_stage(model, ctx)
    del trainer  # DDP's gradient hooks must not fire for the Fisher's backward passes below
    return model, history


def same_run_done(run: Run, params: Params, models_dir):
    """The checkpoint of `run`'s single-task reference when it is this very run: a first stage with
    the reference's settings, model and training params. Training it again would repeat it bit for
    bit (the pipeline's dvc.yaml makes the first stage depend on that reference)."""
    if run.previous is not None or run.name == reference_name(run.task):
        return None
    path = Path(models_dir) / f"{reference_name(run.task)}.pt"
    if not path.is_file():
        return None
    ckpt = load_checkpoint(path)
    try:
        theirs = Params.model_validate(ckpt.params)
    except ValueError:
        return None
    unseeded = {"seed": 0}
    same = (reference_run(run.task, theirs) == replace(run, name=reference_name(run.task), leaves_memory=False)
            and theirs.data.root == params.data.root
            and theirs.train.model_copy(update=unseeded) == params.train.model_copy(update=unseeded))
    return ckpt if same else None


def adopt(reference, run: Run, start: Start):
    """The model and history of a finished identical run (see `same_run_done`)."""
    start.image_size[run.task] = run.settings.image_size
    start.learned.append(run.task)
    start.train_time[run.name] = reference.train_time_s[reference.stage]
    history = History(reference.history["train"], reference.history["val"], {run.task: reference.metrics[run.task]},
                      reference.metrics.get("peak_memory_gib"))
    return model_from_checkpoint(reference, reference.stage), history


def main(stage: str, build_strategy=None) -> None:
    with user_errors(stage):
        run_stage(stage, build_strategy)


def main_reference(task: str) -> None:
    with user_errors(reference_name(task)):
        run_reference(task)
