#!/usr/bin/env python3
"""Compares the final model and the per-round training losses of two or more
`pipar train` results files. With --tolerance 0 they must be bitwise equal;
otherwise the largest absolute difference of any weight and of any round's
training loss must not exceed the tolerance."""
import argparse
import sys

import h5py
import numpy


def load(path):
    with h5py.File(path, "r") as results:
        return {
            "scheme": results["options"].attrs["scheme"],
            "floating": results["model/floating"][()],
            "integer": results["model/integer"][()],
            "train_loss": results["rounds/train_loss"][()],
        }


def compare(reference_path, other_path, tolerance):
    reference = load(reference_path)
    other = load(other_path)
    problems = []
    for name in ["floating", "integer", "train_loss"]:
        if reference[name].shape != other[name].shape:
            problems.append(f"{name}: shape {other[name].shape} differs from {reference[name].shape}")
            continue
        difference = float(numpy.max(numpy.abs(reference[name] - other[name]), initial=0.0))
        print(f"{other['scheme']} vs {reference['scheme']}: largest {name} difference {difference:.3g}")
        if difference > tolerance:
            problems.append(f"{other_path} differs from {reference_path} in {name} by "
                            f"{difference:.3g}, above the tolerance {tolerance:.3g}")
    return problems


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("reference")
    parser.add_argument("others", nargs="+")
    parser.add_argument("--tolerance", type=float, required=True)
    arguments = parser.parse_args()
    problems = []
    for other in arguments.others:
        problems += compare(arguments.reference, other, arguments.tolerance)
    for problem in problems:
        print(f"FAIL: {problem}", file=sys.stderr)
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
