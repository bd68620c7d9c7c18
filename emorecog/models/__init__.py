"""emorecog.models: the model configuration, the builder and the two model classes.

model_config.ModelConfig (frozen hyper-parameters, ablations), builder.build_model (config -> built,
compiled Keras model), emo_recog_model.EmoRecogModel (temporal attention), full_sequence_model.FullSequenceModel
(the "without temporal attention" baseline), recurrent_emotion_model (what both share), reinforce (reward
and policy-gradient losses), planted_window_task.PlantedWindowTask (a planted-signal task for learning
checks). Import the modules directly; `model_config` does not import TensorFlow.
"""
