"""The ``seglab`` command line: parses arguments, calls library functions, prints results.

There is no maths here; every command is a thin wrapper over a function you can call from
Python (named in each command's help).

Errors: a failure the user can fix (a bad path, a bad setting, a refused checkpoint, a full
disk) prints one line, ``seglab COMMAND: error: ...``, on stderr and exits with 2; anything
else is a bug and prints one line that says so, exiting with 1. ``--debug`` (or the
environment variable ``SEGLAB_DEBUG=1``) shows the full traceback instead.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from seglab.engine.config import LOSSES
from seglab.limits import DEFAULT_IMG_SIZE

__all__ = ["main", "build_parser"]


def _size_pair(text: str) -> tuple[int, int, int, int]:
    try:
        values = tuple(int(part) for part in text.split(","))
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"expected x0,y0,x1,y1 integers, got {text!r}") from error
    if len(values) != 4:
        raise argparse.ArgumentTypeError(f"expected 4 values x0,y0,x1,y1, got {text!r}")
    return values  # type: ignore[return-value]


def _key_values(items: list[str]) -> dict:
    """Parse ``key=value`` pairs; values are read as JSON when possible (numbers, booleans)."""
    result = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"expected key=value, got {item!r}")
        try:
            result[key] = json.loads(value)
        except json.JSONDecodeError:
            result[key] = value
    return result


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"a port is an integer in 1..65535, got {text!r}")
    return port


def _add_trust_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--trust-checkpoint",
        action="store_true",
        help="also load checkpoints that are not plain data; such a file can run any code "
        "when loaded, so only for files from a source you trust (see README: Safety)",
    )


def _load_input_image(spec: str):
    """A file path, or ``sample:NAME`` for a bundled scikit-image sample."""
    from seglab.io import read_image
    from seglab.samples import load_sample

    if spec.startswith("sample:"):
        return load_sample(spec.split(":", 1)[1])
    return read_image(spec)


# --------------------------------------------------------------------------------- commands
def _cmd_demo(args: argparse.Namespace) -> int:
    from seglab.demo import run_demo

    result = run_demo(args.out, sample=args.sample)
    for line in result.lines:
        print(line)
    print(f"outputs written to {result.out}")
    return 0


def _cmd_train(args: argparse.Namespace) -> int:
    from seglab.engine.config import TrainConfig
    from seglab.engine.train import train

    config = TrainConfig(
        data=args.data,
        dataset=args.dataset,
        out=args.out,
        model=args.model,
        model_kwargs=_key_values(args.model_arg),
        mode=args.mode,
        num_classes=args.num_classes,
        img_size=args.img_size,
        batch_size=args.batch_size,
        epochs=args.epochs,
        loss=args.loss,
        lr=args.lr,
        weight_decay=args.weight_decay,
        schedule=args.schedule,
        warmup_epochs=args.warmup_epochs,
        clip_grad=args.clip_grad or None,
        ema=args.ema,
        class_weights=args.class_weights,
        device=args.device,
        amp=args.amp,
        channels_last=args.channels_last,
        compile=args.compile,
        sync_bn=args.sync_bn,
        seed=args.seed,
        split_seed=args.split_seed,
        deterministic=args.deterministic,
        val_fraction=args.val_fraction,
        monitor=args.monitor,
        patience=args.patience,
        time_budget=args.time_budget,
        budget_clock=args.budget_clock,
        init_from=args.init_from,
        resume=args.resume,
        overwrite=args.overwrite,
        trust_checkpoint=args.trust_checkpoint,
        loggers=args.logger,
        num_workers=args.num_workers,
        cache=args.cache,
        augment=not args.no_augment,
        aug_scale=tuple(args.aug_scale),
        aug_rotation=args.aug_rotation,
        aug_hue=args.aug_hue,
        aug_gray=args.aug_gray,
        copy_paste=args.copy_paste,
        normalize=args.normalize,
    )
    result = train(config, progress=not args.quiet)
    from seglab.engine.distributed import env_world

    if env_world()[0] != 0:
        return 0  # under torchrun, rank 0 reports for all
    best = {key: value for key, value in result.best.items() if isinstance(value, int | float)}
    print(f"finished in {result.seconds:.1f} s; best epoch {best.get('epoch')}:")
    for key, value in best.items():
        if key != "epoch":
            print(f"  {key:<20} {value:.4f}")
    print(f"run folder: {result.out} ({', '.join(result.files) or 'no files'})")
    return 0


def _test_time_options(args: argparse.Namespace) -> dict:
    """The test-time augmentation and mask clean-up flags shared by evaluate and predict."""
    return {
        "tta": args.tta,
        "scales": args.scales,
        "keep_largest": args.keep_largest,
        "fill_holes": args.fill_holes,
    }


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from seglab.engine.evaluate import evaluate_checkpoint, format_metrics_table

    def show(metrics: dict, class_names: list[str]) -> None:
        # Printed before metrics.json is written: an unwritable folder loses nothing.
        print(format_metrics_table(metrics, class_names), flush=True)

    out = Path(args.out) if args.out else Path(args.checkpoint).parent
    evaluate_checkpoint(
        args.checkpoint,
        args.data,
        split=args.split,
        dataset=args.dataset,
        batch_size=args.batch_size,
        device=args.device,
        out=out,
        progress=not args.quiet,
        trust_checkpoint=args.trust_checkpoint,
        report=show,
        **_test_time_options(args),
    )
    print(f"metrics written to {out / 'metrics.json'}")
    return 0


def _cmd_predict(args: argparse.Namespace) -> int:
    from seglab.engine.distributed import env_world
    from seglab.engine.onnx_predict import create_predictor
    from seglab.engine.predict import predict_files

    rank, world_size, local_rank = env_world()
    if world_size > 1 and args.device != "cpu":
        import torch

        if torch.cuda.is_available():
            # One GPU per process on each machine; "cuda" then means this process's GPU.
            torch.cuda.set_device(local_rank % torch.cuda.device_count())
    predictor = create_predictor(
        args.checkpoint,
        backend=args.backend,
        device=args.device,
        trust_checkpoint=args.trust_checkpoint,
        **_test_time_options(args),
    )
    summary = predict_files(
        predictor,
        args.inputs,
        args.out,
        overlay=not args.no_overlay,
        skip_existing=not args.overwrite,
        progress=not args.quiet and rank == 0,
        batch_size=args.batch_size,
        workers=args.workers,
        shard=(rank, world_size) if world_size > 1 else None,
    )
    where = f"rank {rank}/{world_size}: " if world_size > 1 else ""
    print(
        f"{where}{len(summary.written)} masks written to {args.out}, "
        f"{len(summary.skipped_existing)} already there"
        f"{' (--overwrite redoes them)' if summary.skipped_existing else ''}, "
        f"{len(summary.failed)} failed" + _skipped_outputs_note(summary.skipped_outputs)
    )
    for path, reason in summary.failed:
        print(f"  failed: {path}: {reason}", file=sys.stderr)
    return 0 if summary.written or summary.skipped_existing or not summary.failed else 1


def _skipped_outputs_note(skipped: list[Path]) -> str:
    if not skipped:
        return ""
    return f"; {len(skipped)} earlier output file(s) in the input were not read as images"


def _cmd_classical(args: argparse.Namespace) -> int:
    from seglab.classical.run import run_classical

    image = _load_input_image(args.image)
    name = Path(args.image.split(":", 1)[-1]).stem
    options = {
        "n_segments": args.n_segments,
        "compactness": args.compactness,
        "rect": args.rect,
        "trimap": args.trimap,
        "iters": args.iters,
        "ncut_method": args.method,
    }
    started = time.perf_counter()
    result = run_classical(args.method_name, image, out_dir=args.out, name=name, **options)
    print(
        f"{args.method_name}: {result.num_labels} labels in {time.perf_counter() - started:.2f} s; "
        f"wrote {', '.join(str(path) for path in result.files)}"
    )
    return 0


def _cmd_convert(args: argparse.Namespace) -> int:
    from seglab.annotations import convert_annotations

    written = convert_annotations(
        args.src,
        args.dst,
        src_format=args.src_format,
        dst_format=args.dst_format,
        class_names=args.class_names,
        encoding=args.encoding,
        max_vertices=args.max_vertices,
        tolerance=args.tolerance,
        image_ext=args.image_ext,
    )
    print(f"{len(written)} file(s) written to {args.dst}")
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    from seglab.export import export_model

    if args.out is None:
        # Next to the checkpoint, or in the current folder for the shipped model.
        source = Path(args.checkpoint) if args.checkpoint else Path("pet_unet.pt")
        args.out = source.with_suffix(f".{args.format}")
    path = export_model(
        args.checkpoint,
        args.out,
        format=args.format,
        opset=args.opset,
        dynamic=args.dynamic,
        input_size=tuple(args.input_size) if args.input_size else None,
        trust_checkpoint=args.trust_checkpoint,
    )
    shape = "dynamic N, H, W" if args.dynamic else "static shape"
    print(f"exported {args.checkpoint or 'the shipped pet model'} to {path} ({shape})")
    return 0


def _cmd_soup(args: argparse.Namespace) -> int:
    from seglab.checkpoint import save_checkpoint
    from seglab.engine.soup import average_checkpoints

    soup = average_checkpoints(
        args.checkpoints, weights=args.weights, trust_checkpoint=args.trust_checkpoint
    )
    save_checkpoint(args.out, soup)
    mix = ", ".join(f"{w:.3g}" for w in soup["soup"]["weights"])
    print(f"averaged {len(args.checkpoints)} checkpoints (weights {mix}) into {args.out}")
    return 0


def _cmd_instance(args: argparse.Namespace) -> int:
    from seglab.engine.instance_predict import predict_instance_files

    summary = predict_instance_files(
        args.inputs,
        args.out,
        checkpoint=args.checkpoint,
        device=args.device,
        overlay=not args.no_overlay,
        progress=not args.quiet,
        trust_checkpoint=args.trust_checkpoint,
    )
    print(
        f"{len(summary.written)} label maps ({summary.num_instances} instances) written to "
        f"{args.out}, COCO results in {summary.results_path}, {len(summary.failed)} failed"
        + _skipped_outputs_note(summary.skipped_outputs)
    )
    for path, reason in summary.failed:
        print(f"  failed: {path}: {reason}", file=sys.stderr)
    return 0 if summary.written or not summary.failed else 1


def _cmd_serve(args: argparse.Namespace) -> int:
    # Without gradio this raises ImportError("... pip install 'seglab[web]'"), which main()
    # prints as one line.
    from seglab.web.app import serve

    print(f"seglab web app on http://{args.host}:{args.port} (Ctrl+C to stop)")
    serve(
        args.checkpoint,
        host=args.host,
        port=args.port,
        max_megapixels=args.max_megapixels,
        device=args.device,
        trust_checkpoint=args.trust_checkpoint,
    )
    return 0


def _cmd_models(args: argparse.Namespace) -> int:
    from seglab.models import list_models

    print("\n".join(list_models()))
    return 0


# ----------------------------------------------------------------------------------- parser
def _add_scales_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--scales",
        type=float,
        nargs="+",
        default=[1.0],
        metavar="S",
        help="test-time scales to average over, e.g. 0.75 1 1.25 (default: 1)",
    )


def _add_cleanup_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--keep-largest",
        action="store_true",
        help="keep only the largest region of each class (one-object images such as pets)",
    )
    parser.add_argument(
        "--fill-holes", action="store_true", help="fill the holes of each class's regions"
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``seglab`` command."""
    from seglab import __version__

    parser = argparse.ArgumentParser(
        prog="seglab", description="Image segmentation: classical methods, deep models, metrics."
    )
    parser.add_argument("--version", action="version", version=f"seglab {__version__}")
    parser.add_argument(
        "--debug",
        action="store_true",
        help="show the full traceback of an error (or SEGLAB_DEBUG=1)",
    )
    commands = _SubcommandsWithDebug(
        parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    )

    demo = commands.add_parser(
        "demo", help="run the shipped pet model and the classical methods on a bundled sample image"
    )
    demo.add_argument("--out", default="demo_out", help="output folder (default: demo_out)")
    demo.add_argument("--sample", default="chelsea", help="bundled sample image (default: chelsea)")
    demo.set_defaults(handler=_cmd_demo)

    train = commands.add_parser("train", help="train a model (seglab.engine.train)")
    train.add_argument("--data", required=True, help="dataset root folder")
    train.add_argument("--dataset", default="oxford-pet", choices=("oxford-pet", "folder"))
    train.add_argument("--out", default="runs/exp", help="run folder (default: runs/exp)")
    train.add_argument("--model", default="unet", help="model name, see `seglab models`")
    train.add_argument(
        "--model-arg",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra model argument, e.g. width=0.5 (repeatable)",
    )
    train.add_argument(
        "--mode",
        default="binary",
        help="Oxford-IIIT Pet labels: binary, binary_ignore, trimap, pet_head",
    )
    train.add_argument("--num-classes", type=int, default=None, help="classes of a folder dataset")
    train.add_argument("--img-size", type=int, default=DEFAULT_IMG_SIZE)
    train.add_argument(
        "--batch-size", type=int, default=16, help="global batch (split over torchrun processes)"
    )
    train.add_argument("--epochs", type=int, default=20)
    train.add_argument("--loss", default="ce", choices=LOSSES)
    train.add_argument("--lr", type=float, default=1e-3)
    train.add_argument("--weight-decay", type=float, default=1e-4)
    train.add_argument("--schedule", default="cosine", choices=("cosine", "poly", "constant"))
    train.add_argument("--warmup-epochs", type=float, default=1.0)
    train.add_argument("--clip-grad", type=float, default=1.0, help="max gradient norm (0: off)")
    train.add_argument("--class-weights", type=float, nargs="+", default=None)
    train.add_argument(
        "--ema",
        type=float,
        default=None,
        metavar="DECAY",
        help="validate and save an exponential moving average of the weights (e.g. 0.998)",
    )
    train.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    train.add_argument(
        "--amp",
        default="auto",
        choices=("auto", "bf16", "fp16", "off"),
        help="mixed precision on CUDA (ignored on the CPU)",
    )
    train.add_argument("--channels-last", action="store_true")
    train.add_argument("--compile", action="store_true", help="torch.compile the model")
    train.add_argument(
        "--sync-bn",
        action="store_true",
        help="under torchrun: BatchNorm statistics over the global batch",
    )
    train.add_argument("--seed", type=int, default=0, help="seed of the training randomness")
    train.add_argument(
        "--split-seed",
        type=int,
        default=0,
        help="seed of the validation split (kept apart from --seed, so that every run "
        "holds out the same images)",
    )
    train.add_argument("--deterministic", action="store_true")
    train.add_argument("--val-fraction", type=float, default=0.1)
    train.add_argument(
        "--best-metric",
        "--monitor",
        dest="monitor",
        default="miou",
        choices=("miou", "fg_iou", "mean_dice", "pixel_accuracy", "mean_pixel_accuracy", "loss"),
        help="validation metric that picks best.pt and drives --patience. Under torchrun write "
        "--best-metric: torchrun's own parser takes --monitor for its --monitor-interval",
    )
    train.add_argument(
        "--patience", type=int, default=None, help="early-stopping patience (epochs)"
    )
    train.add_argument("--time-budget", type=float, default=None, help="minutes of training")
    train.add_argument(
        "--init-from", default=None, help="start from this checkpoint's weights (fine-tune)"
    )
    train.add_argument(
        "--budget-clock",
        default="wall",
        choices=("wall", "cpu"),
        help="what --time-budget counts: elapsed time, or this process's CPU time (fair on a "
        "shared machine)",
    )
    train.add_argument(
        "--resume",
        action="store_true",
        help="continue from OUT/last.pt (the data, model and labels must be the run's)",
    )
    train.add_argument(
        "--overwrite",
        action="store_true",
        help="start a new run in an OUT that holds one, deleting its checkpoints and log "
        "(without --resume or --overwrite such an OUT is an error)",
    )
    _add_trust_argument(train)
    train.add_argument("--logger", action="append", default=[], choices=("tensorboard", "wandb"))
    train.add_argument("--num-workers", type=int, default=0)
    train.add_argument("--cache", default="memory", choices=("memory", "disk", "none"))
    train.add_argument("--no-augment", action="store_true")
    train.add_argument(
        "--aug-scale",
        type=float,
        nargs=2,
        default=(0.75, 1.33),
        metavar=("LOW", "HIGH"),
        help="range of the random scale factor of the training crops",
    )
    train.add_argument(
        "--aug-rotation", type=float, default=10.0, help="largest random rotation (degrees)"
    )
    train.add_argument(
        "--aug-hue",
        type=float,
        default=0.02,
        metavar="TURNS",
        help="largest random hue shift, in turns of the colour wheel (0 to 0.5)",
    )
    train.add_argument(
        "--aug-gray",
        type=float,
        default=0.0,
        metavar="P",
        help="chance that a training image is turned grey (learn shapes, not coat colours)",
    )
    train.add_argument(
        "--copy-paste",
        type=float,
        default=0.0,
        metavar="P",
        help="chance that a training image gets another image's objects pasted on (0: off)",
    )
    train.add_argument("--normalize", default=None, choices=("imagenet",))
    train.add_argument("--quiet", action="store_true", help="no progress bars")
    train.set_defaults(handler=_cmd_train)

    evaluate = commands.add_parser("evaluate", help="evaluate a checkpoint on a dataset split")
    evaluate.add_argument("--checkpoint", required=True)
    evaluate.add_argument("--data", required=True)
    evaluate.add_argument("--split", default="test", help="test, val, train, trainval or all")
    evaluate.add_argument(
        "--dataset",
        default=None,
        choices=("oxford-pet", "folder"),
        help="override the checkpoint's dataset kind",
    )
    evaluate.add_argument("--batch-size", type=int, default=16)
    evaluate.add_argument(
        "--tta", action="store_true", help="average with a horizontal flip, as predict --tta"
    )
    _add_scales_argument(evaluate)
    _add_cleanup_arguments(evaluate)
    evaluate.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    evaluate.add_argument(
        "--out", default=None, help="folder for metrics.json (default: next to the checkpoint)"
    )
    evaluate.add_argument("--quiet", action="store_true")
    _add_trust_argument(evaluate)
    evaluate.set_defaults(handler=_cmd_evaluate)

    predict = commands.add_parser("predict", help="predict masks for images or folders")
    predict.add_argument("inputs", nargs="+", help="image files or folders")
    predict.add_argument(
        "--checkpoint", default=None, help="a .pt checkpoint or an .onnx file (default: pet model)"
    )
    predict.add_argument(
        "--backend",
        default="auto",
        choices=("auto", "torch", "onnxruntime"),
        help="auto: onnxruntime for an .onnx file, else torch",
    )
    predict.add_argument("--out", required=True, help="output folder")
    predict.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    predict.add_argument("--tta", action="store_true", help="average with a horizontal flip")
    _add_scales_argument(predict)
    _add_cleanup_arguments(predict)
    predict.add_argument("--no-overlay", action="store_true")
    predict.add_argument(
        "--overwrite",
        action="store_true",
        help="redo images whose mask exists (default: skip them, so a killed run resumes)",
    )
    # Skipping is the default now; the old flag stays accepted.
    predict.add_argument("--skip-existing", action="store_true", help=argparse.SUPPRESS)
    predict.add_argument("--batch-size", type=int, default=8, help="images per network call")
    predict.add_argument(
        "--workers",
        type=int,
        default=min(2, max(0, (os.cpu_count() or 1) - 2)),
        help="image-decoding processes (0: decode in the main process; default: up to 2, "
        "none on 2 cores, where the writer threads already use the second core)",
    )
    predict.add_argument("--quiet", action="store_true")
    _add_trust_argument(predict)
    predict.set_defaults(handler=_cmd_predict)

    classical = commands.add_parser("classical", help="SLIC, Normalized Cut or GrabCut on an image")
    classical.add_argument(
        "method_name",
        choices=("slic", "ncut", "grabcut"),
        metavar="METHOD",
        help="slic, ncut or grabcut",
    )
    classical.add_argument(
        "image", help="image file, or sample:NAME (chelsea, astronaut, coffee, coins)"
    )
    classical.add_argument("--out", required=True, help="output folder")
    classical.add_argument(
        "--n-segments",
        type=int,
        default=None,
        help="superpixels (slic, default 400) or segments (ncut, default 8)",
    )
    classical.add_argument("--compactness", type=float, default=10.0, help="slic compactness")
    classical.add_argument(
        "--method", default="pixel", choices=("pixel", "rag"), help="ncut flavour"
    )
    classical.add_argument(
        "--rect",
        type=_size_pair,
        default=None,
        metavar="X0,Y0,X1,Y1",
        help="grabcut rectangle (x1, y1 exclusive)",
    )
    classical.add_argument(
        "--trimap",
        default=None,
        help="grabcut trimap PNG: 0/64 background, 128 unknown, 255 foreground",
    )
    classical.add_argument(
        "--iters",
        type=int,
        default=5,
        help="grabcut iterations (0: the starting rectangle or trimap, no iteration)",
    )
    classical.set_defaults(handler=_cmd_classical)

    convert = commands.add_parser(
        "convert", help="convert annotations between PNG masks, COCO JSON and LabelMe JSON"
    )
    convert.add_argument("src", help="PNG mask folder, COCO JSON file or LabelMe folder")
    convert.add_argument("dst", help="output folder (png, labelme) or JSON file (coco)")
    convert.add_argument(
        "--from", dest="src_format", required=True, choices=("png", "coco", "labelme")
    )
    convert.add_argument(
        "--to", dest="dst_format", required=True, choices=("png", "coco", "labelme")
    )
    convert.add_argument(
        "--class-names",
        nargs="+",
        default=None,
        help="class names in index order (default: classes.txt or the file's own)",
    )
    convert.add_argument(
        "--encoding",
        default="polygon",
        choices=("polygon", "rle"),
        help="COCO segmentation encoding",
    )
    convert.add_argument(
        "--max-vertices", type=int, default=None, help="polygon vertex budget per object"
    )
    convert.add_argument(
        "--tolerance", type=float, default=None, help="Douglas-Peucker tolerance in pixels"
    )
    convert.add_argument(
        "--image-ext", default=".jpg", help="image extension written into the JSON files"
    )
    convert.set_defaults(handler=_cmd_convert)

    export = commands.add_parser(
        "export", help="export a checkpoint to ONNX (seglab.export.export_onnx)"
    )
    export.add_argument("--checkpoint", default=None, help="default: the shipped pet model")
    export.add_argument("--format", default="onnx", help="export format (onnx)")
    export.add_argument("--opset", type=int, default=17, help="ONNX opset, 13..20 (default 17)")
    export.add_argument(
        "--dynamic",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="dynamic batch, height and width (default); --no-dynamic: fixed (1, C, H, W)",
    )
    export.add_argument(
        "--input-size",
        type=int,
        nargs=2,
        metavar=("H", "W"),
        default=None,
        help="traced (and, with --no-dynamic, fixed) size; default: the training size",
    )
    export.add_argument(
        "--out", default=None, help="output file (default: the checkpoint's path with .onnx)"
    )
    _add_trust_argument(export)
    export.set_defaults(handler=_cmd_export)

    soup = commands.add_parser(
        "soup", help="average the weights of fine-tuned checkpoints of one model (a model soup)"
    )
    soup.add_argument("checkpoints", nargs="+", help="two or more checkpoints of one model")
    soup.add_argument("--out", required=True, help="the averaged checkpoint")
    soup.add_argument(
        "--weights", type=float, nargs="+", default=None, help="mixing weights (default: equal)"
    )
    _add_trust_argument(soup)
    soup.set_defaults(handler=_cmd_soup)

    instance = commands.add_parser(
        "instance", help="nucleus instances: label PNG, overlay, COCO results (Panoptic-DeepLab)"
    )
    instance.add_argument("inputs", nargs="+", help="image files or folders")
    instance.add_argument("--checkpoint", default=None, help="default: the shipped nuclei model")
    instance.add_argument("--out", required=True, help="output folder")
    instance.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    instance.add_argument("--no-overlay", action="store_true")
    instance.add_argument("--quiet", action="store_true")
    _add_trust_argument(instance)
    instance.set_defaults(handler=_cmd_instance)

    serve = commands.add_parser(
        "serve", help="the web app: classical methods, models, evaluation (needs seglab[web])"
    )
    serve.add_argument(
        "--checkpoint",
        action="append",
        default=[],
        help="extra model checkpoint for the model tab (repeatable); the pet model is built in",
    )
    serve.add_argument(
        "--host", default="127.0.0.1", help="interface to bind (default: loopback only)"
    )
    serve.add_argument("--port", type=_port, default=7860, help="1..65535 (default 7860)")
    serve.add_argument(
        "--max-megapixels",
        type=float,
        default=25.0,
        help="largest accepted upload, at most 89 (default 25)",
    )
    serve.add_argument("--device", default="cpu", choices=("auto", "cpu", "cuda"))
    _add_trust_argument(serve)
    serve.set_defaults(handler=_cmd_serve)

    models = commands.add_parser("models", help="list the registered models")
    models.set_defaults(handler=_cmd_models)
    return parser


class _SubcommandsWithDebug:
    """``add_subparsers()``'s action, giving every subcommand the ``--debug`` flag too, so that
    it works before or after the command name."""

    def __init__(self, action) -> None:
        self._action = action

    def add_parser(self, name: str, **kwargs) -> argparse.ArgumentParser:
        parser = self._action.add_parser(name, **kwargs)
        # SUPPRESS: when absent here, the top-level --debug value is kept.
        parser.add_argument(
            "--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS
        )
        return parser


# Failures a user can fix: bad input, a refused file, a folder that cannot be written.
EXPECTED_ERRORS = (OSError, ValueError, TypeError, RuntimeError, ImportError, MemoryError)


def describe_error(error: BaseException) -> str:
    """One line for an error: OS errors as ``reason: file``, the others as their message."""
    if isinstance(error, MemoryError):
        return f"out of memory{': ' + str(error) if str(error) else ''}"
    if isinstance(error, OSError) and error.strerror:
        files = [str(name) for name in (error.filename, error.filename2) if name is not None]
        message = ": ".join(
            [error.strerror, *[name for name in files if name not in error.strerror]]
        )
    else:
        message = str(error) or type(error).__name__
    return " ".join(message.split())  # one line, whatever the message holds


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``seglab`` console script; returns the exit code.

    Returns:
        0 on success, 2 for an error the user can fix (one line on stderr), 1 for an
        unexpected error (a bug), 130 when interrupted with Ctrl+C.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    debug = args.debug or os.environ.get("SEGLAB_DEBUG", "") not in ("", "0")
    try:
        return int(args.handler(args) or 0)
    except KeyboardInterrupt:
        if debug:
            raise
        print(f"seglab {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as error:
        if debug:
            raise
        if isinstance(error, EXPECTED_ERRORS):
            print(f"seglab {args.command}: error: {describe_error(error)}", file=sys.stderr)
            return 2
        print(
            f"seglab {args.command}: internal error, a bug in seglab: {type(error).__name__}: "
            f"{describe_error(error)} (rerun with --debug for the traceback, and report it)",
            file=sys.stderr,
        )
        return 1
