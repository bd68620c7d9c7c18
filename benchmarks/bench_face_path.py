"""Face path throughput per codec: one decoding pass + select by timestamp + BlazeFace detection + crop + JPEG,
on DEAP-sized videos (720 x 576, 50 fps) with a drawn face that drifts and nods, generated for the run.

The same drawn frames are written in three codecs: DV (`dvsd`, the PAL camcorder codec of DEAP's face
videos; intra-only, decoded frame by frame by OpenCV's bundled FFmpeg), XVID (MPEG-4 part 2, inter-frame
like H.264, which OpenCV's wheel can decode but not write) and MJPEG (what `emorecog synth` writes; only the
chosen frames are decoded). Full run: a 63 s video (3 s lead-in + the 60 s trial) -> 480 crops at 8 fps.
Quick run: 3 s + 4 s -> 32 crops.

The path measured is `TrialPreprocessor.process_face` at the default settings (one decoding pass; MJPEG
frames decoded at half size where the frame keeps 4 crop sides; the detector on every other frame with
squares interpolated between agreeing detections). Reported per codec: the real-time factor (seconds of
trial per second of processing), output frames per second, and, as the reference measured in the same
run, the old path that decoded every frame twice (a counting pass, then the selection pass) at full
resolution and ran the detector on every frame, next to a single full decoding pass.
Goal: real-time factor >= 1 for every codec (a trial is preprocessed faster than it plays).
"""

import os
import tempfile
import time

import numpy as np

GOAL_REAL_TIME_FACTOR = 1.0
WIDTH, HEIGHT, SOURCE_FPS = 720, 576, 50
LEAD_IN_SECONDS = 3.0
CODECS = {"dv": "dvsd", "xvid": "XVID", "mjpeg": "MJPG"}


def write_trial_videos(directory, seconds):
    """{codec name: path} of the same drawn video in every codec of CODECS."""
    import cv2

    from emorecog.datasets.synthetic.face import SyntheticFace

    paths, writers = {}, {}
    for name, fourcc in CODECS.items():
        paths[name] = os.path.join(directory, f"s01_trial01-{name}.avi")
        if name == "mjpeg":  # OpenCV's own MJPEG writer, as the synthetic DEAP
            writer = cv2.VideoWriter(
                paths[name], cv2.CAP_OPENCV_MJPEG, cv2.VideoWriter_fourcc(*fourcc), SOURCE_FPS, (WIDTH, HEIGHT)
            )
        else:
            writer = cv2.VideoWriter(paths[name], cv2.VideoWriter_fourcc(*fourcc), SOURCE_FPS, (WIDTH, HEIGHT))
        if not writer.isOpened():
            raise RuntimeError(f"OpenCV cannot write {fourcc} video here")
        writers[name] = writer
    # The synthetic DEAP's own face drawing, moving as a head does.
    person = SyntheticFace.random(np.random.default_rng(0))
    try:
        for number in range(int(round(seconds * SOURCE_FPS))):
            time_s = number / SOURCE_FPS
            centre = (360 + 40 * np.sin(0.5 * time_s), 280 + 15 * np.sin(1.3 * time_s))
            frame = person.draw(HEIGHT, WIDTH, center=centre)
            for writer in writers.values():
                writer.write(frame)
    finally:
        for writer in writers.values():
            writer.release()
    return paths


def run(quick=False):
    from emorecog.preprocessing.face_crops import crop_faces
    from emorecog.preprocessing.face_detector import FaceDetector
    from emorecog.preprocessing.trial_preprocessor import PreprocessConfig, TrialPreprocessor
    from emorecog.preprocessing.video_frames import iter_frames, probe_video, select_frame_indices

    trial_seconds = 4.0 if quick else 60.0
    fps = 8
    results = {}
    with tempfile.TemporaryDirectory() as directory:
        started = time.perf_counter()
        paths = write_trial_videos(directory, LEAD_IN_SECONDS + trial_seconds)
        generate_seconds = time.perf_counter() - started
        started = time.perf_counter()
        detector = FaceDetector()
        detector_start_seconds = time.perf_counter() - started
        preprocessor = TrialPreprocessor(PreprocessConfig(fps=fps, video_fps=SOURCE_FPS))
        preprocessor.process_face(paths["mjpeg"], fps)  # its detector's start-up, outside the timings
        num_frames = int(round(trial_seconds * fps))
        try:
            for name, path in paths.items():
                started = time.perf_counter()
                _, _, report = preprocessor.process_face(path, num_frames)
                process_seconds = time.perf_counter() - started

                started = time.perf_counter()
                probe_video(path)  # one full decoding pass: the old path's counting pass
                decode_pass_seconds = time.perf_counter() - started
                started = time.perf_counter()
                counted = probe_video(path)
                indices = select_frame_indices(counted.num_frames, counted.source_fps, fps, trial_seconds, path=path)
                old = crop_faces(iter_frames(path, indices), detector, face_size=64, margin=1.4, detection_interval=1)
                old_path_seconds = time.perf_counter() - started
                results[name] = {
                    "real_time_factor": round(trial_seconds / process_seconds, 2),
                    "process_seconds": round(process_seconds, 3),
                    "output_frames_per_second": round(num_frames / process_seconds, 1),
                    "old_path_two_decodes_seconds": round(old_path_seconds, 3),
                    "speedup_vs_old_path": round(old_path_seconds / process_seconds, 2),
                    "full_decode_pass_seconds": round(decode_pass_seconds, 3),
                    "detection_rate": round(report["detection_rate"], 4),
                    "old_path_detection_rate": round(old.detection_rate, 4),
                    "frames_detected": report["frames_detected"],
                    "frames_interpolated": report["frames_interpolated"],
                    "full_resolution_crops": report["full_resolution_crops"],
                    "source_frames": report["video_frames"],
                    "file_mb": round(os.path.getsize(path) / 1e6, 1),
                }
        finally:
            detector.close()
            preprocessor.close()

    factors = [result["real_time_factor"] for result in results.values()]
    return {
        "goal": f"real-time factor (trial seconds / processing seconds) >= {GOAL_REAL_TIME_FACTOR:g} for every codec",
        "goal_met": bool(min(factors) >= GOAL_REAL_TIME_FACTOR),
        "codecs": results,
        "output_frames": int(round(trial_seconds * fps)),
        "video": {
            "width": WIDTH,
            "height": HEIGHT,
            "fps": SOURCE_FPS,
            "seconds": LEAD_IN_SECONDS + trial_seconds,
            "fourcc": CODECS,
        },
        "trial_seconds": trial_seconds,
        "detector_start_seconds": round(detector_start_seconds, 3),
        "video_generation_seconds": round(generate_seconds, 2),
        "note": (
            "one decoding pass per trial; MJPEG decodes only the chosen frames (at half size), DV and XVID "
            "every frame at full size; the detector runs on about half the frames; the old path decoded every "
            "frame twice and ran the detector on every output frame"
        ),
    }


if __name__ == "__main__":
    import json

    print(json.dumps(run(quick=True), indent=2))
