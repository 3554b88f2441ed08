"""Agreement of our math grader with the correctness flags of Qwen2.5-Math's example pool.

Reads ``samples/qwen2.5-math_math_cot_100/math_cot_100.jsonl`` from the data folder
(``--data-dir`` or PRM_HARNESS_DATA): 100 MATH test problems x 8 responses, each with the
flag (``score``) that Qwen's own evaluation gave it. Every response is extracted and graded
with the harness's rules against the file's own ``answer`` field
(``harness.grading.math.flag_agreement``). Prints one JSON line of figures, then one JSON line
per disagreement (problem, response, both answers, both verdicts, our grading status) for
inspection.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from harness.grading.math.flag_agreement import QWEN_POOL, flag_agreement
from harness.grading.math.grader import MathGrader


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=os.environ.get("PRM_HARNESS_DATA"))
    args = parser.parse_args()
    if not args.data_dir:
        parser.error("pass --data-dir or set PRM_HARNESS_DATA")
    figures, disagreements = flag_agreement(Path(args.data_dir) / QWEN_POOL, MathGrader())
    print(json.dumps(figures))
    for d in disagreements:
        print(json.dumps(d, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
