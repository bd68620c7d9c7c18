"""emorecog.models: the model configuration, the builder and the model classes.

model_config.ModelConfig (frozen hyper-parameters, ablations), builder.build_model (config -> built,
compiled Keras model), emotion_model.EmotionModel (the base: inputs, classifier, loss, Keras steps),
recurrent_emotion_model.RecurrentEmotionModel (the recurrent step both recurrent models share),
emo_recog_model.EmoRecogModel (skim, searching temporal attention, stop), full_sequence_model.FullSequenceModel
(the "without temporal attention" baseline), skim_only_model.SkimOnlyModel (the classifier on the skim alone),
reinforce (rewards and policy-gradient losses). Import the modules directly; `model_config` does not import
TensorFlow.
"""
