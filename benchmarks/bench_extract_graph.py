"""Where a frame's CPU goes inside MediaPipe Holistic, and what dropping each part would cost in landmarks.

    .venv/bin/python benchmarks/bench_extract_graph.py --rounds 3     # ~4 min on 2 cores

The extractor and pose-format run the same Holistic graph (complexity 1) at the same CPU per frame, so
the throughput ratio between them is ≈ 1 (``bench_extract.py speed``). This script measures what the
graph's parts cost, to show what 1.5× would take: the graph alone (frames decoded beforehand, one
graph thread, the first ``--frames`` frames of the benchmark video), each variant a fresh process,
interleaved over ``--rounds`` rounds. Variants:

* the Holistic graph file as shipped (the reference: what ``signbridge extract`` and pose-format run);
* without the face nodes (what ``--no-face`` runs);
* pose only; pose and face, no hands (to price the hand and face branches);
* the hand branch rebuilt node by node from MediaPipe's own subgraphs: with the full hand model (a check:
  it must give the reference's landmarks exactly), with the lite hand model the wheel also ships, and
  with the lite model and no hand re-crop model; the last also without the face.

For each variant: CPU ms per frame and, against the reference on the same frames, how often each hand is
detected in the same frames and the mean x/y distance where both detect it. The implied throughput
ratio against pose-format assumes both stay CPU-bound on the same cores (as measured) and subtracts the
graph saving from our end-to-end CPU per frame in ``extract_speed.json``.

Writes ``benchmarks/results/extract_graph.json``.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
DATA = Path(os.environ.get("SIGNBRIDGE_SHARED_DATA", REPO.parent / "shared" / "data"))
BENCH_VIDEO = DATA / "bench" / "wlasl_concat_640x480_30fps.mp4"
RESULTS = REPO / "benchmarks" / "results"

VARIANTS = {  # name -> (how the graph is built, what it drops)
    "holistic": "the shipped graph (reference)",
    "no_face": "without the face nodes (--no-face)",
    "pose_only": "pose only",
    "pose_face": "pose + face, no hands",
    "hands_expanded_full": "hand branch rebuilt, full hand model (must equal the reference)",
    "hands_lite": "lite hand model",
    "hands_lite_no_recrop": "lite hand model, no re-crop model",
    "hands_lite_no_recrop_no_face": "lite hand model, no re-crop model, no face",
}

_HAND = """
node {{ calculator: "SplitNormalizedLandmarkListCalculator" input_stream: "pose_landmarks"
  output_stream: "{s}_from_pose"
  options {{ [mediapipe.SplitVectorCalculatorOptions.ext] {{ {ranges} combine_outputs: true }} }} }}
node {{ calculator: "HandVisibilityFromHandLandmarksFromPose" input_stream: "HAND_LANDMARKS_FROM_POSE:{s}_from_pose"
  output_stream: "VISIBILITY:{s}_visible" }}
node {{ calculator: "GateCalculator" input_stream: "{s}_from_pose" input_stream: "ALLOW:{s}_visible"
  output_stream: "{s}_visible_from_pose" }}
node {{ calculator: "HandLandmarksFromPoseToRecropRoi" input_stream: "HAND_LANDMARKS_FROM_POSE:{s}_visible_from_pose"
  input_stream: "IMAGE_SIZE:image_size" output_stream: "ROI:{s}_roi_from_pose" }}
{recrop}
node {{ calculator: "HandTracking" input_stream: "LANDMARKS:{s}_hand_landmarks"
  input_stream: "HAND_ROI_FROM_RECROP:{s}_roi_from_recrop" input_stream: "IMAGE_SIZE:image_size"
  output_stream: "HAND_TRACKING_ROI:{s}_tracking_roi" }}
node {{ calculator: "HandLandmarkCpu" input_stream: "IMAGE:image" input_stream: "ROI:{s}_tracking_roi"
  input_side_packet: "MODEL_COMPLEXITY:hand_model_complexity" output_stream: "LANDMARKS:{s}_hand_landmarks" }}
"""
_RECROP = """node {{ calculator: "HandRecropByRoiCpu" input_stream: "IMAGE:image" input_stream: "ROI:{s}_roi_from_pose"
  output_stream: "HAND_ROI_FROM_RECROP:{s}_roi_from_recrop" }}"""
_NO_RECROP = """node {{ calculator: "PassThroughCalculator" input_stream: "{s}_roi_from_pose"
  output_stream: "{s}_roi_from_recrop" }}"""


def _expanded_graph(recrop: bool, face: bool) -> str:
    """Holistic's top level with its hand subgraph written out, so the hand model and re-crop can be chosen."""
    text = """
input_stream: "IMAGE:image"
output_stream: "POSE_LANDMARKS:pose_landmarks"
output_stream: "LEFT_HAND_LANDMARKS:left_hand_landmarks"
output_stream: "RIGHT_HAND_LANDMARKS:right_hand_landmarks"
input_side_packet: "MODEL_COMPLEXITY:model_complexity"
input_side_packet: "SMOOTH_LANDMARKS:smooth_landmarks"
input_side_packet: "ENABLE_SEGMENTATION:enable_segmentation"
input_side_packet: "SMOOTH_SEGMENTATION:smooth_segmentation"
input_side_packet: "USE_PREV_LANDMARKS:use_prev_landmarks"
input_side_packet: "HAND_MODEL_COMPLEXITY:hand_model_complexity"
node { calculator: "PoseLandmarkCpu" input_stream: "IMAGE:image" output_stream: "LANDMARKS:pose_landmarks"
  input_side_packet: "MODEL_COMPLEXITY:model_complexity" input_side_packet: "SMOOTH_LANDMARKS:smooth_landmarks"
  input_side_packet: "ENABLE_SEGMENTATION:enable_segmentation"
  input_side_packet: "SMOOTH_SEGMENTATION:smooth_segmentation"
  input_side_packet: "USE_PREV_LANDMARKS:use_prev_landmarks" }
node { calculator: "ImagePropertiesCalculator" input_stream: "IMAGE:image" output_stream: "SIZE:image_size" }
"""
    for side, pose_idx in (("left", (15, 17, 19)), ("right", (16, 18, 20))):  # wrist, pinky, index
        ranges = " ".join(f"ranges {{ begin: {i} end: {i + 1} }}" for i in pose_idx)
        step = (_RECROP if recrop else _NO_RECROP).format(s=side)
        text += _HAND.format(s=side, ranges=ranges, recrop=step)
    if face:
        text += """
output_stream: "FACE_LANDMARKS:face_landmarks"
input_side_packet: "REFINE_FACE_LANDMARKS:refine_face_landmarks"
node { calculator: "SplitNormalizedLandmarkListCalculator" input_stream: "pose_landmarks"
  output_stream: "face_landmarks_from_pose"
  options { [mediapipe.SplitVectorCalculatorOptions.ext] { ranges { begin: 0 end: 11 } } } }
node { calculator: "FaceLandmarksFromPoseCpu" input_stream: "IMAGE:image"
  input_stream: "FACE_LANDMARKS_FROM_POSE:face_landmarks_from_pose" output_stream: "FACE_LANDMARKS:face_landmarks"
  input_side_packet: "REFINE_LANDMARKS:refine_face_landmarks" }
"""
    return text


def _config(variant: str):
    import mediapipe as mp
    from google.protobuf import text_format
    from mediapipe.framework import calculator_pb2, thread_pool_executor_pb2

    from signbridge.extract.holistic import FACE_NODES, holistic_graph_config, without_nodes

    shipped = str(Path(mp.__file__).parent / "modules" / "holistic_landmark" / "holistic_landmark_cpu.binarypb")
    if variant in ("holistic", "no_face", "pose_only", "pose_face"):
        config = holistic_graph_config(shipped, graph_threads=1, face=variant != "no_face")
        without_nodes(config, {"pose_only": ("HandLandmarksLeftAndRightCpu", *FACE_NODES),
                               "pose_face": ("HandLandmarksLeftAndRightCpu",)}.get(variant, ()))
        return config, 1
    config = text_format.Parse(_expanded_graph(recrop="no_recrop" not in variant, face="no_face" not in variant),
                               calculator_pb2.CalculatorGraphConfig())
    ex = config.executor.add(name="", type="ThreadPoolExecutor")
    ex.options.Extensions[thread_pool_executor_pb2.ThreadPoolExecutorOptions.ext].num_threads = 1
    return config, 0 if "lite" in variant else 1


def _child(variant: str, frames: int, out_npz: str) -> None:
    """One variant in this fresh process: decode first, then time the graph alone."""
    import numpy as np

    from signbridge.extract.decode import iter_frames
    from signbridge.extract.holistic import PART_WIDTH, decode_landmark_list, quiet_native_stderr

    with quiet_native_stderr():
        import mediapipe as mp
        from mediapipe.python import packet_creator as pc
        from mediapipe.python._framework_bindings import _packet_getter, calculator_graph, image_frame, resource_util

        resource_util.set_resource_dir(str(Path(mp.__file__).parent.parent))
        config, hand_model = _config(variant)
        graph = calculator_graph.CalculatorGraph(graph_config=config)
    streams = [o.split(":")[-1] for o in config.output_stream]
    got: dict[str, bytes] = {}
    for s in streams:
        graph.observe_output_stream(s, lambda name, p: got.__setitem__(name, _packet_getter._get_serialized_proto(p)))
    side = {"model_complexity": pc.create_int(1), "smooth_landmarks": pc.create_bool(True),
            "enable_segmentation": pc.create_bool(False), "smooth_segmentation": pc.create_bool(True),
            "refine_face_landmarks": pc.create_bool(False), "use_prev_landmarks": pc.create_bool(True),
            "hand_model_complexity": pc.create_int(hand_model)}
    declared = {s.split(":")[-1] for s in config.input_side_packet}
    images = []
    for _pts, rgb in iter_frames(str(BENCH_VIDEO), width=640, height=480):
        images.append(rgb.copy())
        if len(images) >= frames:
            break
    parts = {"pose": ("pose_landmarks", 4), "left_hand": ("left_hand_landmarks", 3),
             "right_hand": ("right_hand_landmarks", 3), "face": ("face_landmarks", 3)}
    out = {p: np.full((len(images), PART_WIDTH[p]), np.nan, dtype=np.float32) for p in parts}
    with quiet_native_stderr():
        graph.start_run(input_side_packets={k: v for k, v in side.items() if k in declared})
        c0, t0 = time.process_time(), time.perf_counter()
        for i, rgb in enumerate(images):
            got.clear()
            packet = pc.create_image_frame(rgb, image_format=image_frame.ImageFormat.SRGB).at(1_000_000 + i * 33_333)
            graph.add_packet_to_input_stream("image", packet)
            graph.wait_until_idle()
            for p, (stream, dims) in parts.items():
                if stream in got:
                    v = decode_landmark_list(got[stream], PART_WIDTH[p] // dims, dims)
                    if v is not None:
                        out[p][i] = v
        cpu, wall = time.process_time() - c0, time.perf_counter() - t0
        graph.close()
    np.savez(out_npz, **out)
    print(json.dumps({"frames": len(images), "cpu_ms_per_frame": round(1000 * cpu / len(images), 2),
                      "wall_ms_per_frame": round(1000 * wall / len(images), 2),
                      "detected": {p: int((~np.isnan(a[:, 0])).sum()) for p, a in out.items()}}))


def _agreement(ref, var, hands: bool) -> dict:
    import numpy as np

    res = {}
    for p in ("pose", "left_hand", "right_hand") if hands else ("pose",):
        a, b = ~np.isnan(ref[p][:, 0]), ~np.isnan(var[p][:, 0])
        both = a & b
        dims = 4 if p == "pose" else 3
        if both.any():
            ra = ref[p][both].reshape(int(both.sum()), -1, dims)[..., :2]
            va = var[p][both].reshape(int(both.sum()), -1, dims)[..., :2]
            dist = float(np.linalg.norm(ra - va, axis=-1).mean())
            exact = bool(np.array_equal(ref[p][both], var[p][both]))
        else:
            dist, exact = None, False
        res[p] = {"same_frames": round(float((a == b).mean()), 4), "mean_xy_distance": dist and round(dist, 5),
                  "identical": exact and bool((a == b).all())}
    return res


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "_child":
        return _child(sys.argv[2], int(sys.argv[3]), sys.argv[4])
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--frames", type=int, default=300)
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args()
    if not BENCH_VIDEO.is_file():
        sys.exit(f"benchmark video not found: {BENCH_VIDEO} (needs ../shared/data)")
    import numpy as np

    from signbridge.bench import machine_info, write_results

    env = {**os.environ, "GLOG_minloglevel": "2", "TF_CPP_MIN_LOG_LEVEL": "2"}
    runs: dict[str, list[dict]] = {v: [] for v in VARIANTS}
    with tempfile.TemporaryDirectory(prefix="bench-graph-") as tmp:
        for r in range(a.rounds):
            for v in VARIANTS:
                npz = os.path.join(tmp, f"{v}.npz")
                done = subprocess.run([sys.executable, __file__, "_child", v, str(a.frames), npz],
                                      capture_output=True, text=True, env=env)
                if done.returncode != 0:
                    sys.exit(f"variant {v} failed:\n{done.stderr[-3000:]}")
                res = json.loads(done.stdout.strip().splitlines()[-1])
                res["load"] = round(os.getloadavg()[0], 1)
                runs[v].append(res)
                print(f"  round {r + 1}/{a.rounds} {v:30s} {res['cpu_ms_per_frame']:6.2f} CPU ms/frame  "
                      f"load {res['load']}", flush=True)
        arrays = {v: dict(np.load(os.path.join(tmp, f"{v}.npz"))) for v in VARIANTS}
    speed_file = RESULTS / "extract_speed.json"
    e2e = json.loads(speed_file.read_text())["summary"] if speed_file.is_file() else None
    ref = statistics.mean(x["cpu_ms_per_frame"] for x in runs["holistic"])
    summary = {}
    for v, rs in runs.items():
        m = statistics.mean(x["cpu_ms_per_frame"] for x in rs)
        s = {"what": VARIANTS[v], "cpu_ms_per_frame_mean": round(m, 2),
             "sd": round(statistics.pstdev(x["cpu_ms_per_frame"] for x in rs), 2),
             "vs_reference_pct": round(100 * (m / ref - 1), 1), "detected": rs[-1]["detected"],
             "agreement_with_reference": _agreement(arrays["holistic"], arrays[v], hands=not v.startswith("pose_"))}
        if e2e:
            ours = e2e["signbridge_all_frames"]["cpu_ms_per_frame_mean"]
            theirs = e2e["pose_format_all_frames"]["cpu_ms_per_frame_mean"]
            s["implied_ratio_vs_pose_format"] = round(theirs / (ours - (ref - m)), 2)
        summary[v] = s
    check = summary["hands_expanded_full"]["agreement_with_reference"]
    print()
    print(f"| graph (first {a.frames} frames, 1 thread) | CPU ms/frame (mean of {a.rounds}) | vs reference | "
          "left / right hand: same frames | left / right: mean x/y distance | implied × pose-format |")
    print("|---|---:|---:|---:|---:|---:|")
    for v, s in summary.items():
        ag = s["agreement_with_reference"]
        if "left_hand" in ag:
            same = f"{100 * ag['left_hand']['same_frames']:.1f} / {100 * ag['right_hand']['same_frames']:.1f} %"
            dist = " / ".join("—" if ag[h]["mean_xy_distance"] is None else f"{ag[h]['mean_xy_distance']:.4f}"
                              for h in ("left_hand", "right_hand"))
        else:
            same = dist = "no hands"
        print(f"| {s['what']} | {s['cpu_ms_per_frame_mean']} | {s['vs_reference_pct']:+.1f} % | {same} | {dist} | "
              f"{s.get('implied_ratio_vs_pose_format', '—')} |")
    print(f"\nrebuilt hand branch with the full model identical to the shipped graph: "
          f"{all(check[p]['identical'] for p in check)}")
    write_results(RESULTS / "extract_graph.json",
                  {"video": str(BENCH_VIDEO.relative_to(DATA)), "frames": a.frames, "rounds": a.rounds,
                   "machine": machine_info(), "end_to_end_from": str(speed_file.relative_to(REPO)) if e2e else None,
                   "runs": runs, "summary": summary})


if __name__ == "__main__":
    main()
