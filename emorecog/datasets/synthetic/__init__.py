"""Synthetic datasets with a known, planted, label-dependent event, written in real datasets' on-disk layouts.

deap.py        `write_synthetic_deap`, `SynthConfig`: a directory in DEAP's exact layout (Python 2 pickles,
               MJPEG face videos, participant_ratings.csv, ground_truth.json)
mahnob.py      `write_synthetic_mahnob`, `MahnobLayout`: MAHNOB-HCI sessions (session.xml, BDF by edfio,
               colour face video) with the same planted event
physiology.py  `SyntheticPhysiology`: one subject's 40 DEAP channels at 128 Hz, the event in the EEG
face.py        `SyntheticFace`: a drawn face that MediaPipe detects, the event in its expression
"""
