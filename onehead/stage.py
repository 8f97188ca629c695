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
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from . import distributed
from .catalog import STAGE_INFO, TASK_ORDER, reference_name, stage_of_task
from .checkpoint import check_compatible, load_checkpoint, model_from_checkpoint, save_checkpoint
from .config import ModelParams, Params, StageParams, load_params
from .data.common import collate
from .data.datasets import build_dataset, build_training_set
from .data.transforms import eval_transform, train_transform
from .engine import Training, TrainStep, score_tasks, train_one_epoch
from .io import read_json, write_json, write_text
from .memory import build_task_memory
from .model.net import build_model
from .runtime import configure_threads, peak_memory_gib, pick_device, plan_cpu, seed_everything
from .strategies.base import StageContext, Strategy
from .teacher import build_teacher


@dataclass(frozen=True)
class RunPlan:
    """What one training run trains: a pipeline stage, or one task alone (its single-task reference)."""
    name: str                  # its outputs: models/<name>.pt, metrics/<name>.json, plots/<name>/
    task: str
    previous: str | None       # the run whose checkpoint it starts from; None: the pretrained network
    settings: StageParams
    model: ModelParams         # the network it trains
    leaves_memory: bool        # replay samples and Fisher for the stages after it
    seed: int


def pipeline_run(stage: str, params: Params) -> RunPlan:
    info = STAGE_INFO[stage]
    return RunPlan(stage, info.task, info.previous, params.stage(stage), params.model, leaves_memory=True,
                   seed=params.train.seed)


def reference_run(task: str, params: Params) -> RunPlan:
    """`task` alone from the pretrained network, with its stage's settings. Its seed is `reference.seed`,
    not `train.seed`: the yardsticks stay fixed while the pipeline's seed varies."""
    return RunPlan(reference_name(task), task, None, params.stage(stage_of_task(task)), params.model,
                   leaves_memory=False, seed=params.reference.seed)


@dataclass(frozen=True)
class LearnedSoFar:
    """A network and its record: the tasks it has learned (in order), their class lists, the
    resolution each was trained at, the memory each stage left and each run's training time."""
    model: torch.nn.Module
    classes: dict[str, list[str]]
    learned: list[str]
    memory: dict
    image_size: dict[str, int]
    train_time: dict[str, float]

    def with_task(self, task: str, image_size: int) -> LearnedSoFar:
        return replace(self, learned=[*self.learned, task], image_size={**self.image_size, task: image_size})

    def with_time(self, run: str, seconds: float) -> LearnedSoFar:
        return replace(self, train_time={**self.train_time, run: seconds})

    def with_memory(self, task: str, memory) -> LearnedSoFar:
        return replace(self, memory={**self.memory, task: memory})


@dataclass(frozen=True)
class OutputDirs:
    models: Path = Path("models")
    metrics: Path = Path("metrics")
    plots: Path = Path("plots")


@dataclass(frozen=True)
class Process:
    """This process's place among torchrun's, its device and loader workers, and its printer."""
    world: distributed.World
    device: torch.device
    workers: int

    def log(self, *args, **kwargs) -> None:
        if self.world.is_main:  # rank 0 alone prints
            print(*args, **kwargs)


def load_start(plan: RunPlan, params: Params, models_dir: Path) -> LearnedSoFar:
    """The previous run's checkpoint, or the pretrained network."""
    if plan.previous is None:
        classes = read_json(Path(params.data.root) / "classes.json", "class list (run the download stage)")
        return LearnedSoFar(build_model(plan.model, classes), classes, [], {}, {}, {})
    path = Path(models_dir) / f"{plan.previous}.pt"
    ckpt = load_checkpoint(path)
    check_compatible(ckpt, plan.model, path)
    return LearnedSoFar(model_from_checkpoint(ckpt, path), ckpt.classes, list(ckpt.learned), dict(ckpt.memory),
                        dict(ckpt.image_size), dict(ckpt.train_time_s))


def needs_strategy(learned: list[str], model: ModelParams) -> bool:
    """Earlier tasks need protecting: there are some, and training can change their outputs (in the
    progressive head a stage trains only its own task's channel groups: plain training)."""
    return bool(learned) and model.head == "shared"


def make_optimizer(model, task: str, sp, weight_decay: float, total_steps: int):
    """AdamW with warm-up and cosine decay; this task's output rows learn at `task_rows_lr_scale` × the rate."""
    scale = {"task_rows": sp.task_rows_lr_scale, "shared": 1.0}
    groups = model.parameter_groups(task)
    optimizer = torch.optim.AdamW([{"params": ps, "lr": sp.lr * scale[g]} for g, ps in groups.items() if ps],
                                  weight_decay=weight_decay)
    warmup = min(50, max(1, total_steps // 10))

    def warmup_cosine(s: int) -> float:
        return min(1.0, (s + 1) / warmup) * 0.5 * (1 + math.cos(math.pi * min(s, total_steps) / max(total_steps, 1)))
    return optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, warmup_cosine)


def train_loader(train_set, plan: RunPlan, proc: Process, generator) -> DataLoader:
    """Shuffled batches; under torchrun each rank gets its shard and a share of the global batch."""
    sampler = distributed.sampler(train_set, proc.world, plan.seed)
    per_rank = distributed.per_rank_batch(plan.settings.batch_size, proc.world, f"{plan.name}.batch_size")
    shard = len(train_set) // proc.world.size
    return DataLoader(train_set, batch_size=per_rank, shuffle=sampler is None, sampler=sampler,
                      generator=generator, collate_fn=collate, drop_last=shard > per_rank,
                      num_workers=proc.workers, persistent_workers=proc.workers > 0)


@dataclass
class History:
    """Per-epoch loss terms and val metrics, and the run's final val metrics."""
    train_rows: list[dict] = field(default_factory=list)
    val_rows: list[dict] = field(default_factory=list)
    final: dict | None = None
    peak_memory_gib: float | None = None  # set when the run was adopted: the training run's peak

    def record(self, epoch: int, losses: dict[str, float], scores: dict | None) -> str:
        """Add an epoch (`scores`: its val metrics, None if not scored here); returns its log text."""
        self.train_rows.append({"epoch": epoch, **{k: round(v, 5) for k, v in losses.items()}})
        line = " ".join(f"{k}={v:.4f}" for k, v in losses.items())
        if scores is not None:
            self.final = scores
            self.val_rows.append({"epoch": epoch, **{f"val_{m}": round(v, 5) for task_scores in scores.values()
                                                     for m, v in task_scores.items()}})
            line += " " + " ".join(f"{k}={v:.4f}" for k, v in self.val_rows[-1].items() if k != "epoch")
        return line


def _tsv(rows: list[dict]) -> str:
    fields = list(dict.fromkeys(k for row in rows for k in row))
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=fields, delimiter="\t", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def write_outputs(plan: RunPlan, state: LearnedSoFar, history: History, params: Params, world_size: int,
                  dirs: OutputDirs) -> dict:
    """Checkpoint, metrics JSON and per-epoch logs of a finished run (rank 0 only)."""
    stage = plan.name
    peak = history.peak_memory_gib or round(peak_memory_gib(), 2)
    metrics = {"stage": stage, **history.final, "train_time_s": state.train_time[stage],
               "epochs": plan.settings.epochs, "peak_memory_gib": peak}
    save_checkpoint(dirs.models / f"{stage}.pt", state.model.cpu(), stage=stage, model_params=plan.model,
                    classes=state.classes, learned=state.learned, image_size=state.image_size, memory=state.memory,
                    params=params.model_dump(), metrics=metrics, train_time_s=state.train_time,
                    history={"train": history.train_rows, "val": history.val_rows}, world_size=world_size)
    write_json(dirs.metrics / f"{stage}.json", metrics)
    write_text(dirs.plots / stage / "train.tsv", _tsv(history.train_rows))
    write_text(dirs.plots / stage / "val.tsv", _tsv(history.val_rows))
    return metrics


def start_process(tp) -> Process:
    """This process's place among torchrun's, its threads and device, and its loader workers."""
    world = distributed.world_from_env()
    threads, workers = plan_cpu(tp.threads, tp.workers, world.local_size)
    configure_threads(threads)
    return Process(world, distributed.start(world, pick_device(tp.device)), workers)


def run_stage(plan: RunPlan, params: Params, strategy: Strategy | None = None,
              dirs: OutputDirs = OutputDirs()) -> dict:
    """Train `plan` and write its checkpoint, metrics JSON and loss logs; returns the metrics. `strategy`
    protects the earlier tasks wherever training can change their outputs (the shared head)."""
    proc = start_process(params.train)
    generator = seed_everything(plan.seed)
    before = load_start(plan, params, dirs.models)
    identical = identical_reference(plan, params, dirs.models)
    if identical is not None:
        proc.log(f"[{plan.name}] the same run as {identical.stage} (same settings, from the pretrained network): "
                 "its weights are taken, not trained again")
        after, history = adopt(identical, plan, before)
    else:
        protects = strategy is not None and needs_strategy(before.learned, plan.model)
        remedy = strategy if protects else Strategy()  # the no-op strategy: plain training
        training, ctx = prepare_training(plan, params, before, remedy, proc, generator)
        after, history, epochs = before.with_task(plan.task, plan.settings.image_size), History(), plan.settings.epochs
        began = time.time()
        for epoch in range(1, epochs + 1):
            losses = distributed.mean_over_ranks(train_one_epoch(training, f"{plan.name} epoch {epoch}/{epochs}"),
                                                 proc.world)
            scored = epoch % plan.settings.eval_every == 0 or epoch == epochs
            scores = score_on_val(after, plan, params, proc, every_task=epoch == epochs) if scored else None
            line = history.record(epoch, losses, scores)
            proc.log(f"[{plan.name}] epoch {epoch}/{epochs} ({time.time() - began:.0f}s) {line}", flush=True)
        if epochs == 0:
            history.final = score_on_val(after, plan, params, proc, every_task=True)
        after = after.with_time(plan.name, round(time.time() - began, 1))
        remedy.after_stage(after.model, ctx)
        del training  # DDP's gradient hooks must not fire for the Fisher's backward passes below
    metrics = finish(plan, params, after, history, proc, dirs)
    distributed.stop(proc.world)
    return metrics


def prepare_training(plan: RunPlan, params: Params, before: LearnedSoFar, strategy: Strategy, proc: Process,
                     generator) -> tuple[Training, StageContext]:
    """Data, trainable parts, strategy, teacher and optimizer of one run, in the order that fixes its
    random draws."""
    task, settings = plan.task, plan.settings
    model = before.model.to(proc.device)
    train_set = build_training_set(task, params.data.root, train_transform(task, settings.image_size),
                                   settings.copy_paste)
    loader = train_loader(train_set, plan, proc, generator)
    model.set_trainable(task, own_only=plan.model.head == "progressive" and plan.previous is not None)
    ctx = StageContext(task=task, learned=list(before.learned), memory=before.memory,
                       image_size=before.image_size, device=proc.device, seed=plan.seed)
    strategy.before_stage(model, ctx)
    teacher = build_teacher(task, settings.imagenet_teacher, params.model, before.classes)
    step = distributed.wrap(TrainStep(model, task, strategy, proc.device, teacher), proc.world, proc.device)
    optimizer, scheduler = make_optimizer(model, task, settings, params.train.weight_decay,
                                          settings.epochs * len(loader))
    return Training(step, loader, optimizer, scheduler, params.train.freeze_bn and bool(before.learned)), ctx


def score_on_val(state: LearnedSoFar, plan: RunPlan, params: Params, proc: Process, every_task: bool):
    """Val metrics (rank 0; the others get None and wait): every learned task after the last epoch, and
    before it as well while training can change the earlier tasks' outputs; else this run's task."""
    earlier = state.learned[:-1]
    tasks = state.learned if every_task or needs_strategy(earlier, plan.model) else [plan.task]
    scores = score_tasks(state.model, tasks, state.image_size, params.data.root, "val", proc.device,
                         params.train.det_max_per_image) if proc.world.is_main else None
    distributed.barrier(proc.world)
    return scores


def finish(plan: RunPlan, params: Params, state: LearnedSoFar, history: History, proc: Process,
           dirs: OutputDirs) -> dict:
    """Add the task memory for later stages (if the run leaves one), write the outputs, print a summary."""
    if not proc.world.is_main:  # rank-0-only writes
        return {}
    if plan.leaves_memory:
        root, size, task = params.data.root, plan.settings.image_size, plan.task
        memory = build_task_memory(state.model, build_dataset(task, root, "train"),
                                   build_dataset(task, root, "train", eval_transform(task, size)),
                                   task, params.memory, plan.seed, proc.device)
        state = state.with_memory(task, memory)
    metrics = write_outputs(plan, state, history, params, proc.world.size, dirs)
    summary = ", ".join(f"{t}.{m}={v:.4f}" for t in TASK_ORDER if t in history.final
                        for m, v in history.final[t].items())
    proc.log(f"[{plan.name}] done in {state.train_time[plan.name]:.0f}s: {summary}", flush=True)
    return metrics


def identical_reference(plan: RunPlan, params: Params, models_dir: Path):
    """The checkpoint of `plan`'s single-task reference when it is this very run: a first stage with
    the reference's settings, model and training params. Training it again would repeat it bit for
    bit (the pipeline's dvc.yaml makes the first stage depend on that reference)."""
    if plan.previous is not None or plan.name == reference_name(plan.task):
        return None
    path = Path(models_dir) / f"{reference_name(plan.task)}.pt"
    if not path.is_file():
        return None
    ckpt = load_checkpoint(path)
    try:
        theirs = Params.model_validate(ckpt.params)
    except ValueError:
        return None
    unseeded = {"seed": 0}
    same = (reference_run(plan.task, theirs) == replace(plan, name=reference_name(plan.task), leaves_memory=False)
            and theirs.data.root == params.data.root
            and theirs.train.model_copy(update=unseeded) == params.train.model_copy(update=unseeded))
    return ckpt if same else None


def adopt(reference, plan: RunPlan, before: LearnedSoFar) -> tuple[LearnedSoFar, History]:
    """The network and history of a finished identical run (see `identical_reference`)."""
    after = replace(before.with_task(plan.task, plan.settings.image_size),
                    model=model_from_checkpoint(reference, reference.stage))
    history = History(reference.history["train"], reference.history["val"], {plan.task: reference.metrics[plan.task]},
                      reference.metrics.get("peak_memory_gib"))
    return after.with_time(plan.name, reference.train_time_s[reference.stage]), history
