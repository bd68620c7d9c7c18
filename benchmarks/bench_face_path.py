"""Face path throughput: decode + select by timestamp + BlazeFace detection + crop + JPEG, on a DEAP-sized
video (720 x 576, 50 fps, XVID AVI) with a drawn face that drifts and nods, generated for the run.

Full run: a 63 s video (3 s lead-in + the 60 s trial) -> 480 crops at 8 fps. Quick run: 3 s + 4 s -> 32 crops.
Reported: output frames per second, source frames decoded per second, the real-time factor (seconds of
trial per second of processing) and, as the reference measured in the same run, a decode-only pass.
Goal: real-time factor >= 1 (a trial is preprocessed faster than it plays).
"""

import os
import tempfile
import time

import numpy as np

GOAL_REAL_TIME_FACTOR = 1.0
WIDTH, HEIGHT, SOURCE_FPS = 720, 576, 50
LEAD_IN_SECONDS = 3.0


def write_trial_video(path, seconds):
    import cv2

    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*"XVID"), SOURCE_FPS, (WIDTH, HEIGHT))
    if not writer.isOpened():
        raise RuntimeError("OpenCV cannot write XVID video here")
    # The synthetic DEAP's own face drawing, moving as a head does.
    from emorecog.datasets.synthetic_face import SyntheticFace

    person = SyntheticFace.random(np.random.default_rng(0))
    for number in range(int(round(seconds * SOURCE_FPS))):
        time_s = number / SOURCE_FPS
        centre = (360 + 40 * np.sin(0.5 * time_s), 280 + 15 * np.sin(1.3 * time_s))
        writer.write(person.draw(HEIGHT, WIDTH, center=centre))
    writer.release()


def run(quick=False):
    from emorecog.preprocessing.face_crops import crop_faces
    from emorecog.preprocessing.face_detector import FaceDetector
    from emorecog.preprocessing.video_frames import iter_frames, probe_video, select_frame_indices

    trial_seconds = 4.0 if quick else 60.0
    fps = 8
    with tempfile.TemporaryDirectory() as directory:
        path = os.path.join(directory, "s01_trial01.avi")
        started = time.perf_counter()
        write_trial_video(path, LEAD_IN_SECONDS + trial_seconds)
        generate_seconds = time.perf_counter() - started

        started = time.perf_counter()
        detector = FaceDetector()
        detector_start_seconds = time.perf_counter() - started
        try:
            started = time.perf_counter()
            info = probe_video(path)
            indices = select_frame_indices(info.num_frames, info.source_fps, fps, trial_seconds, path=path)
            crops = crop_faces(iter_frames(path, indices), detector, face_size=64, margin=1.4)
            process_seconds = time.perf_counter() - started
        finally:
            detector.close()

        started = time.perf_counter()
        probe_video(path)
        decode_only_seconds = time.perf_counter() - started

    real_time_factor = trial_seconds / process_seconds
    return {
        "goal": f"real-time factor (trial seconds / processing seconds) >= {GOAL_REAL_TIME_FACTOR:g}",
        "goal_met": bool(real_time_factor >= GOAL_REAL_TIME_FACTOR),
        "real_time_factor": round(real_time_factor, 2),
        "output_frames_per_second": round(crops.num_frames / process_seconds, 1),
        "source_frames_decoded_per_second": round(2 * info.num_frames / process_seconds, 1),
        "decode_only_pass_seconds": round(decode_only_seconds, 3),
        "process_seconds": round(process_seconds, 3),
        "process_over_decode_only": round(process_seconds / decode_only_seconds, 2),
        "detection_rate": round(crops.detection_rate, 4),
        "output_frames": crops.num_frames,
        "video": {"width": WIDTH, "height": HEIGHT, "fps": SOURCE_FPS, "frames": info.num_frames,
                  "codec": "XVID", "seconds": LEAD_IN_SECONDS + trial_seconds},
        "trial_seconds": trial_seconds,
        "detector_start_seconds": round(detector_start_seconds, 3),
        "video_generation_seconds": round(generate_seconds, 2),
        "note": "every source frame is decoded twice: once to count frames, once to select them",
    }


if __name__ == "__main__":
    import json

    print(json.dumps(run(quick=True), indent=2))
