"""``seglab convert``: annotations between PNG masks, COCO JSON and LabelMe JSON."""

from __future__ import annotations

import argparse

from seglab.commands._common import add_library_choice, pick

__all__ = ["add_parser", "run"]


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Add the ``convert`` subcommand to ``subparsers`` (``add_subparsers()``'s result)."""
    parser = subparsers.add_parser(
        "convert", help="convert annotations between PNG masks, COCO JSON and LabelMe JSON"
    )
    parser.add_argument("src", help="PNG mask folder, COCO JSON file or LabelMe folder")
    parser.add_argument("dst", help="output folder (png, labelme) or JSON file (coco)")
    for flag, dest, name in (("--from", "src_format", "SRC"), ("--to", "dst_format", "DST")):
        add_library_choice(
            parser,
            flag,
            "seglab.annotations.folders",
            "FORMATS",
            dest=dest,
            required=True,
            metavar="FORMAT",
            help=f"format of {name}: %(choices)s",
        )
    parser.add_argument(
        "--class-names",
        nargs="+",
        default=None,
        help="class names in index order (default: classes.txt or the file's own)",
    )
    add_library_choice(
        parser,
        "--encoding",
        "seglab.annotations.coco",
        "ENCODINGS",
        default="polygon",
        metavar="ENCODING",
        help="COCO segmentation encoding: %(choices)s (default: %(default)s)",
    )
    parser.add_argument(
        "--max-vertices", type=int, default=None, help="polygon vertex budget per object"
    )
    parser.add_argument(
        "--tolerance", type=float, default=None, help="Douglas-Peucker tolerance in pixels"
    )
    parser.add_argument(
        "--image-ext", default=".jpg", help="image extension written into the JSON files"
    )
    return parser


def run(args: argparse.Namespace) -> int:
    """Run :func:`seglab.annotations.convert_annotations`; returns the exit code, 0."""
    from seglab.annotations import convert_annotations

    options = ("src_format", "dst_format", "class_names", "encoding", "max_vertices")
    written = convert_annotations(
        args.src, args.dst, **pick(args, *options, "tolerance", "image_ext")
    )
    print(f"{len(written)} file(s) written to {args.dst}")
    return 0
