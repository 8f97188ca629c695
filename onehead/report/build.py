"""Write report.md from metrics/*.json, the per-epoch logs and params (never hand-edited)."""
from __future__ import annotations

from pathlib import Path

from ..catalog import METRIC_LABEL, METRICS, STAGE_ORDER, stage_of_task, task_of_metric
from ..checkpoint import load_checkpoint, model_from_checkpoint
from ..cli import user_errors
from ..config import Params, load_params
from ..io import read_json, write_text
from ..model.net import count_parameters
from . import figures, markdown
from .qualitative import qualitative_grid


def fmt(v, digits: int = 4) -> str:
    if v is None:
        return "n/a"
    if isinstance(v, bool):
        return "✅ pass" if v else "❌ fail"
    return f"{v:.{digits}f}" if isinstance(v, float) else str(v)


def results_table(ev: dict) -> str:
    columns = ["metric", "reference (task alone)", "baseline (stage)", "final", "final / reference", "abs. drop",
               "rel. drop %", "≥ 95 % of baseline"]
    rows = []
    for m in METRICS:
        base_stage = "stage " + str(STAGE_ORDER.index(stage_of_task(task_of_metric(m))) + 1)
        rows.append([METRIC_LABEL[m], fmt(ev["reference"][m]), f"{fmt(ev['baseline'][m])} ({base_stage})",
                     fmt(ev["final"][m]), fmt(ev["final_over_reference"][m], 3), fmt(ev["drop_abs"][m]),
                     fmt(ev["drop_rel_pct"][m], 2), fmt(ev["pass"][m]) if m in ev["pass"] else "(not gated)"])
    return markdown.table(columns, rows)


def stage_table(stage_metrics: dict) -> str:
    """Every task's metrics after each stage ("—" before the task is learnt)."""
    columns = ["after"] + [METRIC_LABEL[m] for m in METRICS] + ["epochs", "train time (s)", "peak memory (GiB)"]
    rows = []
    for s in STAGE_ORDER:
        m = stage_metrics[s]
        scores = [fmt(m[task_of_metric(k)][k]) if task_of_metric(k) in m else "—" for k in METRICS]
        rows.append([s, *scores, m["epochs"], m["train_time_s"], m.get("peak_memory_gib", "—")])
    return markdown.table(columns, rows)


SPEC_MAX_PARAMS = 8_000_000      # SPEC §2: total parameters < 8 M
SPEC_MAX_LATENCY_MS = 150         # SPEC §2: inference ≤ 150 ms per 512 × 512 image


def against_spec(within: bool, limit: str) -> str:
    return f"within SPEC §2's {limit}" if within else f"**over** SPEC §2's {limit}"


def resource_table(ev: dict) -> str:
    p, lat, t, peak = ev["params"], ev["latency_ms"], ev["train_time_s"], ev["peak_memory_gib"]["max"]
    cuda = f"{lat['cuda_512']} ms" if lat["cuda_512"] is not None else "no GPU here"
    params_limit = against_spec(p["total"] < SPEC_MAX_PARAMS, f"< {SPEC_MAX_PARAMS / 1e6:g} M")
    latency_limit = against_spec(lat["cpu_512"] <= SPEC_MAX_LATENCY_MS, f"≤ {SPEC_MAX_LATENCY_MS} ms")
    cpu = f"{lat['cpu_512']} ms ({latency_limit})"
    return markdown.table(["resource", "value"], [
        ["parameters (total)", f"{p['total']:,} ({params_limit})"],
        ["— backbone / neck / head", f"{p['backbone']:,} / {p['neck']:,} / {p['head']:,}"],
        ["latency 512×512, batch 1, CPU (median; BatchNorms folded)", cpu],
        ["latency 512×512, batch 1, CUDA", cuda],
        *[[f"training time {s}", f"{t[s]} s"] for s in STAGE_ORDER],
        ["training time total", f"{t['total']} s ({t['total'] / 60:.1f} min)"],
        ["peak memory of a training stage", f"{peak} GiB" if peak is not None else "—"],  # "—": older metrics
        ["training time of the three single-task references", f"{t['references']} s"]])


STRATEGY_NOTES = {
    "naive": "**naive** — plain fine-tuning, the reference for how much is forgotten.",
    "replay": "**replay** — experience replay (Rolnick et al., 2019, *Experience Replay for Continual "
              "Learning*): ≤ 10 images per earlier task, chosen at the end of its stage for class coverage and "
              "stored in the checkpoint; ≤ 10 replayed per earlier task per step with their true labels.",
    "lwf": "**lwf** — Learning without Forgetting (Li & Hoiem, 2016): the model at the start of the stage is a "
           "frozen teacher; on the new task's images the old tasks' outputs (softened per-pixel seg logits, "
           "detection heatmap and boxes, cls logits) are kept close to the teacher's.",
    "kd": "**kd** — distillation from the previous stage's checkpoint (Hinton et al., 2015), on outputs and on "
          "the neck's features (FitNets, Romero et al., 2015).",
    "ewc": "**ewc** — Elastic Weight Consolidation (Kirkpatrick et al., 2017), with the online decay of Schwarz "
           "et al. (2018): a quadratic penalty weighted by each earlier task's diagonal Fisher.",
}


def stage_summary(stage: str, sp) -> str:
    teacher = f"; distils Lite0's ImageNet classifier (weight {sp.imagenet_teacher})" if sp.imagenet_teacher else ""
    pasting = f"; objects pasted into {sp.copy_paste:.0%} of its images" if sp.copy_paste else ""
    return (f"{stage}: `{sp.trainable}` (lr {sp.lr}; own rows ×{sp.task_rows_lr_scale}, earlier rows "
            f"×{sp.old_rows_lr_scale}; {sp.epochs} epochs, {sp.image_size} px{teacher}{pasting})")


ISOLATION_NOTE = {
    "own": "trains only its own channel groups of the neck and head (and its output rows): no weight an "
           "earlier task's outputs depend on can move",
    "task_slice": "trains only its own output rows of the head's last layer: every other weight is frozen",
}


def strategy_notes(params: Params) -> str:
    later = STAGE_ORDER[1:]
    protected = [s for s in later if not params.stage(s).preserves_earlier_outputs]
    notes = [f"**{s} {ISOLATION_NOTE[params.stage(s).trainable]}**, so the earlier tasks' outputs are bit-identical "
             "before and after it (their drop in that stage is 0 by construction, not a measurement of "
             "forgetting) and no strategy runs in it: parameter isolation (as PackNet or Progressive Networks)."
             for s in later if s not in protected]
    if protected:
        notes += [f"{', '.join(protected)}: " + STRATEGY_NOTES[n] for n in params.strategy.names]
        names = set(params.strategy.names)
        if params.strategy.lwf_replay_weight and "replay" in names and names & {"lwf", "kd"}:
            notes.append("LwF/KD also act on the replayed images (weight "
                         f"{params.strategy.lwf_replay_weight}), as in Dark Experience Replay (Buzzega et al., 2020).")
    return "\n".join(f"- {n}" for n in notes)


def model_section(params: Params, arch_png) -> str:
    m = params.model
    groups = figures.channel_groups
    c5 = (f"its last block (320 ch) for {', '.join(m.last_block_readers())} and its pretrained 1×1 conv head "
          f"(1280 ch) for {', '.join(m.conv_head_for)}" if m.conv_head_for else "its last block (320 ch)")
    context = (f"; for {', '.join(m.context_for)} it also reads the image context, the globally averaged "
               "last block, at every position" if m.context_for else "")
    reuse = isolation_sentence(m.isolated)
    return f"""## Model
![architecture]({arch_png})

`{m.backbone}` backbone (ImageNet weights; stride 32 through {c5}) → one FPN layer (1×1 laterals
of strides 8/16/32 summed at stride 8, one {m.neck_kernel}×{m.neck_kernel} conv-BN-ReLU;
channels {groups(m.neck_channels)})
→ **one head of 3 layers** ({figures.hidden_kernels(m.head_kernel)} conv-BN-ReLU ×2, channels {groups(m.head_channels)}, then one 1×1
conv{context}) whose single output tensor carries `[seg 21 | det heatmap | det box 4 | cls]` channels at stride 8.

Every neck and head layer is **one convolution over the whole previous tensor**, with its channels
grouped by task in the order the tasks are learnt: a task's group reads the groups of the tasks
before it and its own, never a later one (the weight is block lower-triangular, as the lateral
connections of Progressive Networks, Rusu et al. 2016, inside single layers). {reuse} A later task
adds capacity without changing a single earlier output. Detection is TTFNet-style (heatmap peaks; every
cell of a box's centre area regresses its four sides with a GIoU loss); segmentation logits are
upsampled to the input for training and, at decoding, the winning classes' probabilities to the image,
then guided-filtered with the image as guide; classification is the spatial mean of its channels.
"""


def isolation_sentence(isolated: list[str]) -> str:
    """Which tasks reuse the earlier tasks' channels (`model.isolated` names those that do not)."""
    if not isolated:
        return "Detection thus reuses everything segmentation computes, classification everything both compute."
    names, their = ", ".join(isolated), "its" if len(isolated) == 1 else "their"
    return (f"Isolated (`model.isolated`): {names} — {their} groups read only their own channels, so the earlier "
            "tasks' channels can be tuned for those tasks alone; a single-task reference is never isolated "
            "(alone, a task may use every channel of the layers it trains).")


def schedule_section(params: Params) -> str:
    return f"""## Schedule and strategy
Stage 1 trains on Mini-VOC-Seg only, stage 2 on Mini-COCO-Det only, stage 3 on Imagenette-160 only.
Trainable parts per stage: {', '.join(stage_summary(s, params.stage(s)) for s in STAGE_ORDER)};
the backbone stays frozen (ImageNet weights and statistics) unless a stage's trainable set names it;
BatchNorm statistics of the trainable layers {'frozen' if params.train.freeze_bn else 'updated'} after stage 1.
Configured strategy (`strategy.names`, for stages that train weights an earlier task uses):
**{" + ".join(params.strategy.names)}**.

{strategy_notes(params)}
"""


def results_section(ev: dict, stage_metrics: dict, forget_png) -> str:
    all_ge = all(ev["final"][m] >= ev["baseline"][m] for m in METRICS)
    return f"""## Results (val split)
Baselines are read at the end of each task's own stage (SPEC §3). **Top-1's baseline is taken after
stage 3, so its drop is 0 by construction** and says nothing about forgetting. Imagenette images come
from ImageNet's training set, which the pretrained backbone has seen.

{results_table(ev)}

All criteria met: **{ev['pass']['all']}**. Every final metric ≥ its baseline (bonus): **{all_ge}**.

### Metrics after each stage
{stage_table(stage_metrics)}

![forgetting]({forget_png})
"""


def figures_section(loss_png, grid_png) -> str:
    return f"""## Training curves
![loss curves]({loss_png})

## Qualitative results (val)
Columns: segmentation ground truth and prediction, ground-truth boxes and predicted boxes,
the classification top-3.

![qualitative]({grid_png})
"""


def draw_figures(params: Params, stage_metrics: dict, plots_dir: Path, checkpoint) -> dict[str, Path]:
    fig_dir = plots_dir / "report"
    fig_dir.mkdir(parents=True, exist_ok=True)
    ckpt = load_checkpoint(checkpoint)
    model = model_from_checkpoint(ckpt, checkpoint)
    return {"loss": figures.loss_curves(plots_dir, fig_dir / "loss_curves.png"),
            "forget": figures.forgetting_chart(stage_metrics, fig_dir / "forgetting.png"),
            "arch": figures.architecture_diagram(params.model, model.layout, count_parameters(model),
                                                 fig_dir / "architecture.png"),
            "grid": qualitative_grid(model, ckpt, params.data.root, params.report.qualitative_images,
                                     fig_dir / "qualitative.png")}


def build_report(params_path="params.yaml", metrics_dir="metrics", plots_dir="plots", out="report.md",
                 checkpoint=f"models/{STAGE_ORDER[-1]}.pt") -> Path:
    params = load_params(params_path)
    metrics_dir, plots_dir = Path(metrics_dir), Path(plots_dir)
    stage_metrics = {s: read_json(metrics_dir / f"{s}.json", "stage metrics") for s in STAGE_ORDER}
    ev = read_json(metrics_dir / "evaluate.json", "evaluate metrics")
    pngs = draw_figures(params, stage_metrics, plots_dir, checkpoint)
    link = {k: (p.relative_to(Path(out).parent) if Path(out).parent != Path(".") else p) for k, p in pngs.items()}
    sections = ["# onehead — results report\n\n*Generated by `dvc repro` (stage `report`) from `metrics/` and "
                "`plots/`; do not edit by hand.*\n", model_section(params, link["arch"]), schedule_section(params),
                results_section(ev, stage_metrics, link["forget"]), figures_section(link["loss"], link["grid"]),
                f"## Resources\n{resource_table(ev)}\n"]
    write_text(out, "\n".join(sections))
    return Path(out)


def main() -> None:
    with user_errors("report"):
        print(f"report: wrote {build_report()}")
